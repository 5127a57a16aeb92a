import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAnalyticsSpec } from '../../src/analytics/counter-spec.js';
import { FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import { readProfiles } from '../../src/analytics/profile-file.js';
import { ConfigError } from '../../src/core/config.js';
import { profileHash } from '../../src/core/live-profile.js';
import { silentLogger } from '../../src/core/log.js';
import type { ResultMessage } from '../../src/core/messages.js';
import type { CameraProfile, PeopleCounter } from '../../src/core/people-counter.js';
import { type InferenceInstance, startInferenceInstance } from '../../src/inference/inference-service.js';
import { startEngage } from '../engage/fixtures.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/net.js';
import { startFixture, storeAndPublish, testConfig, waitForAllOutcomes } from './harness.js';

test('--profiles: a validated map of device ID to camera profile', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-profiles-'));
  const good = join(dir, 'good.json');
  await writeFile(good, JSON.stringify({ 'cam-1': { scoreThreshold: 0.4, correction: { scale: 1.1, offset: 0 } } }));
  assert.deepEqual(readProfiles(good), { 'cam-1': { scoreThreshold: 0.4, correction: { scale: 1.1, offset: 0 } } });
  assert.deepEqual(readProfiles(undefined), {});
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ 'cam/#': {}, 'cam-2': { scoreThreshold: 7 } }));
  assert.throws(
    () => readProfiles(bad),
    (error: unknown) => error instanceof ConfigError && /cam-2/.test(error.message),
  );
  assert.throws(() => readProfiles(join(dir, 'missing.json')), ConfigError);
});

test('--analytics: local, an http(s) URL, or the labelled fixed-delay stand-in', () => {
  assert.deepEqual(parseAnalyticsSpec('local'), { kind: 'local' });
  assert.deepEqual(parseAnalyticsSpec('fixed-delay:50'), { kind: 'fixed-delay', delayMs: 50 });
  assert.deepEqual(parseAnalyticsSpec('https://analytics:8082'), { kind: 'http', url: 'https://analytics:8082/' });
  assert.throws(() => parseAnalyticsSpec('tensorflow'), ConfigError);
});

test('each device is counted with its own profile, the others with the defaults', async () => {
  const broker = await startEmbeddedBroker();
  const fixture = await startFixture(broker.url);
  const strict: CameraProfile = { scoreThreshold: 0.9 };
  const seen: Array<CameraProfile | undefined> = [];
  const stub = new FixedDelayCounter(0);
  const counter: PeopleCounter = {
    model: stub.model,
    count: (jpeg, profile) => {
      seen.push(profile);
      return stub.count(jpeg);
    },
    close: () => stub.close(),
  };
  const instance = await startInferenceInstance(
    testConfig(fixture.mqtt, 'profiled', { profiles: { 'cam-0': strict } }),
    { counter, store: fixture.store, logger: silentLogger() },
  );
  try {
    await instance.subscribed;
    await storeAndPublish(fixture, 4, 2);
    await waitForAllOutcomes(fixture);
    assert.ok(seen.includes(strict), 'cam-0 counted with its profile');
    assert.ok(seen.includes(undefined), 'cam-1 counted with the defaults');
    assert.ok(seen.every((profile) => profile === strict || profile === undefined));
  } finally {
    await instance.stop();
    await fixture.stop();
    await broker.stop();
  }
});

test('a profile published once by engage reaches every instance, one started later too; results carry its hash', async () => {
  const broker = await startEmbeddedBroker();
  const fixture = await startFixture(broker.url);
  const engage = await startEngage(broker, { token: 'profiles-test-token' });
  const seed: CameraProfile = { scoreThreshold: 0.6 };
  const instances: InferenceInstance[] = [];
  try {
    for (const id of ['early-1', 'early-2'])
      instances.push(
        await startInferenceInstance(testConfig(fixture.mqtt, id, { profiles: { 'cam-0': seed } }), {
          counter: new FixedDelayCounter(0),
          store: fixture.store,
          logger: silentLogger(),
        }),
      );
    // Before any live profile: the --profiles seed, by its own hash.
    for (const instance of instances) assert.equal(instance.profileFor('cam-0')?.version, profileHash(seed));

    const live: CameraProfile = { scoreThreshold: 0.2, correction: { scale: 2, offset: 1 } };
    const put = await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-0/profile',
      headers: { authorization: 'Bearer profiles-test-token' },
      payload: live,
    });
    assert.equal(put.statusCode, 200, put.body);
    const hash = put.json().hash as string;
    assert.equal(hash, profileHash(live));
    await waitFor(() => instances.every((instance) => instance.profileFor('cam-0')?.version === hash), {
      message: 'every running instance to have the live profile',
    });

    const late = await startInferenceInstance(testConfig(fixture.mqtt, 'late'), {
      counter: new FixedDelayCounter(0),
      store: fixture.store,
      logger: silentLogger(),
    });
    instances.push(late);
    await waitFor(() => late.profileFor('cam-0')?.version === hash, {
      message: 'the instance started later to get the retained profile',
    });
    assert.deepEqual(late.profileFor('cam-0')?.profile, live);

    await Promise.all(instances.map((instance) => instance.subscribed));
    await storeAndPublish(fixture, 9, 1);
    await waitForAllOutcomes(fixture);
    const results = fixture.recorder.on(fixture.topics.results).map((m) => m.json<ResultMessage>());
    assert.ok(results.length > 0);
    assert.ok(
      results.every((r) => r.profile === hash),
      'every result names the live profile',
    );

    // An empty retained message removes it: back to the seed where there is one, else the defaults.
    const removed = await engage.http.inject({
      method: 'DELETE',
      url: '/api/devices/cam-0/profile',
      headers: { authorization: 'Bearer profiles-test-token' },
    });
    assert.equal(removed.statusCode, 204);
    await waitFor(
      () =>
        instances.every(
          (instance) => instance.profileFor('cam-0')?.version === (instance === late ? undefined : profileHash(seed)),
        ),
      { message: 'every instance back on its seed or the defaults' },
    );
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    await engage.stop();
    await fixture.stop();
    await broker.stop();
  }
});

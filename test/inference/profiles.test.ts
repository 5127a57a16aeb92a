import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import type { CameraProfile, PeopleCounter } from '../../src/analytics/people-counter.js';
import { readProfiles } from '../../src/cli/commands/inference.js';
import { ConfigError } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/log.js';
import { parseAnalyticsSpec } from '../../src/inference/counter-spec.js';
import { startInferenceInstance } from '../../src/inference/inference-service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
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

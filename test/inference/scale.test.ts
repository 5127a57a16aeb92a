import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import {
  type InferenceConfig,
  type InferenceInstance,
  startInferenceInstance,
} from '../../src/inference/inference-service.js';
import { missingBinary } from '../helpers/binaries.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import {
  checkInvariants,
  type Fixture,
  outcomes,
  publishInvalid,
  startFixture,
  storeAndPublish,
  testConfig,
  waitForAllOutcomes,
} from './harness.js';

describe('inference instances on the embedded broker', () => {
  let broker: RunningBroker;
  before(async () => {
    broker = await startEmbeddedBroker();
  });
  after(async () => {
    await broker.stop();
  });

  async function run(
    instanceCount: number,
    extra?: (fixture: Fixture) => Promise<void>,
    overrides: Partial<InferenceConfig> = {},
    brokerUrl = broker.url,
  ) {
    const fixture = await startFixture(brokerUrl);
    const counter = new FixedDelayCounter(5);
    const instances: InferenceInstance[] = [];
    try {
      for (let i = 0; i < instanceCount; i++) {
        instances.push(
          await startInferenceInstance(testConfig(fixture.mqtt, `scale${instanceCount}-${i}`, overrides), {
            counter,
            store: fixture.store,
            logger: silentLogger(),
          }),
        );
      }
      for (const instance of instances) await instance.subscribed;
      await Promise.all([storeAndPublish(fixture, 60, 12), extra?.(fixture)]);
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      assert.ok(
        instances.every((instance) => instance.connected()),
        'every instance still connected',
      );
      return { fixture, counted: outcomes(fixture).results };
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await fixture.stop();
    }
  }

  test('one instance: every photo gets exactly one outcome; legacy results are published and ignored', async () => {
    const { counted, fixture } = await run(1, undefined, { legacyResults: true });
    assert.ok(counted.length > 0);
    assert.ok(counted.every((r) => r.model.includes('stand-in') && !r.reprocessed));
    const legacy = fixture.recorder
      .on(fixture.topics.metadata)
      .map((m) => m.json<{ type: string; filePath: string; analysisMetadata?: { results: { count: number } } }>())
      .filter((m) => m.type === 'result');
    assert.deepEqual(
      legacy.map((m) => [m.filePath, m.analysisMetadata?.results.count]).sort(),
      counted.map((r) => [r.filePath, r.count]).sort(),
    );
    assert.equal(outcomes(fixture).deadLetters.length, 0, 'our own legacy results are not dead-lettered');
  });

  test('two instances share the work without a duplicate', async () => {
    const { counted } = await run(2);
    assert.ok(counted.length >= 12);
  });

  test('four instances, with duplicate deliveries and malformed and hostile messages mixed in', async () => {
    const path = 'people-counter-images/image00000000-0000-4000-8000-000000000001.jpg';
    const { counted, fixture: done } = await run(4, async (fixture) => {
      const meta = (filePath: string, extra: object = {}) =>
        JSON.stringify({ type: 'data', deviceID: 'cam-x', filePath, creationTimestamp: 1_700_000_000, ...extra });
      await publishInvalid(fixture, '{"type":"data",', 'invalid-json');
      await publishInvalid(
        fixture,
        JSON.stringify({ type: 'data', deviceID: 'cam/#', filePath: path }),
        'invalid-schema',
      );
      await publishInvalid(fixture, meta('other-bucket/image00000000-0000-4000-8000-000000000002.jpg'), 'wrong-bucket');
      await publishInvalid(fixture, meta('people-counter-images/../../etc/passwd'), 'path-traversal');
      await publishInvalid(fixture, meta(path, { creationTimestamp: 1_700_000_000_000 }), 'invalid-schema');
      await publishInvalid(fixture, 'x'.repeat(100_000), 'invalid-json');
      // A well-formed announcement of a photo that was never stored.
      await publishInvalid(fixture, meta(path), 'object-missing');
      fixture.invalid.pop();
      fixture.published.push({ filePath: path, deviceID: 'cam-x', creationTimestamp: 1_700_000_000 });
      // Legacy results on the metadata topic are ignored, not dead-lettered.
      const legacy = {
        type: 'result',
        deviceID: 'd',
        filePath: path,
        creationTimestamp: 1,
        analysisMetadata: { results: { count: 1 } },
      };
      await fixture.publishers[1]?.publishAsync(fixture.topics.metadata, JSON.stringify(legacy), { qos: 1 });
      // Coordination garbage is ignored by every instance.
      await fixture.publishers[2]?.publishAsync(fixture.topics.coordination, '{"type":"claim"}', { qos: 1 });
      // Duplicate delivery of announcements already published.
      for (const photo of fixture.published.slice(0, 10)) {
        await fixture.publishers[0]?.publishAsync(fixture.topics.metadata, JSON.stringify({ type: 'data', ...photo }), {
          qos: 1,
        });
      }
    });
    assert.ok(counted.length >= 12);
    assert.ok(new Set(counted.map((r) => r.instanceId)).size >= 2, 'work spread over several instances');
    const missing = outcomes(done).deadLetters.filter((d) => d.filePath === path && d.payload === undefined);
    assert.deepEqual(
      missing.map((d) => d.reason),
      ['object-missing'],
    );
  });

  test('four instances on Mosquitto', { skip: missingBinary('mosquitto') }, async () => {
    const mosquitto = await startMosquitto();
    try {
      const { counted } = await run(4, undefined, {}, mosquitto.url);
      assert.ok(counted.length >= 12);
    } finally {
      await mosquitto.stop();
    }
  });
});

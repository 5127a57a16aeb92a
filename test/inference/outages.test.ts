import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deterministicCount, FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import { silentLogger } from '../../src/core/log.js';
import { type CountResult, type PeopleCounter, UnusableImageError } from '../../src/core/people-counter.js';
import { S3ObjectStore } from '../../src/core/storage/index.js';
import { type InferenceInstance, startInferenceInstance } from '../../src/inference/inference-service.js';
import { missingBinary } from '../helpers/binaries.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/net.js';
import { startS3 } from '../helpers/s3rver.js';
import {
  checkInvariants,
  outcomes,
  startFixture,
  storeAndPublish,
  storePhoto,
  testConfig,
  waitForAllOutcomes,
} from './harness.js';

/** A counter that is down for its first `outageCalls` calls and finds some photos unusable. */
class FlakyCounter implements PeopleCounter {
  readonly model = 'flaky (test stand-in, not a model)';
  calls = 0;
  constructor(
    private outageCalls: number,
    private readonly unusable: (jpeg: Buffer) => boolean,
  ) {}
  async count(jpeg: Buffer): Promise<CountResult> {
    this.calls += 1;
    if (this.unusable(jpeg)) throw new UnusableImageError('cannot decode this test photo');
    if (this.outageCalls > 0) {
      this.outageCalls -= 1;
      throw new Error('analytics service unavailable (test outage)');
    }
    return { count: deterministicCount(jpeg), detections: [], model: this.model, ms: 0 };
  }
  async close(): Promise<void> {}
}

describe('inference through outages', () => {
  test('the broker restarted mid-stream (Mosquitto, sessions lost)', { skip: missingBinary('mosquitto') }, async () => {
    const mosquitto = await startMosquitto();
    const fixture = await startFixture(mosquitto.url);
    const deps = { counter: new FixedDelayCounter(10), store: fixture.store, logger: silentLogger() };
    // The sweeper recovers announcements the restart swallowed.
    const sweep = { intervalMs: 500, minAgeMs: 1_500 };
    const instances: InferenceInstance[] = [];
    try {
      for (const id of ['m1', 'm2']) {
        instances.push(await startInferenceInstance(testConfig(fixture.mqtt, id, { leaseMs: 1_000, sweep }), deps));
      }
      for (const instance of instances) await instance.subscribed;
      await storeAndPublish(fixture, 40, 8);
      await mosquitto.restart();
      await waitFor(() => fixture.recorder.client.connected && fixture.publishers.every((p) => p.connected), {
        timeoutMs: 10_000,
      });
      // The recorder is subscribed again once it records anything new (heartbeats come every second).
      const seen = fixture.recorder.messages.length;
      await waitFor(
        () => fixture.recorder.on(fixture.topics.coordination).length > 0 && fixture.recorder.messages.length > seen,
        {
          timeoutMs: 10_000,
          message: 'the recorder to receive again',
        },
      );
      await storeAndPublish(fixture, 40, 8, 'after');
      await waitForAllOutcomes(fixture, 60_000);
      assert.deepEqual(await checkInvariants(fixture), []);
      assert.ok(instances.every((instance) => instance.connected()));
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await fixture.stop();
      await mosquitto.stop();
    }
  });

  test('S3 storage stopped and restarted on the same port: retried, nothing lost', async () => {
    const broker = await startEmbeddedBroker();
    const s3 = await startS3();
    const store = new S3ObjectStore(s3.config);
    const fixture = await startFixture(broker.url, { store });
    const retry = { attempts: 10, baseMs: 100, maxMs: 1_000 };
    const deps = { counter: new FixedDelayCounter(5), store, logger: silentLogger() };
    const instances = await Promise.all(
      ['s1', 's2'].map((id) => startInferenceInstance(testConfig(fixture.mqtt, id, { retry }), deps)),
    );
    try {
      for (const instance of instances) await instance.subscribed;
      // Photos are stored, then storage goes away before their announcements are processed.
      const photos = await Promise.all(Array.from({ length: 20 }, (_, i) => storePhoto(fixture, `cam-${i % 6}`)));
      await s3.pause();
      for (const photo of photos) {
        await fixture.publishers[0]?.publishAsync(fixture.topics.metadata, JSON.stringify(photo), { qos: 1 });
        fixture.published.push(photo);
      }
      // Both instances have tried to read and are retrying: nothing may be counted meanwhile.
      await waitFor(
        async () =>
          (await Promise.all(instances.map((i) => i.metrics.metrics()))).every((text) =>
            /retries_total\{[^}]*operation="storage-get"[^}]*\} [1-9]/.test(text),
          ),
        { timeoutMs: 15_000, message: 'storage reads retried by both instances' },
      );
      assert.equal(outcomes(fixture).results.length, 0, 'nothing counted while storage is down');
      await s3.resume();
      await waitForAllOutcomes(fixture, 30_000);
      assert.deepEqual(await checkInvariants(fixture), []);
      assert.equal(outcomes(fixture).deadLetters.length, 0, 'no photo failed');
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await fixture.stop();
      await store.close();
      await s3.stop();
      await broker.stop();
    }
  });

  test('analytics down for a while is retried; an unusable photo fails at once', async () => {
    const broker = await startEmbeddedBroker();
    const fixture = await startFixture(broker.url, { publishers: 1 });
    const unusable = (jpeg: Buffer) => jpeg.toString('latin1').includes('#bad');
    const counter = new FlakyCounter(4, unusable);
    const instance = await startInferenceInstance(
      testConfig(fixture.mqtt, 'flaky', { retry: { attempts: 6, baseMs: 50, maxMs: 200 } }),
      { counter, store: fixture.store, logger: silentLogger() },
    );
    try {
      await instance.subscribed;
      await storeAndPublish(fixture, 12, 12);
      // One photo the model cannot use: it gets a failed outcome without retries.
      const bad = await storePhoto(fixture, 'cam-bad');
      const [bucket, key] = bad.filePath.split('/') as [string, string];
      const stored = await fixture.store.get(bucket, key);
      await fixture.store.put(bucket, key, Buffer.concat([stored.body, Buffer.from('#bad')]), stored.metadata);
      await fixture.publishers[0]?.publishAsync(fixture.topics.metadata, JSON.stringify(bad), { qos: 1 });
      fixture.published.push(bad);
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      const failed = outcomes(fixture).deadLetters;
      assert.deepEqual(
        failed.map((d) => [d.filePath, d.reason]),
        [[bad.filePath, 'undecodable-image']],
      );
      assert.equal(outcomes(fixture).results.length, 12, 'the outage was retried through');
      const metrics = await instance.metrics.getSingleMetricAsString('people_counter_inference_retries_total');
      assert.match(metrics, /operation="analytics"[^}]*} 4$/m);
    } finally {
      await instance.stop();
      await fixture.stop();
      await broker.stop();
    }
  });

  test('an analytics outage longer than the retries: failed with analytics-error, photo deleted', async () => {
    const broker = await startEmbeddedBroker();
    const fixture = await startFixture(broker.url, { publishers: 1 });
    const instance = await startInferenceInstance(
      testConfig(fixture.mqtt, 'down', { retry: { attempts: 3, baseMs: 20, maxMs: 50 } }),
      { counter: new FlakyCounter(1_000, () => false), store: fixture.store, logger: silentLogger() },
    );
    try {
      await instance.subscribed;
      await storeAndPublish(fixture, 3, 3);
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      assert.deepEqual(
        outcomes(fixture).deadLetters.map((d) => d.reason),
        ['analytics-error', 'analytics-error', 'analytics-error'],
      );
    } finally {
      await instance.stop();
      await fixture.stop();
      await broker.stop();
    }
  });

  test('the orphan sweeper announces a stored photo nobody announced, and fails one it cannot rebuild', async () => {
    const broker = await startEmbeddedBroker();
    const fixture = await startFixture(broker.url, { publishers: 1 });
    const instances = await Promise.all(
      ['w1', 'w2'].map((id) =>
        startInferenceInstance(
          testConfig(fixture.mqtt, id, { leaseMs: 300, sweep: { intervalMs: 3_600_000, minAgeMs: 0 } }),
          { counter: new FixedDelayCounter(5), store: fixture.store, logger: silentLogger() },
        ),
      ),
    );
    try {
      for (const instance of instances) await instance.subscribed;
      const unannounced = await storePhoto(fixture, 'cam-lost');
      const anonymous = await storePhoto(fixture, 'cam-anon', false);
      fixture.published.push(unannounced, anonymous);
      // Both sweepers find both photos (duplicates are harmless), once each has watched the stream for a lease.
      await waitFor(async () => (await Promise.all(instances.map((instance) => instance.sweepNow()))).every(Boolean), {
        timeoutMs: 10_000,
        message: 'both sweepers to sweep',
      });
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      const all = outcomes(fixture);
      assert.deepEqual(
        all.results.map((r) => r.filePath),
        [unannounced.filePath],
      );
      assert.deepEqual(
        all.deadLetters.map((d) => [d.filePath, d.reason]),
        [[anonymous.filePath, 'orphaned-photo']],
      );
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await fixture.stop();
      await broker.stop();
    }
  });
});

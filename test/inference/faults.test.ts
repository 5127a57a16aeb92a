import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import type { ClaimMessage } from '../../src/inference/coordination-messages.js';
import { type InferenceInstance, startInferenceInstance } from '../../src/inference/inference-service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { freePort, waitFor } from '../helpers/net.js';
import { describeOutputs, type ServiceProcess, spawnProcess } from '../helpers/processes.js';
import {
  checkInvariants,
  type Fixture,
  outcomes,
  startFixture,
  storeAndPublish,
  TEST_MESSAGE_SECRET,
  testConfig,
  waitForAllOutcomes,
} from './harness.js';

/** An inference instance as its own OS process, so that it can really be killed. */
function spawnInstance(
  fixture: Fixture,
  instanceId: string,
  analyzerMs: number,
  extra: string[] = [],
  env: Record<string, string> = {},
): ServiceProcess {
  return spawnProcess(
    instanceId,
    [
      'inference',
      '--mqtt-url',
      fixture.mqtt.url,
      '--storage',
      fixture.dir,
      '--analytics',
      `fixed-delay:${analyzerMs}`,
      '--instance-id',
      instanceId,
      '--batch-size',
      '5',
      '--max-wait',
      '50ms',
      '--heartbeat',
      '200ms',
      '--lease',
      '1s',
      '--metrics-port',
      '0',
      '--sweep-interval',
      '0',
      '--log-level',
      'error',
      ...extra,
    ],
    { [MESSAGE_SECRET_ENV]: TEST_MESSAGE_SECRET, ...env },
  );
}

function coordination(fixture: Fixture) {
  return fixture.recorder.on(fixture.topics.coordination).map((m) => m.json<{ type: string; instanceId?: string }>());
}

async function waitForHeartbeat(fixture: Fixture, instanceId: string): Promise<void> {
  const seen = () => coordination(fixture).filter((m) => m.type === 'heartbeat' && m.instanceId === instanceId).length;
  const before = seen();
  await waitFor(() => seen() > before, { timeoutMs: 15_000, message: `a heartbeat from ${instanceId}` });
}

describe('inference under faults (embedded broker)', () => {
  let broker: RunningBroker;
  before(async () => {
    broker = await startEmbeddedBroker();
  });
  after(async () => {
    await broker.stop();
  });

  const availability = (fixture: Fixture, instanceId: string) =>
    fixture.recorder.on(fixture.topics.availability('inference', instanceId)).at(-1)?.payload.toString('utf8');

  test('an instance killed while holding a claim: its photos go to another instance; it restarts cleanly', async () => {
    const fixture = await startFixture(broker.url, { publishers: 1 });
    let victim = spawnInstance(fixture, 'victim', 3_000);
    let survivor: InferenceInstance | undefined;
    try {
      await waitForHeartbeat(fixture, 'victim');
      // The survivor waits long before claiming a partial batch, so the victim claims first.
      survivor = await startInferenceInstance(
        testConfig(fixture.mqtt, 'survivor', { batchSize: 100, maxWaitMs: 1_500, leaseMs: 1_000 }),
        { counter: new FixedDelayCounter(5), store: fixture.store, logger: silentLogger() },
      );
      await survivor.subscribed;
      await storeAndPublish(fixture, 10, 3);
      const victimClaim = () =>
        coordination(fixture).find((m) => m.type === 'claim' && m.instanceId === 'victim') as ClaimMessage | undefined;
      await waitFor(victimClaim, { timeoutMs: 10_000, message: 'a claim by the victim' });
      await victim.stop('SIGKILL');
      await waitForAllOutcomes(fixture);
      const all = outcomes(fixture);
      assert.equal(all.results.filter((r) => r.instanceId === 'victim').length, 0, 'the victim published nothing');
      const claimed = new Set(victimClaim()?.filePaths);
      const released = [...all.results, ...all.superseded].filter((m) => claimed.has(m.filePath));
      assert.equal(released.length, claimed.size, 'every photo the victim held got an outcome');
      assert.ok(
        released.every((m) => m.reprocessed === true),
        'and is flagged reprocessed',
      );
      assert.ok(
        coordination(fixture).some((m) => m.type === 'offline' && m.instanceId === 'victim'),
        'the will arrived',
      );
      await waitFor(() => availability(fixture, 'victim') === 'offline', {
        timeoutMs: 10_000,
        message: 'the retained availability of the killed instance to turn offline',
      });

      // The same instance restarts (persistent session: it receives what was queued for it).
      const metricsPort = await freePort();
      victim = spawnInstance(fixture, 'victim', 5, [
        '--metrics-port',
        String(metricsPort),
        '--metrics-host',
        '127.0.0.1',
      ]);
      await waitForHeartbeat(fixture, 'victim');
      await waitFor(() => availability(fixture, 'victim') === 'online', { message: 'online again after the restart' });
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      assert.equal(health.status, 200);
      await storeAndPublish(fixture, 10, 3);
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.match(metrics, /people_counter_inference_coordination_latency_seconds_count\{[^}]*\} [1-9]/);
      assert.match(metrics, /people_counter_inference_outcomes_total\{outcome="counted"/);
      const stopped = await victim.stop('SIGTERM');
      assert.equal(stopped.code, 0, `graceful stop on SIGTERM\n${describeOutputs([victim])}`);
    } finally {
      await victim.stop('SIGKILL');
      await survivor?.stop();
      await fixture.stop();
    }
  });

  test('an owner frozen past its lease: another instance expires the claim and re-processes, flagged', async () => {
    const fixture = await startFixture(broker.url, { publishers: 1 });
    const frozen = spawnInstance(fixture, 'frozen', 1_000);
    let other: InferenceInstance | undefined;
    try {
      await waitForHeartbeat(fixture, 'frozen');
      other = await startInferenceInstance(
        testConfig(fixture.mqtt, 'other', { batchSize: 100, maxWaitMs: 1_500, leaseMs: 1_000 }),
        { counter: new FixedDelayCounter(5), store: fixture.store, logger: silentLogger() },
      );
      await other.subscribed;
      await storeAndPublish(fixture, 5, 5);
      await waitFor(() => coordination(fixture).some((m) => m.type === 'claim' && m.instanceId === 'frozen'), {
        timeoutMs: 10_000,
        message: 'a claim by the frozen instance',
      });
      frozen.child.kill('SIGSTOP');
      await waitFor(() => coordination(fixture).some((m) => m.type === 'expire'), {
        timeoutMs: 10_000,
        message: 'an expire',
      });
      await waitForAllOutcomes(fixture);
      frozen.child.kill('SIGCONT');
      // Give the thawed owner the chance to misbehave (it runs again: two heartbeats), then check.
      const beats = () =>
        coordination(fixture).filter((m) => m.type === 'heartbeat' && m.instanceId === 'frozen').length;
      const thawedAt = beats();
      await waitFor(() => beats() >= thawedAt + 2, { timeoutMs: 15_000, message: 'the thawed owner to run again' });
      assert.deepEqual(await checkInvariants(fixture), []);
      const all = outcomes(fixture);
      assert.ok(all.results.some((r) => r.instanceId === 'other' && r.reprocessed));
      assert.ok(
        all.results.filter((r) => r.instanceId === 'frozen').length <= 1,
        'the thawed owner stops after at most the photo it was counting',
      );
    } finally {
      frozen.child.kill('SIGCONT');
      await frozen.stop('SIGKILL');
      await other?.stop();
      await fixture.stop();
    }
  });

  test('an instance joining mid-stream and one restarting mid-stream lose and duplicate nothing', async () => {
    const fixture = await startFixture(broker.url);
    const counter = new FixedDelayCounter(10);
    const deps = { counter, store: fixture.store, logger: silentLogger() };
    const first = await startInferenceInstance(testConfig(fixture.mqtt, 'first'), deps);
    let restarting = await startInferenceInstance(testConfig(fixture.mqtt, 'restarting'), deps);
    let joiner: InferenceInstance | undefined;
    try {
      await first.subscribed;
      await restarting.subscribed;
      const publishing = storeAndPublish(fixture, 90, 15);
      await waitFor(() => fixture.published.length >= 30, { timeoutMs: 10_000 });
      joiner = await startInferenceInstance(testConfig(fixture.mqtt, 'joiner'), deps);
      await waitFor(() => fixture.published.length >= 50, { timeoutMs: 10_000 });
      await restarting.stop();
      restarting = await startInferenceInstance(testConfig(fixture.mqtt, 'restarting'), deps);
      await publishing;
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      assert.ok(
        outcomes(fixture).results.some((r) => r.instanceId === 'joiner'),
        'the joiner took part',
      );
    } finally {
      await Promise.all([first.stop(), restarting.stop(), joiner?.stop()]);
      await fixture.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { startInferenceInstance } from '../../src/inference/inference-service.js';
import { RedisClaimArbiter } from '../../src/inference/redis-arbiter.js';
import { missingBinary } from '../helpers/binaries.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { freePort, waitFor } from '../helpers/net.js';
import { checkInvariants, outcomes, startFixture, storeAndPublish, testConfig, waitForAllOutcomes } from './harness.js';

const skip = missingBinary('redis-server');

describe('Redis claim arbiter', { skip }, () => {
  let redis: ChildProcess;
  let url: string;
  // Kept for failure messages: why redis-server did not start or went away.
  let redisOutput = '';
  before(async () => {
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      redisOutput = (redisOutput + chunk.toString('utf8')).slice(-20_000);
    };
    redis.stdout?.on('data', keep);
    redis.stderr?.on('data', keep);
    url = `redis://127.0.0.1:${port}`;
    const probe = new RedisClaimArbiter({ url });
    try {
      await waitFor(
        () => {
          if (redis.exitCode !== null) throw new Error(`redis-server exited with ${redis.exitCode}`);
          return probe
            .claim('probe', ['probe-item'], 1)
            .then(() => true)
            .catch(() => false);
        },
        { timeoutMs: 10_000, message: 'redis-server' },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; redis-server wrote:\n${redisOutput}`);
    } finally {
      await probe.close();
    }
  });
  after(async () => {
    if (redis.exitCode !== null || redis.signalCode !== null) return;
    const exited = new Promise((resolve) => redis.once('exit', resolve));
    redis.kill('SIGTERM');
    await exited;
  });

  test('overlapping claims win disjoint items; finished items are never won again', async () => {
    const arbiter = new RedisClaimArbiter({ url, prefix: 'unit1:' });
    try {
      const [a, b] = await Promise.all([
        arbiter.claim('a', ['p1', 'p2', 'p3'], 10_000),
        arbiter.claim('b', ['p2', 'p3', 'p4'], 10_000),
      ]);
      assert.deepEqual([...a.won, ...b.won].sort(), ['p1', 'p2', 'p3', 'p4']);
      await arbiter.finish('a', a.won);
      await arbiter.release('b', b.won);
      const c = await arbiter.claim('c', ['p1', 'p2', 'p3', 'p4'], 10_000);
      assert.deepEqual(c.won.sort(), b.won.sort(), 'released items are free again, finished ones are not');
      assert.deepEqual(c.reprocessed, [], 'a release is not a lost lease');
    } finally {
      await arbiter.close();
    }
  });

  test('an expired lease hands the item on, flagged reprocessed; the old owner cannot renew', async () => {
    const arbiter = new RedisClaimArbiter({ url, prefix: 'unit2:' });
    try {
      assert.deepEqual((await arbiter.claim('old', ['p1'], 50)).won, ['p1']);
      // Redis expires the lease on its own clock: claim until it has (a lost claim changes nothing).
      const taken = await waitFor(
        async () => {
          const claim = await arbiter.claim('new', ['p1'], 10_000);
          return claim.won.length > 0 ? claim : undefined;
        },
        { message: 'the 50 ms lease to expire in Redis' },
      );
      assert.deepEqual(taken, { won: ['p1'], reprocessed: ['p1'] });
      assert.equal(await arbiter.renew('old', ['p1'], 10_000), false);
      assert.equal(await arbiter.renew('new', ['p1'], 10_000), true);
    } finally {
      await arbiter.close();
    }
  });

  test('three instances deciding claims through Redis: invariants hold', async () => {
    const broker: RunningBroker = await startEmbeddedBroker();
    const fixture = await startFixture(broker.url);
    const counter = new FixedDelayCounter(5);
    const arbiters = [0, 1, 2].map(() => new RedisClaimArbiter({ url, prefix: 'int:' }));
    const instances = await Promise.all(
      arbiters.map((arbiter, i) =>
        startInferenceInstance(testConfig(fixture.mqtt, `redis-${i}`), {
          counter,
          store: fixture.store,
          logger: silentLogger(),
          arbiter,
        }),
      ),
    );
    try {
      for (const instance of instances) await instance.subscribed;
      await storeAndPublish(fixture, 60, 12);
      await waitForAllOutcomes(fixture);
      assert.deepEqual(await checkInvariants(fixture), []);
      assert.ok(new Set(outcomes(fixture).results.map((r) => r.instanceId)).size >= 2);
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await Promise.all(arbiters.map((arbiter) => arbiter.close()));
      await fixture.stop();
      await broker.stop();
    }
  });
});

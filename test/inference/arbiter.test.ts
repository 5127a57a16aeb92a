import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { DEFAULT_RETRY } from '../../src/core/retry.js';
import { ArbiterClaimer } from '../../src/inference/claimer.js';
import { startInferenceInstance } from '../../src/inference/inference-service.js';
import { type ClaimArbiter, RedisClaimArbiter } from '../../src/inference/redis-arbiter.js';
import { missingBinary } from '../helpers/binaries.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/net.js';
import { type RunningRedis, startRedis } from '../helpers/redis.js';
import { checkInvariants, outcomes, startFixture, storeAndPublish, testConfig, waitForAllOutcomes } from './harness.js';

const skip = missingBinary('redis-server');

describe('Redis claim arbiter', { skip }, () => {
  let redis: RunningRedis;
  let url: string;
  before(async () => {
    redis = await startRedis();
    url = redis.url;
  });
  after(() => redis?.stop());

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
      assert.deepEqual(c.finished.sort(), a.won.sort(), 'finished items are reported as such');
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
      assert.deepEqual(taken, { won: ['p1'], reprocessed: ['p1'], finished: [] });
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

describe('arbiter claimer (fake arbiter, manual clock)', () => {
  /** Answers like Redis would: `held` items belong to another claim, `finished` ones are done. */
  function fakeArbiter(held: Set<string>, finished: Set<string>): ClaimArbiter & { claims: string[][] } {
    const claims: string[][] = [];
    return {
      description: 'fake',
      claims,
      claim: async (_claimId, items) => {
        claims.push(items);
        return {
          won: items.filter((item) => !held.has(item) && !finished.has(item)),
          reprocessed: [],
          finished: items.filter((item) => finished.has(item)),
        };
      },
      renew: async () => true,
      finish: async () => undefined,
      release: async () => undefined,
      close: async () => undefined,
    };
  }

  test('items held by another claim are not tried again until a third of the lease (at most 2 s) has passed', async () => {
    const clock = new ManualClock();
    const held = new Set(['p2']);
    const arbiter = fakeArbiter(held, new Set(['p3']));
    const claimer = new ArbiterClaimer(arbiter, {
      instanceId: 'a',
      session: () => 'a-session',
      leaseMs: 3_000,
      clock,
      retry: DEFAULT_RETRY,
      logger: silentLogger(),
      publish: async () => undefined,
    });
    const grant = await claimer.claim('a:1', ['p1', 'p2', 'p3']);
    assert.deepEqual(grant, { won: ['p1'], reprocessed: [], finished: ['p3'] });
    assert.equal(claimer.isOutstanding('p2'), true, 'held elsewhere: not claimable here for now');
    assert.equal(claimer.isOutstanding('p1'), false);
    assert.equal(claimer.isOutstanding('p3'), false, 'finished: the service drops it, nothing to hold');
    const settle = async () => undefined;
    await clock.advance(999, settle);
    assert.equal(claimer.isOutstanding('p2'), true);
    await clock.advance(1, settle);
    assert.equal(claimer.isOutstanding('p2'), false, 'after lease/3 it may be tried again (a crashed holder)');
  });
});

/**
 * The fault cases of the coordination protocol, deterministic and fast: a fake broker with a
 * single total order, a manual clock, a memory store (fake-world.ts). Each case asserts that
 * every announced photo has exactly one outcome (more only when flagged reprocessed), none is
 * counted twice, and nothing is left in storage.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RUN_STEPS } from '../../src/inference/claim-run.js';
import { COORDINATION_VERSION } from '../../src/inference/coordination-messages.js';
import { World } from './fake-world.js';

function assertClean(world: World, label: string) {
  const report = world.report();
  assert.deepEqual(report.problems, [], `${label}: ${report.problems.slice(0, 5).join('; ')}`);
  assert.equal(report.double, 0, `${label}: double outcomes`);
  assert.equal(report.lost, 0, `${label}: lost photos`);
  assert.equal(report.left, 0, `${label}: photos left in storage`);
  return report;
}

describe('coordination faults (fake broker, manual clock)', () => {
  test('three instances without faults: one outcome per photo', async () => {
    const world = new World();
    for (const id of ['a', 'b', 'c']) await world.start(id);
    await world.announce(30, 7);
    await world.run(2_000);
    assertClean(world, 'no faults');
    await world.stop();
  });

  for (const persistence of [false, true]) {
    test(`broker restart mid-burst (persistence ${persistence}), clients back at different times`, async () => {
      const world = new World({ persistence });
      const instances = [];
      for (const id of ['a', 'b', 'c']) instances.push(await world.start(id));
      // Claims are in flight and runs under way when the broker goes.
      for (const entry of instances) entry.holdCounts = true;
      await world.announce(20, 6);
      await world.run(150);
      world.broker.stop();
      for (const entry of instances) {
        entry.holdCounts = false;
        entry.releaseCounts();
      }
      await world.settle();
      world.restartBroker();
      // One instance is back long before the others, and photos keep coming meanwhile.
      instances[0]?.link.connect();
      await world.run(300);
      await world.announce(10, 6, 'late');
      await world.run(1_000);
      instances[1]?.link.connect();
      await world.run(700);
      instances[2]?.link.connect();
      await world.announce(10, 6, 'later');
      // Photos pending when the broker went reach a claimer through the sweeper.
      await world.run(30_000);
      const report = assertClean(world, `restart persistence=${persistence}`);
      assert.equal(report.photos, 40);
      await world.stop();
    });
  }

  test("an instance's will ends its claim while it is counting: it publishes nothing for it", async () => {
    const world = new World();
    const owner = await world.start('owner');
    const other = await world.start('other', { maxWaitMs: 1_000 });
    owner.holdCounts = true;
    await world.announce(4, 4);
    await world.run(150); // the owner has claimed and is counting
    assert.ok(
      world.coordination.some((m) => m.type === 'claim'),
      'the owner claimed',
    );
    world.broker.drop(owner.link); // its will ends the claim in every view
    await world.settle();
    owner.releaseCounts();
    owner.holdCounts = false;
    await world.run(100);
    owner.link.connect();
    await world.run(5_000);
    assertClean(world, 'will');
    assert.ok(
      world.outcomes.every((o) => o.instanceId === other.id),
      'only the instance that took over published outcomes',
    );
    await world.stop();
  });

  test("a will replayed from an instance's earlier connection leaves its current claim alone", async () => {
    const world = new World();
    const owner = await world.start('owner');
    await world.start('other', { maxWaitMs: 1_000 });
    world.broker.drop(owner.link); // the broker publishes the will of this connection
    await world.settle();
    const will = world.coordination.find((m) => m.type === 'offline');
    assert.ok(will, 'the will was published');
    owner.link.connect();
    await world.run(100);
    owner.holdCounts = true;
    await world.announce(4, 4);
    await world.run(150); // the owner has claimed over its new connection and is counting
    const claim = world.coordination.find((m) => m.type === 'claim') as { session?: string } | undefined;
    assert.ok(claim, 'the owner claimed');
    assert.notEqual(claim.session, (will as { session?: string }).session, 'a new connection, a new session');
    const ended = world.coordination.length;
    await world.replay(world.topics.coordination, will);
    await world.settle();
    owner.holdCounts = false;
    owner.releaseCounts();
    await world.run(5_000);
    assertClean(world, 'replayed will');
    assert.deepEqual(
      world.coordination.slice(ended).filter((m) => m.type === 'expire'),
      [],
      'nobody expired the claim',
    );
    assert.ok(
      world.outcomes.every((o) => o.instanceId === owner.id && !o.reprocessed),
      'the owner published every outcome, none reprocessed',
    );
    await world.stop();
  });

  for (const step of RUN_STEPS) {
    test(`an instance crashing ${step === 'before-done' ? 'before done' : `after ${step}`}: taken over without a second outcome`, async () => {
      const world = new World();
      await world.start('victim', {}, { step, times: step === 'before-done' ? 1 : 2 });
      await world.start('survivor', { maxWaitMs: 2_000 });
      await world.announce(5, 3);
      await world.run(500);
      assert.ok(world.instances.get('victim')?.frozen, 'the victim crashed');
      await world.run(10_000);
      const report = assertClean(world, `crash at ${step}`);
      assert.equal(report.photos, 5);
      await world.stop();
    });
  }

  for (const count of [1, 3]) {
    test(`overload, ${count} instance(s): older photos of a camera are superseded by its newest, not analysed`, async () => {
      const world = new World();
      const instances = [];
      for (let i = 0; i < count; i++) instances.push(await world.start(`w${i}`, { batchSize: 4 }));
      // Every instance is stuck in its first batch while 8 cameras send 5 photos each.
      for (const entry of instances) entry.holdCounts = true;
      for (let round = 0; round < 5; round++) {
        await world.announce(8, 8);
        await world.run(200);
      }
      for (const entry of instances) {
        entry.holdCounts = false;
        entry.releaseCounts();
      }
      await world.run(5_000);
      const report = assertClean(world, `overload ${count}`);
      assert.equal(report.photos, 40);
      const results = world.outcomes.filter((o) => o.type === 'result');
      const analyses = instances.reduce((sum, entry) => sum + entry.analyses, 0);
      assert.equal(analyses, results.length, 'only counted photos reached the model');
      // The first batches took what had arrived; after that one analysis per camera, whatever its backlog.
      assert.ok(results.length <= 8 + count * 4, `${results.length} analyses for 40 photos of 8 cameras`);
      const byPath = new Map(world.announced.map((photo) => [photo.filePath, photo]));
      for (const photo of world.announced.slice(-8)) {
        assert.ok(
          results.some((o) => o.filePath === photo.filePath),
          `the newest photo of ${photo.deviceID} is counted`,
        );
      }
      for (const old of world.outcomes.filter((o) => o.type === 'superseded')) {
        const photo = byPath.get(old.filePath ?? '');
        const newer = byPath.get(old.supersededBy ?? '');
        assert.ok(photo && newer, 'a superseded photo names the announced photo counted instead');
        assert.equal(newer.deviceID, photo.deviceID);
        assert.ok(newer.creationTimestamp > photo.creationTimestamp, 'superseded by a newer photo');
      }
      if (count === 1) {
        // 4 cameras of the first round, then 8 cameras once each at their newest photo.
        assert.equal(results.length, 12);
      }
      await world.stop();
    });
  }

  test('an older photo won by one claim, its newer one by another: each counted once', async () => {
    const world = new World();
    const first = await world.start('first', { batchSize: 1 });
    first.holdCounts = true;
    await world.announce(1, 1);
    await world.run(200); // the older photo is claimed and being counted
    const second = await world.start('second', { batchSize: 1 });
    await world.announce(1, 1);
    await world.run(200); // the newer one goes to the idle instance
    first.holdCounts = false;
    first.releaseCounts();
    await world.run(2_000);
    assertClean(world, 'split');
    const results = world.outcomes.filter((o) => o.type === 'result');
    assert.deepEqual(results.map((o) => o.instanceId).sort(), ['first', 'second']);
    assert.equal(first.analyses + second.analyses, 2);
    await world.stop();
  });

  test('forged coordination and results from a client without the secret change nothing', async () => {
    const world = new World();
    const worker = await world.start('worker');
    worker.holdCounts = true;
    await world.announce(6, 3);
    await world.run(150);
    const claim = world.coordination.find((m) => m.type === 'claim') as unknown as {
      claimId: string;
      session: string;
      filePaths: string[];
    };
    assert.ok(claim, 'the worker claimed');
    const { coordination, results } = world.topics;
    const v = COORDINATION_VERSION;
    await world.forge(coordination, {
      type: 'done',
      version: v,
      claimId: claim.claimId,
      instanceId: 'worker',
      filePaths: claim.filePaths,
    });
    await world.forge(coordination, { type: 'offline', version: v, instanceId: 'worker', session: claim.session });
    await world.forge(coordination, { type: 'expire', version: v, claimId: claim.claimId, by: 'mallory' });
    await world.forge(coordination, {
      type: 'claim',
      version: v,
      claimId: 'm:1',
      instanceId: 'mallory',
      session: 'm',
      filePaths: world.announced.map((p) => p.filePath),
      leaseMs: 3_600_000,
    });
    for (const photo of world.announced) {
      await world.forge(results, {
        type: 'result',
        version: 1,
        resultId: 'forged',
        deviceID: photo.deviceID,
        count: 999999999,
        filePath: photo.filePath,
        creationTimestamp: photo.creationTimestamp,
        superseded: 0,
        batchId: 'm',
        instanceId: 'mallory',
        model: 'x',
        analysedAt: photo.creationTimestamp,
        latencyMs: 0,
      });
    }
    await world.settle();
    worker.releaseCounts();
    worker.holdCounts = false;
    await world.run(2_000);
    assertClean(world, 'forged');
    assert.ok(world.outcomes.filter((o) => o.type === 'result').every((o) => o.instanceId === 'worker'));
    const refused = world.outcomes.filter((o) => o.type === 'dead-letter' && o.reason === 'unauthenticated');
    assert.equal(refused.length, 4, 'each forged coordination message is dead-lettered once');
    const metrics = await worker.instance.metrics.metrics();
    assert.match(
      metrics,
      /people_counter_inference_unauthenticated_messages_total\{[^}]*topic="coordination"[^}]*\} 4/,
    );
    assert.match(metrics, /people_counter_inference_unauthenticated_messages_total\{[^}]*topic="outcome"[^}]*\} 6/);
    await world.stop();
  });
});

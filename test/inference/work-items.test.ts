import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMessageAuth } from '../../src/core/message-auth.js';
import { type ResultMessage, toLegacyResult } from '../../src/core/messages.js';
import { type BatchDecision, PendingSet } from '../../src/inference/batcher.js';
import { MAX_CLAIM_ITEMS } from '../../src/inference/coordination-messages.js';
import { planSweep, rebuildMetadata } from '../../src/inference/orphan-sweeper.js';
import { classifyMetadataMessage, type PhotoItem, planBatch, type WorkItem } from '../../src/inference/work-items.js';

const path = (n: number) => `people-counter-images/image00000000-0000-4000-8000-${String(n).padStart(12, '0')}.jpg`;
const photo = (n: number, deviceID: string, creationTimestamp: number): PhotoItem => ({
  kind: 'photo',
  key: path(n),
  metadata: { type: 'data', deviceID, filePath: path(n), creationTimestamp },
});

describe('classifyMetadataMessage', () => {
  const reasonOf = (payload: string) => {
    const classified = classifyMetadataMessage(payload);
    return classified.kind === 'item' && classified.item.kind === 'invalid' ? classified.item.reason : classified.kind;
  };
  const meta = (filePath: string) =>
    JSON.stringify({ type: 'data', deviceID: 'cam-1', filePath, creationTimestamp: 1_700_000_000.5 });

  test('accepts seed metadata and ignores legacy results', () => {
    assert.equal(reasonOf(meta(path(1))), 'item');
    const legacy = {
      type: 'result',
      deviceID: 'd',
      filePath: 'x',
      creationTimestamp: 1,
      analysisMetadata: { results: { count: 2 } },
    };
    assert.deepEqual(classifyMetadataMessage(JSON.stringify(legacy)), { kind: 'ignore', reason: 'legacy-result' });
    // Another producer's field order is recognised by parsing instead of by the prefix.
    const { type, ...rest } = legacy;
    const reordered = JSON.stringify({ ...rest, type });
    assert.deepEqual(classifyMetadataMessage(reordered), { kind: 'ignore', reason: 'legacy-result' });
  });

  test('recognises our own legacy results, signed or not, by their first bytes', () => {
    const auth = createMessageAuth('a-secret-of-sufficient-length-1234');
    const result = toLegacyResult({
      deviceID: 'cam-1',
      filePath: path(1),
      creationTimestamp: 1_700_000_000.5,
      count: 3,
    } as ResultMessage);
    for (const payload of [JSON.stringify(result), auth.sign('people-counter/images', result)]) {
      assert.ok(payload.startsWith('{"type":"result",'), payload);
      assert.deepEqual(classifyMetadataMessage(Buffer.from(payload)), { kind: 'ignore', reason: 'legacy-result' });
    }
  });

  test('names what is wrong: JSON, schema, bucket, traversal', () => {
    assert.equal(reasonOf('{nope'), 'invalid-json');
    assert.equal(reasonOf(JSON.stringify({ type: 'data', deviceID: 'cam-1' })), 'invalid-schema');
    assert.equal(reasonOf(meta('other-bucket/image00000000-0000-4000-8000-000000000001.jpg')), 'wrong-bucket');
    assert.equal(reasonOf(meta('people-counter-images/../etc/passwd')), 'path-traversal');
    assert.equal(reasonOf(meta('people-counter-images/notes.txt')), 'invalid-schema');
  });

  test('identical garbage has one key; different garbage has different keys', () => {
    const a = classifyMetadataMessage('garbage');
    const b = classifyMetadataMessage('garbage');
    const c = classifyMetadataMessage('other garbage');
    assert.ok(a.kind === 'item' && b.kind === 'item' && c.kind === 'item');
    assert.equal(a.item.key, b.item.key);
    assert.notEqual(a.item.key, c.item.key);
  });
});

describe('planBatch (latest photo per device)', () => {
  test('counts the newest photo of each device and supersedes the others', () => {
    const plan = planBatch([photo(1, 'a', 10), photo(2, 'a', 30), photo(3, 'b', 5), photo(4, 'a', 20)]);
    const byDevice = new Map(plan.groups.map((g) => [g.counted.metadata.deviceID, g]));
    assert.equal(byDevice.get('a')?.counted.key, path(2));
    assert.deepEqual(
      byDevice
        .get('a')
        ?.superseded.map((p) => p.key)
        .sort(),
      [path(1), path(4)],
    );
    assert.equal(byDevice.get('b')?.counted.key, path(3));
    assert.deepEqual(byDevice.get('b')?.superseded, []);
  });

  test('equal timestamps are broken by filePath, independent of arrival order', () => {
    const forward = planBatch([photo(1, 'a', 10), photo(2, 'a', 10)]);
    const backward = planBatch([photo(2, 'a', 10), photo(1, 'a', 10)]);
    assert.equal(forward.groups[0]?.counted.key, path(2));
    assert.equal(backward.groups[0]?.counted.key, path(2));
  });

  test('invalid and orphaned items are planned as failures, apart from photos', () => {
    const invalid = classifyMetadataMessage('x');
    assert.ok(invalid.kind === 'item');
    const items: WorkItem[] = [invalid.item, { kind: 'orphan', key: path(9), detail: 'no metadata' }, photo(1, 'a', 1)];
    const plan = planBatch(items);
    assert.equal(plan.invalid.length, 1);
    assert.equal(plan.orphans.length, 1);
    assert.equal(plan.groups.length, 1);
  });
});

describe('PendingSet', () => {
  const policy = { batchSize: 3, maxWaitMs: 100 };
  const none = () => false;
  const keysOf = (decision: BatchDecision) => (decision.kind === 'claim' ? decision.items.map((item) => item.key) : []);

  test('deduplicates by key', () => {
    const pending = new PendingSet();
    assert.equal(pending.add(photo(1, 'a', 1), 0), true);
    assert.equal(pending.add(photo(1, 'a', 1), 5), false);
    assert.equal(pending.size, 1);
  });

  test('claims at once when batch-size devices are pending, oldest devices first', () => {
    const pending = new PendingSet();
    for (let i = 1; i <= 4; i++) pending.add(photo(i, `d${i}`, i), i);
    const decision = pending.decide(10, policy, none);
    assert.equal(decision.kind, 'claim');
    assert.deepEqual(keysOf(decision), [path(1), path(2), path(3)]);
  });

  test('several photos of one device are one unit of analysis: no full batch, so max-wait applies', () => {
    const pending = new PendingSet();
    for (let i = 1; i <= 4; i++) pending.add(photo(i, 'a', i), 1000 + i);
    assert.deepEqual(pending.decide(1040, policy, none), { kind: 'wait', ms: 61 });
    assert.equal(pending.decide(1101, policy, none).kind, 'claim');
  });

  test("a claim names each chosen device's newest photo first, then every older one of it", () => {
    const pending = new PendingSet();
    // Arrival order is not photo order: the sweeper or a slow lane can announce an older photo late.
    pending.add(photo(1, 'a', 10), 0);
    pending.add(photo(2, 'b', 10), 1);
    pending.add(photo(3, 'a', 30), 2);
    pending.add(photo(4, 'c', 10), 3);
    pending.add(photo(5, 'a', 20), 4);
    pending.add(photo(6, 'd', 10), 5);
    assert.deepEqual(keysOf(pending.decide(6, policy, none)), [path(3), path(2), path(4), path(5), path(1)]);
  });

  test('the photo to count is the newest free one; taken photos are neither counted nor named', () => {
    const pending = new PendingSet();
    pending.add(photo(1, 'a', 10), 0);
    pending.add(photo(2, 'a', 20), 1);
    pending.add(photo(3, 'a', 30), 2);
    const taken = (key: string) => key === path(3);
    assert.deepEqual(keysOf(pending.decide(500, policy, taken)), [path(2), path(1)]);
  });

  test('waits for max-wait with a partial batch, then claims it', () => {
    const pending = new PendingSet();
    pending.add(photo(1, 'a', 1), 1000);
    assert.deepEqual(pending.decide(1040, policy, none), { kind: 'wait', ms: 60 });
    assert.equal(pending.decide(1100, policy, none).kind, 'claim');
  });

  test('skips items others hold, and is idle when nothing is free', () => {
    const pending = new PendingSet();
    pending.add(photo(1, 'a', 1), 0);
    pending.add(photo(2, 'b', 1), 0);
    const taken = (key: string) => key === path(1);
    assert.deepEqual(keysOf(pending.decide(500, policy, taken)), [path(2)]);
    assert.deepEqual(
      pending.decide(500, policy, () => true),
      { kind: 'idle' },
    );
  });

  test('invalid and orphaned items are units of their own', () => {
    const pending = new PendingSet();
    const invalid = classifyMetadataMessage('x');
    assert.ok(invalid.kind === 'item');
    pending.add(invalid.item, 0);
    pending.add(photo(1, 'a', 1), 1);
    pending.add(photo(2, 'a', 2), 2);
    pending.add({ kind: 'orphan', key: path(9), detail: 'no metadata' }, 3);
    assert.deepEqual(keysOf(pending.decide(4, policy, none)), [invalid.item.key, path(2), path(9), path(1)]);
  });

  test('a claim stays within the size a claim message allows; what is left out is older than what is counted', () => {
    const pending = new PendingSet();
    for (let i = 1; i <= MAX_CLAIM_ITEMS + 5; i++) pending.add(photo(i, 'a', i), i);
    pending.add(photo(100_000, 'b', 1), MAX_CLAIM_ITEMS + 6);
    const keys = keysOf(pending.decide(10_000, policy, none));
    assert.equal(keys.length, MAX_CLAIM_ITEMS);
    assert.deepEqual(keys.slice(0, 2), [path(MAX_CLAIM_ITEMS + 5), path(100_000)]);
    assert.ok(!keys.includes(path(1)), 'the oldest photos wait for a later claim');
  });

  test('deleting and clearing keep the per-device index in step', () => {
    const pending = new PendingSet();
    pending.add(photo(1, 'a', 10), 0);
    pending.add(photo(2, 'a', 20), 0);
    pending.delete(path(2));
    assert.deepEqual(keysOf(pending.decide(500, policy, none)), [path(1)]);
    pending.clear();
    assert.equal(pending.size, 0);
    assert.deepEqual(pending.decide(500, policy, none), { kind: 'idle' });
  });
});

describe('orphan sweeper plan', () => {
  const object = (n: number, ageMs: number) => ({
    key: path(n).split('/')[1] as string,
    size: 1,
    lastModified: new Date(100_000 - ageMs),
  });

  test('re-announces old photos nobody handles, deletes finished leftovers, leaves young and handled ones', () => {
    const plan = planSweep([object(1, 50_000), object(2, 50_000), object(3, 100), object(4, 50_000)], 100_000, 10_000, {
      isHandled: (filePath) => filePath === path(2),
      isFinished: (filePath) => filePath === path(4),
    });
    assert.deepEqual(plan, { reannounce: [path(1)], leftover: [path(4)] });
  });

  test('ignores objects that are not photos of ours', () => {
    const plan = planSweep([{ key: 'notes.txt', size: 1, lastModified: new Date(0) }], 100_000, 1, {
      isHandled: () => false,
      isFinished: () => false,
    });
    assert.deepEqual(plan, { reannounce: [], leftover: [] });
  });

  test('rebuilds metadata from object metadata, or says why not', () => {
    const rebuilt = rebuildMetadata(path(1), { 'device-id': 'cam-1', 'creation-timestamp': '1700000000.25' });
    assert.deepEqual(rebuilt, {
      ok: true,
      metadata: { type: 'data', deviceID: 'cam-1', filePath: path(1), creationTimestamp: 1_700_000_000.25 },
    });
    assert.equal(rebuildMetadata(path(1), {}).ok, false);
  });
});

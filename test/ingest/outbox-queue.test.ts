/** The outbox's pure parts: the queue (order, supersede, cap, the entry being published) and the log replay. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { filePathOf, newImageKey } from '../../src/core/ids.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import { replayOutboxLog, stateRecords } from '../../src/ingest/outbox-log.js';
import { isNewerPhoto, type OutboxEntry, OutboxQueue } from '../../src/ingest/outbox-queue.js';
import { ManualClock } from '../helpers/manual-clock.js';

function photo(deviceID: string, creationTimestamp: number): PhotoMetadata {
  return { type: 'data', deviceID, filePath: filePathOf(newImageKey()), creationTimestamp };
}

const paths = (entries: readonly OutboxEntry[]) => entries.map((entry) => entry.metadata.filePath);

describe('OutboxQueue', () => {
  test('keeps photos in arrival order, stamped with the clock', async () => {
    const clock = new ManualClock();
    const queue = new OutboxQueue(10, clock);
    const a = photo('cam-a', 100);
    const b = photo('cam-b', 100);
    assert.equal(queue.offer(a).outcome, 'queued');
    await clock.advance(500, async () => undefined);
    assert.equal(queue.offer(b).outcome, 'queued');
    assert.deepEqual(paths(queue.list()), [a.filePath, b.filePath]);
    assert.deepEqual(
      queue.list().map((entry) => entry.queuedAtMs),
      [1_800_000_000_000, 1_800_000_000_500],
    );
  });

  test("a newer photo supersedes its device's queued one and goes to the end", () => {
    const queue = new OutboxQueue(10, new ManualClock());
    const old = photo('cam-a', 100);
    const other = photo('cam-b', 100);
    const newer = photo('cam-a', 101);
    queue.offer(old);
    queue.offer(other);
    const offered = queue.offer(newer);
    assert.equal(offered.outcome, 'queued');
    assert.equal(offered.outcome === 'queued' && offered.superseded?.metadata, old);
    assert.deepEqual(paths(queue.list()), [other.filePath, newer.filePath]);
  });

  test('a photo older than the queued one of its device is stale; ties go to the greater filePath', () => {
    const queue = new OutboxQueue(10, new ManualClock());
    const queued = photo('cam-a', 200);
    queue.offer(queued);
    const older = photo('cam-a', 199);
    assert.deepEqual(queue.offer(older), { outcome: 'stale', newer: queue.list()[0] });
    const [low, high] = [photo('cam-b', 300), photo('cam-b', 300)].sort((x, y) => (x.filePath < y.filePath ? -1 : 1));
    assert.ok(low && high);
    assert.equal(isNewerPhoto(high, low), true);
    assert.equal(isNewerPhoto(low, high), false);
    queue.offer(high);
    assert.equal(queue.offer(low).outcome, 'stale');
    assert.deepEqual(paths(queue.list()), [queued.filePath, high.filePath]);
  });

  test('full: a new device is refused, a queued device may still replace its photo', () => {
    const queue = new OutboxQueue(2, new ManualClock());
    queue.offer(photo('cam-a', 100));
    queue.offer(photo('cam-b', 100));
    assert.equal(queue.hasRoomFor('cam-c'), false);
    assert.deepEqual(queue.offer(photo('cam-c', 100)), { outcome: 'full' });
    assert.equal(queue.hasRoomFor('cam-a'), true);
    assert.equal(queue.offer(photo('cam-a', 101)).outcome, 'queued');
    assert.equal(queue.size, 2);
  });

  test('publishes first in, first out; the entry being published is not superseded', () => {
    const queue = new OutboxQueue(10, new ManualClock());
    const first = photo('cam-a', 100);
    const second = photo('cam-b', 100);
    queue.offer(first);
    queue.offer(second);
    const taken = queue.takeNext();
    assert.equal(taken?.metadata, first);
    assert.throws(() => queue.takeNext(), /being published already/);
    // A newer photo of the device being published waits behind it: its photo must stay until published.
    const newer = photo('cam-a', 101);
    const offered = queue.offer(newer);
    assert.equal(offered.outcome === 'queued' && offered.superseded, undefined);
    queue.published(taken);
    assert.deepEqual(paths(queue.list()), [second.filePath, newer.filePath]);
    assert.equal(queue.takeNext()?.metadata, second);
  });

  test('a failed publish keeps the entry first, unless a newer photo of its device arrived meanwhile', () => {
    const queue = new OutboxQueue(10, new ManualClock());
    const first = photo('cam-a', 100);
    const second = photo('cam-b', 100);
    queue.offer(first);
    queue.offer(second);
    const taken = queue.takeNext();
    assert.ok(taken);
    assert.equal(queue.publishFailed(taken), undefined);
    assert.deepEqual(paths(queue.list()), [first.filePath, second.filePath]);

    const again = queue.takeNext();
    assert.ok(again);
    const newer = photo('cam-a', 101);
    queue.offer(newer);
    assert.equal(queue.publishFailed(again)?.metadata, first, 'the older photo is garbage now');
    assert.deepEqual(paths(queue.list()), [second.filePath, newer.filePath]);
    // And the newer one is replaceable again, as any waiting entry.
    const newest = photo('cam-a', 102);
    const offered = queue.offer(newest);
    assert.equal(offered.outcome === 'queued' && offered.superseded?.metadata, newer);
  });

  test('a failed publish of a newer photo than the one queued meanwhile drops the queued one', () => {
    const queue = new OutboxQueue(10, new ManualClock());
    const newer = photo('cam-a', 200);
    queue.offer(newer);
    const taken = queue.takeNext();
    assert.ok(taken);
    const older = photo('cam-a', 150);
    queue.offer(older);
    assert.equal(queue.publishFailed(taken)?.metadata, older);
    assert.deepEqual(paths(queue.list()), [newer.filePath]);
  });

  test('restore keeps every entry as it was, in order; only the latest of a device is replaceable', () => {
    const queue = new OutboxQueue(10, new ManualClock());
    const entries = [photo('cam-a', 100), photo('cam-b', 100), photo('cam-a', 101)].map((metadata, index) => ({
      metadata,
      queuedAtMs: index,
    }));
    queue.restore(entries);
    assert.deepEqual(queue.list(), entries);
    const newest = photo('cam-a', 102);
    const offered = queue.offer(newest);
    assert.equal(offered.outcome === 'queued' && offered.superseded, entries[2]);
    assert.deepEqual(paths(queue.list()), [
      entries[0]!.metadata.filePath,
      entries[1]!.metadata.filePath,
      newest.filePath,
    ]);
  });

  test('restore may exceed the cap (acknowledged photos are kept); new devices wait until it drains', () => {
    const queue = new OutboxQueue(1, new ManualClock());
    queue.restore([photo('cam-a', 1), photo('cam-b', 1)].map((metadata) => ({ metadata, queuedAtMs: 0 })));
    assert.equal(queue.size, 2);
    assert.equal(queue.offer(photo('cam-c', 1)).outcome, 'full');
  });
});

describe('outbox log replay', () => {
  const line = (record: unknown) => `${JSON.stringify(record)}\n`;

  test('queued, published and superseded records give the queue and the photos to delete', () => {
    const [a, b, c] = [photo('cam-a', 1), photo('cam-b', 1), photo('cam-a', 2)];
    const text = [
      line({ op: 'queued', metadata: a, queuedAtMs: 1 }),
      line({ op: 'queued', metadata: b, queuedAtMs: 2 }),
      line({ op: 'superseded', filePath: a.filePath }),
      line({ op: 'queued', metadata: c, queuedAtMs: 3 }),
      line({ op: 'published', filePath: b.filePath }),
    ].join('');
    assert.deepEqual(replayOutboxLog(text), {
      entries: [{ metadata: c, queuedAtMs: 3 }],
      supersededPhotos: [a.filePath],
      unreadableLines: 0,
    });
  });

  test('a torn last line and damaged lines are skipped and counted', () => {
    const [a, b] = [photo('cam-a', 1), photo('cam-b', 1)];
    const text = [
      line({ op: 'queued', metadata: a, queuedAtMs: 1 }),
      line({ op: 'queued', metadata: { ...b, filePath: '../etc/passwd' }, queuedAtMs: 2 }),
      line({ op: 'forgotten', filePath: a.filePath }),
      line({ op: 'queued', metadata: b, queuedAtMs: 2 }).slice(0, 40),
    ].join('');
    const replayed = replayOutboxLog(text);
    assert.deepEqual(replayed.entries, [{ metadata: a, queuedAtMs: 1 }]);
    assert.equal(replayed.unreadableLines, 3);
  });

  test('the state records of a compaction replay to the same state', () => {
    const entries = [photo('cam-a', 1), photo('cam-b', 1)].map((metadata, index) => ({ metadata, queuedAtMs: index }));
    const awaitingDeletion = [photo('cam-a', 0).filePath];
    const text = stateRecords(entries, awaitingDeletion).map(line).join('');
    assert.deepEqual(replayOutboxLog(text), { entries, supersededPhotos: awaitingDeletion, unreadableLines: 0 });
    assert.equal(replayOutboxLog('').entries.length, 0);
  });
});

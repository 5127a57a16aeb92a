/** The outbox log on disk: modes, group commit, compaction, a torn tail, and a kill mid-write. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { filePathOf, newImageKey } from '../../src/core/ids.js';
import { OUTBOX_LOG_FILE, OutboxLog, type OutboxRecord, replayOutboxLog } from '../../src/ingest/outbox-log.js';

let parent: string;
before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'pc-outbox-log-'));
});
after(async () => {
  await rm(parent, { recursive: true, force: true });
});

let dirs = 0;
const freshDir = () => join(parent, `outbox-${++dirs}`, 'nested');
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;
const readLog = async (dir: string) => replayOutboxLog(await readFile(join(dir, OUTBOX_LOG_FILE), 'utf8'));

function queued(deviceID: string, queuedAtMs = 0): Extract<OutboxRecord, { op: 'queued' }> {
  const metadata = { type: 'data' as const, deviceID, filePath: filePathOf(newImageKey()), creationTimestamp: 1 };
  return { op: 'queued', metadata, queuedAtMs };
}

describe('OutboxLog', () => {
  test('the log is 0600 in a 0700 directory, also after a compaction', async () => {
    const dir = freshDir();
    const { log } = await OutboxLog.open(dir, () => []);
    try {
      await log.append([queued('cam-a')]);
      assert.equal(await modeOf(dir), 0o700);
      assert.equal(await modeOf(join(dir, OUTBOX_LOG_FILE)), 0o600);
      await log.compact();
      assert.equal(await modeOf(join(dir, OUTBOX_LOG_FILE)), 0o600);
    } finally {
      await log.close();
    }
  });

  test('an acknowledged append is on disk; concurrent appends are all written, in order', async () => {
    const dir = freshDir();
    const { log } = await OutboxLog.open(dir, () => []);
    try {
      const records = Array.from({ length: 50 }, (_, index) => queued(`cam-${index}`, index));
      await Promise.all(records.map((record) => log.append([record])));
      // Read by another reader while the log is still open, as a restart after a kill would.
      const replayed = await readLog(dir);
      assert.deepEqual(
        replayed.entries.map((entry) => entry.queuedAtMs),
        records.map((record) => record.queuedAtMs),
      );
      assert.equal(log.appendedRecords, 50);
    } finally {
      await log.close();
    }
  });

  test('a compaction replaces the history by the state and leaves no temporary file', async () => {
    const dir = freshDir();
    const kept = queued('cam-b', 2);
    let state: OutboxRecord[] = [];
    const { log } = await OutboxLog.open(dir, () => state);
    try {
      const gone = queued('cam-a', 1);
      await log.append([gone, kept, { op: 'published', filePath: gone.metadata.filePath }]);
      state = [kept];
      await log.compact();
      assert.equal(log.appendedRecords, 0);
      assert.equal(await readFile(join(dir, OUTBOX_LOG_FILE), 'utf8'), `${JSON.stringify(kept)}\n`);
      await log.append([{ op: 'published', filePath: kept.metadata.filePath }]);
      assert.deepEqual((await readLog(dir)).entries, []);
      assert.deepEqual(await readdir(dir), [OUTBOX_LOG_FILE]);
    } finally {
      await log.close();
    }
  });

  test('a torn last line is skipped on opening and does not swallow the next record', async () => {
    const dir = freshDir();
    const first = queued('cam-a', 1);
    const { log: before } = await OutboxLog.open(dir, () => []);
    await before.append([first]);
    await before.close();
    await appendFile(join(dir, OUTBOX_LOG_FILE), JSON.stringify(queued('cam-torn')).slice(0, 30));

    // The state, as the outbox keeps it: what was read back, then each record as it is appended.
    const state: OutboxRecord[] = [first];
    const { log, replayed } = await OutboxLog.open(dir, () => state);
    try {
      assert.deepEqual(replayed.entries, [{ metadata: first.metadata, queuedAtMs: 1 }]);
      assert.equal(replayed.unreadableLines, 1);
      const next = queued('cam-b', 2);
      state.push(next);
      await log.append([next]);
      const after = await readLog(dir);
      assert.equal(after.unreadableLines, 0);
      assert.deepEqual(
        after.entries.map((entry) => entry.metadata.deviceID),
        ['cam-a', 'cam-b'],
      );
    } finally {
      await log.close();
    }
  });

  test('killed mid-write (SIGKILL), it loses no acknowledged record', async () => {
    const dir = freshDir();
    // A writer keeping 8 appends in flight, printing each record's number once its append resolved.
    const writer = `
      const { OutboxLog } = await import(process.argv[1]);
      const { randomUUID } = await import('node:crypto');
      const { log } = await OutboxLog.open(process.argv[2], () => []);
      let next = 0;
      const write = async () => {
        for (;;) {
          const n = next++;
          const metadata = { type: 'data', deviceID: 'cam-' + n, filePath: 'people-counter-images/image' + randomUUID() + '.jpg', creationTimestamp: 1 };
          await log.append([{ op: 'queued', metadata, queuedAtMs: n }]);
          process.stdout.write(n + '\\n');
        }
      };
      for (let i = 0; i < 8; i++) void write();
    `;
    const moduleUrl = new URL('../../src/ingest/outbox-log.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', writer, moduleUrl, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acknowledged = new Set<number>();
    const exited = once(child, 'exit');
    for await (const line of createInterface({ input: child.stdout })) {
      acknowledged.add(Number(line));
      if (acknowledged.size === 300) child.kill('SIGKILL');
    }
    const [, signal] = await exited;
    assert.equal(signal, 'SIGKILL');
    const written = new Set((await readLog(dir)).entries.map((entry) => entry.queuedAtMs));
    const lost = [...acknowledged].filter((n) => !written.has(n));
    assert.deepEqual(lost, [], 'every acknowledged record survives the kill');
  });
});

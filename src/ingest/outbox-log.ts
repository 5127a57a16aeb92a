/**
 * The outbox on disk: an append-only log of JSON lines, `<dir>/outbox.jsonl` (0600 in a 0700
 * directory), fsynced before an append is acknowledged, so that a kill loses nothing the outbox
 * acknowledged. Appends arriving while one is being written are written together with one fsync
 * (group commit), so a burst of photos costs a few fsyncs rather than one each. A compaction
 * replaces the log with the current state: temporary file, fsync, rename, directory fsync.
 * A kill mid-append leaves at most a torn last line, which was never acknowledged; reading skips it.
 */
import { type FileHandle, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { filePathSchema, parseJsonMessage, photoMetadataSchema } from '../core/messages.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, replaceFilePrivately } from '../core/private-files.js';
import type { OutboxEntry } from './outbox-queue.js';

export const OUTBOX_LOG_FILE = 'outbox.jsonl';

export const outboxRecordSchema = z.discriminatedUnion('op', [
  /** A photo's metadata joined the queue (at its end). */
  z.object({ op: z.literal('queued'), metadata: photoMetadataSchema, queuedAtMs: z.number().nonnegative() }),
  /** It left the queue: published on the broker. */
  z.object({ op: z.literal('published'), filePath: filePathSchema }),
  /** It left the queue: a newer photo of its device replaced it, and its photo is to be deleted. */
  z.object({ op: z.literal('superseded'), filePath: filePathSchema }),
]);
export type OutboxRecord = z.infer<typeof outboxRecordSchema>;

export interface ReplayedOutbox {
  /** Entries still queued, in their order. */
  entries: OutboxEntry[];
  /** Photos superseded whose deletion may not have happened (deleting again is harmless). */
  supersededPhotos: string[];
  /** Lines that were not records: a torn last line after a kill, or damage. */
  unreadableLines: number;
}

/** The state a log describes. Pure. */
export function replayOutboxLog(text: string): ReplayedOutbox {
  const entries = new Map<string, OutboxEntry>();
  const superseded = new Set<string>();
  let unreadableLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const record = parseRecord(line);
    if (!record) {
      unreadableLines += 1;
      continue;
    }
    if (record.op === 'queued') {
      entries.set(record.metadata.filePath, { metadata: record.metadata, queuedAtMs: record.queuedAtMs });
    } else {
      entries.delete(record.filePath);
      if (record.op === 'superseded') superseded.add(record.filePath);
    }
  }
  return { entries: [...entries.values()], supersededPhotos: [...superseded], unreadableLines };
}

/** The records that describe this state from scratch (what a compaction writes). Pure. */
export function stateRecords(entries: readonly OutboxEntry[], supersededPhotos: Iterable<string>): OutboxRecord[] {
  return [
    ...[...supersededPhotos].map((filePath): OutboxRecord => ({ op: 'superseded', filePath })),
    ...entries.map((entry): OutboxRecord => ({ op: 'queued', ...entry })),
  ];
}

function parseRecord(line: string): OutboxRecord | undefined {
  const parsed = parseJsonMessage(outboxRecordSchema, line);
  return parsed.ok ? parsed.value : undefined;
}

function serialize(records: readonly OutboxRecord[]): string {
  return records.map((record) => `${JSON.stringify(record)}\n`).join('');
}

export class OutboxLog {
  /** Records waiting for the next write, and the callers waiting for it to be durable. */
  private pending: OutboxRecord[] = [];
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private writing = false;
  /** Replace the log instead of appending next time: asked for, or the last append may have torn. */
  private compactNext = false;
  private closed = false;
  private appendedSinceCompaction = 0;

  private constructor(
    private readonly dir: string,
    private file: FileHandle,
    /** The current state as records, read when a compaction writes (it includes every pending record). */
    private readonly currentState: () => OutboxRecord[],
  ) {}

  /** Opens (creating) the log and returns what it held. */
  static async open(
    dir: string,
    currentState: () => OutboxRecord[],
  ): Promise<{ log: OutboxLog; replayed: ReplayedOutbox }> {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const path = join(dir, OUTBOX_LOG_FILE);
    const text = await readFile(path, 'utf8').catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw error;
    });
    const file = await open(path, 'a', PRIVATE_FILE_MODE);
    const log = new OutboxLog(dir, file, currentState);
    // The first write replaces what was read: a torn last line would otherwise swallow the next record.
    log.compactNext = text.length > 0;
    return { log, replayed: replayOutboxLog(text) };
  }

  get path(): string {
    return join(this.dir, OUTBOX_LOG_FILE);
  }

  /** Records appended since the log last held only the state: how much a compaction would save. */
  get appendedRecords(): number {
    return this.appendedSinceCompaction;
  }

  /** Resolves once the records are on disk (fsynced). */
  append(records: readonly OutboxRecord[]): Promise<void> {
    this.pending.push(...records);
    return this.flush();
  }

  /** Replaces the log with the current state; resolves once that is on disk. */
  compact(): Promise<void> {
    this.compactNext = true;
    return this.flush();
  }

  /** Writes what is pending, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Resolves after the write in progress and the one of whatever is pending.
    await this.flush().catch(() => undefined);
    this.closed = true;
    await this.file.close();
  }

  private flush(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the outbox log is closed'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.writing) void this.writeWhilePending();
    });
  }

  private async writeWhilePending(): Promise<void> {
    this.writing = true;
    while (this.waiters.length > 0) {
      const waiters = this.waiters.splice(0);
      const records = this.pending.splice(0);
      // Taken in the same tick as the pending records: the state then includes all of them.
      const replacement = this.compactNext ? this.currentState() : undefined;
      this.compactNext = false;
      try {
        if (replacement) await this.replace(replacement);
        else await this.appendDurably(records);
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        // A failed append may have left a partial line: the next write replaces the whole log.
        this.compactNext = true;
        for (const waiter of waiters) waiter.reject(error);
      }
    }
    this.writing = false;
  }

  private async appendDurably(records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.file.write(serialize(records));
    await this.file.datasync();
    this.appendedSinceCompaction += records.length;
  }

  private async replace(records: readonly OutboxRecord[]): Promise<void> {
    await replaceFilePrivately(this.path, serialize(records));
    // The rename is durable only once the directory is: otherwise a crash could bring back the old log.
    const directory = await open(this.dir, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
    const previous = this.file;
    this.file = await open(this.path, 'a', PRIVATE_FILE_MODE);
    await previous.close();
    this.appendedSinceCompaction = 0;
  }
}

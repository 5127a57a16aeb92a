/**
 * An exclusive lock between processes on one file: `<file>.lock`, created with O_EXCL and naming
 * its holder (pid, host, time, a random token). Used around every read-change-write of a file that several processes rewrite whole
 * (the device registry: the CLI and engage), so that no writer overwrites another's change.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { parseJsonMessage } from './messages.js';

/** The lock was still held when the wait ran out. */
export class FileLockTimeoutError extends Error {
  override name = 'FileLockTimeoutError';
}

export interface FileLockOptions {
  /** How long to wait for the lock before giving up with FileLockTimeoutError. */
  waitMs?: number;
  /**
   * A lock older than this is abandoned whoever holds it (the holder may be in another container,
   * whose pids this process cannot check). Holders keep the lock for milliseconds.
   */
  staleMs?: number;
}

const DEFAULT_WAIT_MS = 15_000;
const DEFAULT_STALE_MS = 10_000;
/** Retry delays grow from the first to the last, with jitter so that waiters do not retry in step. */
const FIRST_RETRY_MS = 2;
const LAST_RETRY_MS = 100;

const holderSchema = z.object({ pid: z.number().int(), host: z.string(), at: z.number(), token: z.string() });
type Holder = z.infer<typeof holderSchema>;

/** The path of the lock of `path`. */
export const lockPathOf = (path: string) => `${path}.lock`;

/** Runs `work` while holding the lock of `path`; the lock is released however `work` ends. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const lockPath = lockPathOf(path);
  const mine = await acquire(lockPath, options);
  try {
    return await work();
  } finally {
    // Not if it was taken over meanwhile (held past staleMs): the lock is then someone else's.
    if ((await readLock(lockPath))?.text === mine) await rm(lockPath, { force: true });
  }
}

/** Takes the lock; returns its content, which names this holder alone (a random token). */
async function acquire(lockPath: string, options: FileLockOptions): Promise<string> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const deadline = Date.now() + waitMs;
  for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, LAST_RETRY_MS)) {
    const holder: Holder = {
      pid: process.pid,
      host: hostname(),
      at: Date.now(),
      token: randomBytes(8).toString('hex'),
    };
    const mine = `${JSON.stringify(holder)}\n`;
    if (await createExclusive(lockPath, mine)) return mine;
    const current = await readLock(lockPath);
    // Retried at once when an abandoned lock was removed; otherwise after a pause.
    if (current !== undefined && abandoned(current, staleMs) && (await takeOver(lockPath, current.text, staleMs))) {
      continue;
    }
    if (Date.now() >= deadline) {
      const by = current?.holder
        ? ` by pid ${current.holder.pid} on ${current.holder.host} since ${new Date(current.holder.at).toISOString()}`
        : '';
      throw new FileLockTimeoutError(`${lockPath} is held${by}; remove it if that process is gone`);
    }
    await sleep(delay / 2 + Math.random() * delay);
  }
}

/** Creates `path` with `content` unless it exists (O_EXCL); false when it does. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  try {
    await writeFile(path, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

interface LockState {
  text: string;
  /** Undefined while the holder is still writing it (or when edited by hand): then judged by its age. */
  holder: Holder | undefined;
  mtimeMs: number;
}

/** The lock as it is now; undefined when free. */
async function readLock(lockPath: string): Promise<LockState | undefined> {
  let file: FileHandle;
  try {
    file = await open(lockPath, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const [{ mtimeMs }, text] = await Promise.all([file.stat(), file.readFile('utf8')]);
    return { text, holder: parseHolder(text), mtimeMs };
  } finally {
    await file.close();
  }
}

function parseHolder(text: string): Holder | undefined {
  const parsed = parseJsonMessage(holderSchema, text);
  return parsed.ok ? parsed.value : undefined;
}

function abandoned({ holder, mtimeMs }: LockState, staleMs: number): boolean {
  if (Date.now() - (holder?.at ?? mtimeMs) > staleMs) return true;
  return holder !== undefined && holder.host === hostname() && !alive(holder.pid);
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes an abandoned lock. Waiters take over one at a time (`<lock>.takeover`, itself exclusive),
 * and each looks again inside: otherwise a second waiter, still holding the old content, would
 * remove the lock the first one has just taken.
 */
async function takeOver(lockPath: string, abandonedText: string, staleMs: number): Promise<boolean> {
  const guardPath = `${lockPath}.takeover`;
  if (!(await createExclusive(guardPath, `${process.pid}\n`))) {
    // A taker that died inside leaves its guard behind: it is dropped after staleMs.
    const guard = await stat(guardPath).catch(() => undefined);
    if (guard && Date.now() - guard.mtimeMs > staleMs) await rm(guardPath, { force: true });
    return false;
  }
  try {
    if ((await readLock(lockPath))?.text !== abandonedText) return false;
    await rm(lockPath, { force: true });
    return true;
  } finally {
    await rm(guardPath, { force: true });
  }
}

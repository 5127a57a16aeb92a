/**
 * Folder source: JPEG files dropped into a folder are ingested once completely written, then
 * deleted (or moved). Layout: `<dir>/<deviceID>/<file>` or, with a fixed device, any file in `<dir>`.
 * A bad file moves to `<dir>/.rejected/` with a `.reason.txt` beside it; a file that failed only
 * because storage or the broker was down stays where it is and is retried.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { Logger } from '../core/log.js';
import { isTransientFailure } from './failure.js';
import type { PhotoIngestor } from './photo-ingestor.js';

export const REJECTED_FOLDER = '.rejected';

export interface WatchSourceOptions {
  dir: string;
  /** All files belong to this device; otherwise the first subfolder level names the device. */
  deviceId: string | undefined;
  /** Move ingested files here (under `<deviceID>/`) instead of deleting them. */
  moveTo: string | undefined;
  ingestor: PhotoIngestor;
  logger: Logger;
  /** How long a file's size must stay unchanged before it counts as written. Default 500 ms. */
  stabilityMs?: number;
  /** Delay before retrying a file after a transient failure. Default 5 s. */
  retryMs?: number;
}

export interface WatchSource {
  /** Resolves once the initial scan is done and the watcher is live. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Which device a file belongs to, from its path relative to the watched folder; or a reason why
 * it belongs to none. Pure.
 */
export function deviceForFile(
  relativePath: string,
  fixedDeviceId: string | undefined,
): { deviceId: string } | { problem: string } {
  if (fixedDeviceId !== undefined) return { deviceId: fixedDeviceId };
  const parts = relativePath.split(sep);
  if (parts.length !== 2) {
    return { problem: 'file is not in a subfolder named by its device ID (or start the watcher with --device)' };
  }
  return { deviceId: parts[0]! };
}

/** Files the watcher leaves alone: hidden files (temporary names, .rejected) and the move-to folder. */
function isIgnored(path: string, root: string, moveTo: string | undefined): boolean {
  const rel = relative(root, path);
  if (rel === '') return false;
  if (moveTo !== undefined && (path === moveTo || path.startsWith(moveTo + sep))) return true;
  return rel.split(sep).some((part) => part.startsWith('.'));
}

export function startWatchSource(options: WatchSourceOptions): WatchSource {
  const root = resolve(options.dir);
  const moveTo = options.moveTo === undefined ? undefined : resolve(options.moveTo);
  const { ingestor, logger } = options;
  const retryMs = options.retryMs ?? 5_000;
  const inFlight = new Set<string>();
  const retries = new Set<NodeJS.Timeout>();
  const pending = new Set<Promise<void>>();
  let stopped = false;

  const reject = async (path: string, rel: string, reason: string) => {
    const target = join(root, REJECTED_FOLDER, rel.split(sep).join('__'));
    await mkdir(dirname(target), { recursive: true });
    await rename(path, target);
    await writeFile(`${target}.reason.txt`, `${reason}\n`);
    logger.warn({ file: rel, reason, movedTo: target }, 'file rejected');
  };

  const processFile = async (path: string) => {
    if (stopped || inFlight.has(path)) return;
    inFlight.add(path);
    const rel = relative(root, path);
    try {
      const owner = deviceForFile(rel, options.deviceId);
      if ('problem' in owner) {
        await reject(path, rel, owner.problem);
        return;
      }
      const jpeg = await readFile(path);
      try {
        const metadata = await ingestor.ingest(owner.deviceId, jpeg);
        if (moveTo === undefined) {
          await rm(path, { force: true });
        } else {
          const target = join(moveTo, owner.deviceId, basename(path));
          await mkdir(dirname(target), { recursive: true });
          await rename(path, target);
        }
        logger.info({ file: rel, filePath: metadata.filePath }, 'file ingested');
      } catch (error) {
        if (isTransientFailure(error)) {
          logger.warn({ file: rel, err: error, retryInMs: retryMs }, 'cannot ingest file now; will retry');
          const timer = setTimeout(() => {
            retries.delete(timer);
            track(processFile(path));
          }, retryMs);
          retries.add(timer);
          return;
        }
        await reject(path, rel, (error as Error).message);
      }
    } catch (error) {
      // The file vanished or the folder is not writable: log and carry on with the next file.
      logger.error({ file: rel, err: error }, 'cannot process file');
    } finally {
      inFlight.delete(path);
    }
  };

  const track = (task: Promise<void>) => {
    pending.add(task);
    void task.finally(() => pending.delete(task));
  };

  const watcher: FSWatcher = watch(root, {
    ignoreInitial: false,
    depth: options.deviceId === undefined ? 1 : 0,
    awaitWriteFinish: { stabilityThreshold: options.stabilityMs ?? 500, pollInterval: 100 },
    ignored: (path: string) => isIgnored(path, root, moveTo),
  });
  watcher.on('add', (path) => track(processFile(resolve(path))));
  watcher.on('error', (error) => logger.error({ err: error, dir: root }, 'folder watcher error'));
  const ready = new Promise<void>((resolveReady) => watcher.once('ready', () => resolveReady()));
  logger.info({ dir: root, device: options.deviceId, moveTo }, 'watching folder for photos');

  return {
    ready,
    stop: async () => {
      stopped = true;
      for (const timer of retries) clearTimeout(timer);
      await watcher.close();
      await Promise.allSettled([...pending]);
    },
  };
}

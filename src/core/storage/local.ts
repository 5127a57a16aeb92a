/**
 * Local-directory object store: `<dir>/<bucket>/<key>`, user metadata in
 * `<dir>/.metadata/<bucket>/<key>.json`.
 *
 * Crash safety: `put` writes the metadata sidecar, then the object, each to a hidden temporary
 * file that is fsynced before it is renamed into place. The object's rename is the commit: a crash
 * before it leaves at most a sidecar without an object (invisible: every read starts from the
 * object) or a hidden temporary file; after it, the object and its sidecar are both complete on
 * disk, because each was fsynced before its rename and the sidecar was renamed first. The sidecar
 * needs its own fsync: the object's fsync does not order another file's data, so without it a crash
 * could leave a complete photo with an empty sidecar, from which the orphan sweeper cannot rebuild
 * the announcement. (Like before, the directory is not fsynced: a crash may forget a recent rename,
 * never expose a half-written file under its real name.)
 *
 * Cost: a `put` is one event-loop round trip per file operation (open, write, fsync, close, rename,
 * twice), so the callback API of node:fs is used rather than fs/promises, whose FileHandle and
 * per-step promises cost more on the event loop the brokers and instances share in `up` and the
 * benchmark; buckets already created are remembered instead of two recursive mkdirs per put.
 */
import { randomUUID } from 'node:crypto';
import { close, fsync, open, readFile, rename, unlink, write } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../private-files.js';
import {
  assertSafeName,
  type GetOptions,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  StorageUnavailableError,
  type StoredObject,
} from './types.js';

export class LocalObjectStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;
  /** Buckets whose folders this store has created; a put that finds one gone creates it again. */
  private readonly createdBuckets = new Set<string>();

  constructor(dir: string) {
    this.root = resolve(dir);
    this.description = `local directory ${this.root}`;
  }

  async ensureBucket(bucket: string): Promise<void> {
    assertSafeName('bucket', bucket);
    await mkdir(this.objectPath(bucket), { recursive: true, mode: PRIVATE_DIR_MODE });
    await mkdir(this.metadataPath(bucket), { recursive: true, mode: PRIVATE_DIR_MODE });
    this.createdBuckets.add(bucket);
  }

  async put(bucket: string, key: string, body: Buffer, metadata: Record<string, string> = {}): Promise<void> {
    this.check(bucket, key);
    const sidecar = this.metadataPath(bucket, `${key}.json`);
    const sidecarBody = Buffer.from(JSON.stringify(metadata));
    try {
      const known = this.createdBuckets.has(bucket);
      if (!known) await this.ensureBucket(bucket);
      try {
        await writeDurably(sidecar, sidecarBody);
      } catch (error) {
        // A remembered bucket whose folder was deleted since: create it again, once.
        if (!known || !isNotFound(error)) throw error;
        this.createdBuckets.delete(bucket);
        await this.ensureBucket(bucket);
        await writeDurably(sidecar, sidecarBody);
      }
      await writeDurably(this.objectPath(bucket, key), body);
    } catch (error) {
      await removeFile(sidecar).catch(() => undefined);
      throw new StorageUnavailableError(`cannot write ${bucket}/${key}: ${(error as Error).message}`, { cause: error });
    }
  }

  async get(bucket: string, key: string, options: GetOptions = {}): Promise<StoredObject> {
    this.check(bucket, key);
    let body: Buffer;
    try {
      body = await readWhole(this.objectPath(bucket, key));
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(bucket, key);
      throw new StorageUnavailableError(`cannot read ${bucket}/${key}: ${(error as Error).message}`, { cause: error });
    }
    if (options.metadata === false) return { body, metadata: {} };
    let metadata: Record<string, string> = {};
    try {
      const text = (await readWhole(this.metadataPath(bucket, `${key}.json`))).toString('utf8');
      metadata = JSON.parse(text) as Record<string, string>;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return { body, metadata };
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.check(bucket, key);
    // The object first: a crash in between leaves only an invisible sidecar.
    await removeFile(this.objectPath(bucket, key));
    await removeFile(this.metadataPath(bucket, `${key}.json`));
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    this.check(bucket, key);
    try {
      return (await stat(this.objectPath(bucket, key))).isFile();
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async list(bucket: string, prefix = ''): Promise<ObjectInfo[]> {
    assertSafeName('bucket', bucket);
    let names: string[];
    try {
      names = await readdir(this.objectPath(bucket));
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    const infos: ObjectInfo[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.') || !name.startsWith(prefix)) continue;
      try {
        const info = await stat(this.objectPath(bucket, name));
        if (info.isFile()) infos.push({ key: name, size: info.size, lastModified: info.mtime });
      } catch (error) {
        if (!isNotFound(error)) throw error; // deleted while listing
      }
    }
    return infos;
  }

  async close(): Promise<void> {}

  private check(bucket: string, key: string): void {
    assertSafeName('bucket', bucket);
    assertSafeName('key', key);
  }

  private objectPath(bucket: string, key?: string): string {
    return key === undefined ? join(this.root, bucket) : join(this.root, bucket, key);
  }

  private metadataPath(bucket: string, name?: string): string {
    return name === undefined ? join(this.root, '.metadata', bucket) : join(this.root, '.metadata', bucket, name);
  }
}

// node:fs's callback functions, each wrapped in one promise (see the module comment for why not fs/promises).
const openFile = promisify(open);
const writeChunk = promisify(write);
const syncFile = promisify(fsync);
const closeFile = promisify(close);
const renameFile = promisify(rename);
const unlinkFile = promisify(unlink);
/** The whole file: open, fstat, read, close with one callback per step (no FileHandle). */
const readWhole = promisify(readFile);

/** Temporary file, written whole, fsynced, closed, renamed into place. */
async function writeDurably(path: string, data: Buffer): Promise<void> {
  // Hidden name: list() skips it, so a reader never sees a half-written object.
  const temporary = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  const fd = await openFile(temporary, 'wx', PRIVATE_FILE_MODE);
  try {
    await writeAll(fd, data);
    await syncFile(fd);
  } catch (error) {
    await closeFile(fd).catch(() => undefined);
    await removeFile(temporary).catch(() => undefined);
    throw error;
  }
  try {
    await closeFile(fd);
    await renameFile(temporary, path);
  } catch (error) {
    await removeFile(temporary).catch(() => undefined);
    throw error;
  }
}

/** fs.write may write less than asked: loops until every byte is written (usually once). */
async function writeAll(fd: number, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    offset += (await writeChunk(fd, data, offset, data.length - offset, null)).bytesWritten;
  }
}

/** Deletes a file; a missing one is fine. One unlink, where fs.rm would lstat first. */
async function removeFile(path: string): Promise<void> {
  await unlinkFile(path).catch((error: unknown) => {
    if (!isNotFound(error)) throw error;
  });
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

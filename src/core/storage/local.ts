/**
 * Local-directory object store: `<dir>/<bucket>/<key>`, user metadata in
 * `<dir>/.metadata/<bucket>/<key>.json`. Writes go to a temporary file, are fsynced and renamed
 * into place, so a crash never leaves a half-written photo under its real name.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  assertSafeName,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  StorageUnavailableError,
  type StoredObject,
} from './types.js';

export class LocalObjectStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
    this.description = `local directory ${this.root}`;
  }

  async ensureBucket(bucket: string): Promise<void> {
    assertSafeName('bucket', bucket);
    await mkdir(this.objectPath(bucket), { recursive: true });
    await mkdir(this.metadataPath(bucket), { recursive: true });
  }

  async put(bucket: string, key: string, body: Buffer, metadata: Record<string, string> = {}): Promise<void> {
    this.check(bucket, key);
    try {
      await this.ensureBucket(bucket);
      await writeDurably(this.metadataPath(bucket, `${key}.json`), Buffer.from(JSON.stringify(metadata)));
      await writeDurably(this.objectPath(bucket, key), body);
    } catch (error) {
      await rm(this.metadataPath(bucket, `${key}.json`), { force: true }).catch(() => undefined);
      throw new StorageUnavailableError(`cannot write ${bucket}/${key}: ${(error as Error).message}`, { cause: error });
    }
  }

  async get(bucket: string, key: string): Promise<StoredObject> {
    this.check(bucket, key);
    let body: Buffer;
    try {
      body = await readFile(this.objectPath(bucket, key));
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(bucket, key);
      throw new StorageUnavailableError(`cannot read ${bucket}/${key}: ${(error as Error).message}`, { cause: error });
    }
    let metadata: Record<string, string> = {};
    try {
      metadata = JSON.parse(await readFile(this.metadataPath(bucket, `${key}.json`), 'utf8')) as Record<string, string>;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return { body, metadata };
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.check(bucket, key);
    await rm(this.objectPath(bucket, key), { force: true });
    await rm(this.metadataPath(bucket, `${key}.json`), { force: true });
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

async function writeDurably(path: string, data: Buffer): Promise<void> {
  // Hidden name: list() skips it, so a reader never sees a half-written object.
  const temporary = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

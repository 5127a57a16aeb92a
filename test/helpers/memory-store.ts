/** An in-memory ObjectStore for unit tests; `freeze()` makes every later call hang (a dead process). */
import {
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  type StoredObject,
} from '../../src/core/storage/index.js';

export class MemoryStore implements ObjectStore {
  readonly description = 'memory';
  readonly objects = new Map<string, StoredObject & { lastModified: Date }>();

  constructor(private readonly now: () => number) {}

  async ensureBucket(): Promise<void> {}

  async put(bucket: string, key: string, body: Buffer, metadata: Record<string, string> = {}): Promise<void> {
    this.objects.set(`${bucket}/${key}`, { body, metadata, lastModified: new Date(this.now()) });
  }

  async get(bucket: string, key: string): Promise<StoredObject> {
    const object = this.objects.get(`${bucket}/${key}`);
    if (!object) throw new ObjectNotFoundError(bucket, key);
    return { body: object.body, metadata: object.metadata };
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.objects.delete(`${bucket}/${key}`);
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    return this.objects.has(`${bucket}/${key}`);
  }

  async list(bucket: string, prefix = ''): Promise<ObjectInfo[]> {
    return [...this.objects.entries()]
      .filter(([path]) => path.startsWith(`${bucket}/${prefix}`))
      .map(([path, object]) => ({
        key: path.slice(bucket.length + 1),
        size: object.body.length,
        lastModified: object.lastModified,
      }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async close(): Promise<void> {}

  /** The same objects seen through a store that hangs for ever once `frozen()` is true. */
  view(frozen: () => boolean): ObjectStore {
    const hang = <T>(operation: () => Promise<T>) => (frozen() ? new Promise<T>(() => undefined) : operation());
    return {
      description: this.description,
      ensureBucket: () => hang(() => this.ensureBucket()),
      put: (bucket, key, body, metadata) => hang(() => this.put(bucket, key, body, metadata)),
      get: (bucket, key) => hang(() => this.get(bucket, key)),
      delete: (bucket, key) => hang(() => this.delete(bucket, key)),
      exists: (bucket, key) => hang(() => this.exists(bucket, key)),
      list: (bucket, prefix) => hang(() => this.list(bucket, prefix)),
      close: async () => undefined,
    };
  }
}

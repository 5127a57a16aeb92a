/**
 * Object storage, as every service sees it. Two implementations with the same semantics:
 * a local directory (the embedded default) and S3 (MinIO, AWS, any S3-compatible endpoint).
 */
export interface StoredObject {
  body: Buffer;
  metadata: Record<string, string>;
}

export interface GetOptions {
  /** Default true. */
  metadata?: boolean;
}

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

export interface ObjectStore {
  /** Human-readable location, for logs and startup banners (no secrets). */
  readonly description: string;
  /** Creates the bucket if it does not exist. */
  ensureBucket(bucket: string): Promise<void>;
  /** Writes the object durably; a reader sees either nothing or the whole object. */
  put(bucket: string, key: string, body: Buffer, metadata?: Record<string, string>): Promise<void>;
  /**
   * Throws ObjectNotFoundError when the object does not exist. With `metadata: false` the caller
   * reads only the body, and a store that keeps metadata apart may skip reading it (returns `{}`).
   */
  get(bucket: string, key: string, options?: GetOptions): Promise<StoredObject>;
  /** Idempotent: deleting a missing object succeeds. */
  delete(bucket: string, key: string): Promise<void>;
  exists(bucket: string, key: string): Promise<boolean>;
  /** Objects whose key starts with `prefix`, in key order. */
  list(bucket: string, prefix?: string): Promise<ObjectInfo[]>;
  close(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override name = 'ObjectNotFoundError';
  constructor(
    readonly bucket: string,
    readonly key: string,
  ) {
    super(`object ${bucket}/${key} does not exist`);
  }
}

/** The store could not be reached or refused the operation; the caller may retry later. */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

export class InvalidObjectKeyError extends Error {
  override name = 'InvalidObjectKeyError';
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Bucket and key names must be plain names: no separators, traversal or hidden files. */
export function assertSafeName(kind: 'bucket' | 'key', name: string): void {
  if (name.length === 0 || name.length > 255 || !SAFE_NAME.test(name) || name.includes('..')) {
    throw new InvalidObjectKeyError(`unsafe ${kind} name: ${JSON.stringify(name.slice(0, 80))}`);
  }
}

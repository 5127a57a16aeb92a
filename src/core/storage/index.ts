import type { StorageConfig } from '../config.js';
import { LocalObjectStore } from './local.js';
import { S3ObjectStore } from './s3.js';
import type { ObjectStore } from './types.js';

export * from './types.js';
export { LocalObjectStore, S3ObjectStore };

export function createObjectStore(config: StorageConfig): ObjectStore {
  return config.kind === 'local' ? new LocalObjectStore(config.dir) : new S3ObjectStore(config);
}

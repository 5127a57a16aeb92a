import { randomUUID } from 'node:crypto';

/** The one bucket every photo lives in (seed format: `people-counter-images/image<uuid>.jpg`). */
export const IMAGE_BUCKET = 'people-counter-images';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** `image<uuid>.jpg` (seed) and `image-<uuid>.jpg` (original ingestion daemon). */
const IMAGE_KEY = /^image-?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jpg$/i;
/** A device ID must be usable as one MQTT topic level and as a path segment. */
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export const MAX_DEVICE_ID_LENGTH = 128;

export function isUuidV4(value: string): boolean {
  return UUID_V4.test(value);
}

/**
 * Why a device ID is unacceptable, or null when it is fine. Accepts non-UUID IDs (the original
 * daemon uses management-platform IDs) as long as they are safe as a topic level and file name.
 */
export function deviceIdProblem(value: string): string | null {
  if (value.length === 0) return 'deviceID is empty';
  if (value.length > MAX_DEVICE_ID_LENGTH) return `deviceID is longer than ${MAX_DEVICE_ID_LENGTH} characters`;
  if (/[/#+]/.test(value)) return 'deviceID contains an MQTT wildcard or separator (/ # +)';
  if (value.includes('..')) return 'deviceID contains ".."';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'deviceID contains control characters';
  if (!DEVICE_ID.test(value))
    return 'deviceID may contain only letters, digits and . _ : @ - (and must start with a letter or digit)';
  return null;
}

export function newDeviceId(): string {
  return randomUUID();
}

/** Object key for a newly ingested photo: `image<uuid>.jpg`. */
export function newImageKey(): string {
  return `image${randomUUID()}.jpg`;
}

/**
 * The object metadata ingestion stores with each photo, from which the orphan sweeper rebuilds a
 * metadata message that was lost (src/inference/orphan-sweeper.ts).
 */
export const PHOTO_OBJECT_METADATA = { deviceId: 'device-id', creationTimestamp: 'creation-timestamp' } as const;

/** The object metadata stored with a photo. Pure. */
export function photoObjectMetadata(deviceId: string, creationTimestamp: number): Record<string, string> {
  return {
    [PHOTO_OBJECT_METADATA.deviceId]: deviceId,
    [PHOTO_OBJECT_METADATA.creationTimestamp]: String(creationTimestamp),
  };
}

export function filePathOf(key: string, bucket = IMAGE_BUCKET): string {
  return `${bucket}/${key}`;
}

export interface ParsedFilePath {
  bucket: string;
  key: string;
}

/** Why a filePath is refused: outside our bucket, a traversal attempt, or a name that is not a photo's. */
export type FilePathProblemKind = 'wrong-bucket' | 'path-traversal' | 'bad-name';

export interface FilePathProblem {
  kind: FilePathProblemKind;
  problem: string;
}

/**
 * Splits `bucket/key` and rejects anything that is not exactly a photo of our bucket: other
 * buckets, nested paths, traversal, or names outside the two known patterns.
 */
export function parseFilePath(filePath: string, bucket = IMAGE_BUCKET): ParsedFilePath | FilePathProblem {
  const slash = filePath.indexOf('/');
  if (slash < 0) return { kind: 'wrong-bucket', problem: 'filePath has no bucket (expected "<bucket>/<file>")' };
  const head = filePath.slice(0, slash);
  const key = filePath.slice(slash + 1);
  if (head !== bucket) return { kind: 'wrong-bucket', problem: `filePath is not in bucket "${bucket}"` };
  if (key.includes('/') || key.includes('\\') || key.includes('..')) {
    return { kind: 'path-traversal', problem: 'filePath contains a path separator or traversal' };
  }
  if (!IMAGE_KEY.test(key)) {
    return { kind: 'bad-name', problem: 'filePath is not named image<uuid>.jpg or image-<uuid>.jpg' };
  }
  return { bucket: head, key };
}

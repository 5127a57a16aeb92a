/**
 * What the inference service collects from the metadata topic, and the pure decisions about it:
 * turning a raw message into a work item, batching, and which photo of a batch is counted.
 */
import { createHash } from 'node:crypto';
import { parseFilePath } from '../core/ids.js';
import {
  type DeadLetterReason,
  metadataTopicMessageSchema,
  type PhotoMetadata,
  parseJsonMessage,
  payloadExcerpt,
} from '../core/messages.js';

/** A photo to count. Its key is its filePath. */
export interface PhotoItem {
  kind: 'photo';
  key: string;
  metadata: PhotoMetadata;
}

/** A metadata message we cannot use: it gets the outcome "failed" like a photo would. */
export interface InvalidItem {
  kind: 'invalid';
  /** `invalid:<hash of the payload>`: identical garbage delivered twice is one item. */
  key: string;
  reason: DeadLetterReason;
  detail: string;
  payload: string;
  deviceID?: string;
  filePath?: string;
}

/** A stored photo nobody announced and whose object metadata cannot rebuild its announcement. */
export interface OrphanItem {
  kind: 'orphan';
  key: string;
  detail: string;
}

export type WorkItem = PhotoItem | InvalidItem | OrphanItem;

export type Classified = { kind: 'item'; item: PhotoItem | InvalidItem } | { kind: 'ignore'; reason: 'legacy-result' };

/**
 * How every legacy result begins: `--legacy-results` publishes the original UI's shape, `type` first
 * (JSON.stringify keeps the order of toLegacyResult's fields), onto the metadata topic the original UI
 * reads, so that every instance receives each of them. Recognising the prefix spares each instance
 * parsing and validating a message it ignores anyway.
 */
const LEGACY_RESULT_PREFIX = Buffer.from('{"type":"result",');

/** Classifies one metadata-topic payload: a photo, a legacy result to ignore, or invalid input. */
export function classifyMetadataMessage(payload: Buffer | string): Classified {
  if (startsWithLegacyResult(payload)) return { kind: 'ignore', reason: 'legacy-result' };
  const parsed = parseJsonMessage(metadataTopicMessageSchema, payload);
  if (parsed.ok) {
    if (parsed.value.type === 'result') return { kind: 'ignore', reason: 'legacy-result' };
    return { kind: 'item', item: { kind: 'photo', key: parsed.value.filePath, metadata: parsed.value } };
  }
  const text = payloadExcerpt(payload);
  const key = `invalid:${createHash('sha256').update(payload).digest('hex').slice(0, 32)}`;
  const fields = looseFields(payload);
  const base = {
    kind: 'invalid' as const,
    key,
    payload: text,
    ...(fields.deviceID !== undefined ? { deviceID: fields.deviceID.slice(0, 200) } : {}),
    ...(fields.filePath !== undefined ? { filePath: fields.filePath.slice(0, 600) } : {}),
  };
  if (parsed.reason === 'invalid-json')
    return { kind: 'item', item: { ...base, reason: 'invalid-json', detail: parsed.detail } };
  return { kind: 'item', item: { ...base, reason: filePathReason(fields.filePath), detail: parsed.detail } };
}

function startsWithLegacyResult(payload: Buffer | string): boolean {
  const bytes = typeof payload === 'string' ? Buffer.from(payload.slice(0, LEGACY_RESULT_PREFIX.length)) : payload;
  return bytes.subarray(0, LEGACY_RESULT_PREFIX.length).equals(LEGACY_RESULT_PREFIX);
}

/** A malformed filePath is named precisely: another bucket, a traversal attempt, or just a bad name. */
export function filePathReason(filePath: string | undefined): DeadLetterReason {
  if (filePath === undefined) return 'invalid-schema';
  const parsed = parseFilePath(filePath);
  if (!('problem' in parsed) || parsed.kind === 'bad-name') return 'invalid-schema';
  return parsed.kind;
}

function looseFields(payload: Buffer | string): { deviceID?: string; filePath?: string } {
  try {
    const data: unknown = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    if (typeof data !== 'object' || data === null) return {};
    const record = data as Record<string, unknown>;
    return {
      ...(typeof record.deviceID === 'string' ? { deviceID: record.deviceID } : {}),
      ...(typeof record.filePath === 'string' ? { filePath: record.filePath } : {}),
    };
  } catch {
    return {};
  }
}

export interface DeviceGroup {
  counted: PhotoItem;
  superseded: PhotoItem[];
}

/**
 * The latest photo of each device is counted; the device's other photos in the batch are
 * superseded by it. Latest = greatest creationTimestamp, ties broken by the greater filePath.
 */
export function selectLatestPerDevice(photos: PhotoItem[]): DeviceGroup[] {
  const byDevice = new Map<string, PhotoItem[]>();
  for (const photo of photos) {
    const list = byDevice.get(photo.metadata.deviceID) ?? [];
    list.push(photo);
    byDevice.set(photo.metadata.deviceID, list);
  }
  const groups: DeviceGroup[] = [];
  for (const list of byDevice.values()) {
    const sorted = [...list].sort(compareNewestFirst);
    const [counted, ...superseded] = sorted as [PhotoItem, ...PhotoItem[]];
    groups.push({ counted, superseded });
  }
  return groups;
}

/** Sorts photos newest first: greater creationTimestamp, ties broken by the greater filePath. */
export function compareNewestFirst(a: PhotoItem, b: PhotoItem): number {
  const byTime = b.metadata.creationTimestamp - a.metadata.creationTimestamp;
  if (byTime !== 0) return byTime;
  return a.key < b.key ? 1 : a.key > b.key ? -1 : 0;
}

export interface BatchPlan {
  invalid: InvalidItem[];
  orphans: OrphanItem[];
  groups: DeviceGroup[];
}

/** Splits a won batch into what gets which outcome. */
export function planBatch(items: WorkItem[]): BatchPlan {
  const photos: PhotoItem[] = [];
  const invalid: InvalidItem[] = [];
  const orphans: OrphanItem[] = [];
  for (const item of items) {
    if (item.kind === 'photo') photos.push(item);
    else if (item.kind === 'invalid') invalid.push(item);
    else orphans.push(item);
  }
  return { invalid, orphans, groups: selectLatestPerDevice(photos) };
}

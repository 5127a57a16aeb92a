/**
 * The outcome messages an inference instance publishes (pure builders): counted (`result`),
 * superseded, and failed (`dead-letter`). Every item gets exactly one of them.
 */
import { randomUUID } from 'node:crypto';
import { ImageRejectedError, imageRejectionReason } from '../core/image.js';
import {
  type DeadLetterMessage,
  type DeadLetterReason,
  MESSAGE_VERSION,
  type ResultMessage,
  type SupersededMessage,
} from '../core/messages.js';
import type { CountResult } from '../core/people-counter.js';
import { decisionOf, UnusableImageError } from '../core/people-counter.js';
import type { InvalidItem, PhotoItem } from './work-items.js';

/** Who publishes, for which batch, and whether an earlier owner may have processed the item. */
export interface OutcomeContext {
  instanceId: string;
  batchId: string;
  reprocessed: boolean;
  /** Unix seconds. */
  now: number;
}

export function resultMessage(
  photo: PhotoItem,
  counted: CountResult,
  superseded: number,
  context: OutcomeContext,
  /** Version (short hash) of the camera profile that counted it; absent: the defaults. */
  profileVersion?: string,
): ResultMessage {
  return {
    type: 'result',
    version: MESSAGE_VERSION,
    resultId: randomUUID(),
    deviceID: photo.metadata.deviceID,
    count: counted.count,
    filePath: photo.key,
    creationTimestamp: photo.metadata.creationTimestamp,
    superseded,
    batchId: context.batchId,
    instanceId: context.instanceId,
    model: counted.model,
    analysedAt: context.now,
    latencyMs: Math.round((context.now - photo.metadata.creationTimestamp) * 1000),
    reprocessed: context.reprocessed,
    detections: counted.detections,
    ...(counted.heatMap !== undefined ? { heatMap: counted.heatMap } : {}),
    ...(counted.width !== undefined && counted.height !== undefined
      ? { width: counted.width, height: counted.height }
      : {}),
    ...decisionOf(counted),
    ...(profileVersion !== undefined ? { profile: profileVersion } : {}),
  };
}

export function supersededMessage(old: PhotoItem, counted: PhotoItem, context: OutcomeContext): SupersededMessage {
  return {
    type: 'superseded',
    version: MESSAGE_VERSION,
    deviceID: old.metadata.deviceID,
    filePath: old.key,
    creationTimestamp: old.metadata.creationTimestamp,
    supersededBy: counted.key,
    batchId: context.batchId,
    instanceId: context.instanceId,
    ...(context.reprocessed ? { reprocessed: true } : {}),
  };
}

export type DeadLetterFields = Partial<Pick<DeadLetterMessage, 'deviceID' | 'filePath' | 'payload'>>;

export function deadLetterMessage(
  reason: DeadLetterReason,
  detail: string,
  fields: DeadLetterFields,
  context: Pick<OutcomeContext, 'instanceId' | 'now'> & { reprocessed?: boolean; topic: string },
): DeadLetterMessage {
  return {
    type: 'dead-letter',
    version: MESSAGE_VERSION,
    reason,
    detail,
    service: 'inference',
    instanceId: context.instanceId,
    topic: context.topic,
    ...fields,
    at: context.now,
    ...(context.reprocessed ? { reprocessed: true } : {}),
  };
}

export function photoFields(photo: PhotoItem): Pick<DeadLetterMessage, 'deviceID' | 'filePath'> {
  return { deviceID: photo.metadata.deviceID, filePath: photo.key };
}

export function invalidFields(item: InvalidItem): DeadLetterFields {
  return {
    payload: item.payload,
    ...(item.deviceID !== undefined ? { deviceID: item.deviceID } : {}),
    ...(item.filePath !== undefined ? { filePath: item.filePath } : {}),
  };
}

export function analyticsFailureReason(error: unknown): DeadLetterReason {
  if (error instanceof ImageRejectedError) return imageRejectionReason(error);
  return error instanceof UnusableImageError ? 'undecodable-image' : 'analytics-error';
}

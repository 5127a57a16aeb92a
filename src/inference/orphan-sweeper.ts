/**
 * The orphan sweeper's decisions (pure): which stored photos nobody is handling. A photo whose
 * metadata never arrived (QoS 0 from the original daemon, a broker that dropped it, a crash
 * between store and publish) would otherwise stay in storage forever without an outcome.
 */
import { filePathOf, parseFilePath } from '../core/ids.js';
import { type PhotoMetadata, photoMetadataSchema } from '../core/messages.js';
import type { ObjectInfo } from '../core/storage/index.js';

export interface SweepView {
  /** Pending here, or owned by an active claim. */
  isHandled(filePath: string): boolean;
  isFinished(filePath: string): boolean;
}

export interface SweepPlan {
  /** Old enough and unknown: announce again (or fail as orphaned when it cannot be rebuilt). */
  reannounce: string[];
  /** Finished in this view but still stored (a delete that failed): delete. */
  leftover: string[];
}

export function planSweep(objects: ObjectInfo[], nowMs: number, minAgeMs: number, view: SweepView): SweepPlan {
  const plan: SweepPlan = { reannounce: [], leftover: [] };
  for (const object of objects) {
    const filePath = filePathOf(object.key);
    if ('problem' in parseFilePath(filePath)) continue; // not a photo of ours
    if (view.isFinished(filePath)) plan.leftover.push(filePath);
    else if (nowMs - object.lastModified.getTime() >= minAgeMs && !view.isHandled(filePath)) {
      plan.reannounce.push(filePath);
    }
  }
  return plan;
}

/** Object metadata written by ingestion, from which the announcement is rebuilt. */
export const DEVICE_ID_METADATA = 'device-id';
export const CREATION_TIMESTAMP_METADATA = 'creation-timestamp';

/** The metadata message for a stored photo, or why it cannot be rebuilt. */
export function rebuildMetadata(
  filePath: string,
  objectMetadata: Record<string, string>,
): { ok: true; metadata: PhotoMetadata } | { ok: false; detail: string } {
  const candidate = {
    type: 'data',
    deviceID: objectMetadata[DEVICE_ID_METADATA],
    filePath,
    creationTimestamp: Number(objectMetadata[CREATION_TIMESTAMP_METADATA]),
  };
  const parsed = photoMetadataSchema.safeParse(candidate);
  if (parsed.success) return { ok: true, metadata: parsed.data };
  return {
    ok: false,
    detail: `stored photo has no usable ${DEVICE_ID_METADATA}/${CREATION_TIMESTAMP_METADATA} object metadata; deleted unannounced`,
  };
}

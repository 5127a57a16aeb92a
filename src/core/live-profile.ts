/**
 * Camera profiles as live state on MQTT: engage publishes each device's current profile retained on
 * `<prefix>/devices/<id>/profile` (an empty retained message removes it), every inference instance
 * counts that device's next photos with it, and results name it by a short hash. Also the retained
 * request to keep a device's next photos for tuning (`<prefix>/devices/<id>/collect`).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { deviceIdSchema, unixSecondsSchema } from './messages.js';
import { type CameraProfile, cameraProfileSchema } from './people-counter.js';

export const PROFILE_MESSAGE_VERSION = 1;

export const profileMessageSchema = z.object({
  type: z.literal('profile'),
  version: z.literal(PROFILE_MESSAGE_VERSION),
  deviceID: deviceIdSchema,
  /** Counts up per device with every change in engage (revert adds a revision too). */
  revision: z.number().int().positive(),
  hash: z.string().min(1).max(64),
  profile: cameraProfileSchema,
  updatedAt: unixSecondsSchema,
});
export type ProfileMessage = z.infer<typeof profileMessageSchema>;

/** Bucket of photos kept for tuning: apart from the photos inference deletes after counting. */
export const TUNING_BUCKET = 'people-counter-tuning';

export const collectMessageSchema = z.object({
  type: z.literal('collect'),
  version: z.literal(PROFILE_MESSAGE_VERSION),
  deviceID: deviceIdSchema,
  sessionId: z.uuid(),
  /** Unix seconds after which nothing more is kept (the session's retention). */
  until: unixSecondsSchema,
});
export type CollectMessage = z.infer<typeof collectMessageSchema>;

/** Where the copy of photo `photoKey` for tuning session `sessionId` lives in TUNING_BUCKET. */
export function tuningKey(sessionId: string, photoKey: string): string {
  return `${sessionId}_${photoKey}`;
}

/** Keys are sorted so that equal profiles hash equally whatever order their fields were written in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** 12 hex digits of the SHA-256 of the profile's canonical JSON: what a result's `profile` field carries. */
export function profileHash(profile: CameraProfile): string {
  return createHash('sha256').update(canonicalJson(profile)).digest('hex').slice(0, 12);
}

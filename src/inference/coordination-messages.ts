/**
 * The messages of the inference instances' ordered coordination stream (docs/coordination.md).
 * Validated with zod on arrival; anything that does not fit is counted and ignored.
 */
import { z } from 'zod';

/**
 * 2: `claim`, `renew` and `offline` name the session (one connection) of their instance, and an
 * `offline` ends only that session's claims. Instances of another version ignore each other's
 * messages (they fail the schema), so upgrade every inference instance together.
 */
export const COORDINATION_VERSION = 2;

/** A claim names at most this many items (a batch), so a hostile claim cannot bloat every ledger. */
export const MAX_CLAIM_ITEMS = 1000;

const id = z.string().min(1).max(128);
/** One connection of an instance: random per connect, named in that connection's will (`offline`). */
const session = id;
const itemKeys = z.array(z.string().min(1).max(600)).max(MAX_CLAIM_ITEMS);
const version = z.literal(COORDINATION_VERSION);

export const claimMessageSchema = z.object({
  type: z.literal('claim'),
  version,
  claimId: id,
  instanceId: id,
  session,
  /** Item keys: the filePath of a photo, or `invalid:<hash>` for an unusable metadata message. */
  filePaths: itemKeys.min(1),
  leaseMs: z.number().int().positive().max(3_600_000),
});
export const renewMessageSchema = z.object({
  type: z.literal('renew'),
  version,
  claimId: id,
  instanceId: id,
  session,
  /** The claim's unfinished items, so that an instance that joined after the claim learns of it. */
  filePaths: itemKeys,
  leaseMs: z.number().int().positive().max(3_600_000),
});
export const doneMessageSchema = z.object({
  type: z.literal('done'),
  version,
  claimId: id,
  instanceId: id,
  filePaths: itemKeys,
});
export const expireMessageSchema = z.object({ type: z.literal('expire'), version, claimId: id, by: id });
export const offlineMessageSchema = z.object({ type: z.literal('offline'), version, instanceId: id, session });
export const releaseMessageSchema = z.object({ type: z.literal('release'), version, claimId: id, instanceId: id });
export const heartbeatMessageSchema = z.object({
  type: z.literal('heartbeat'),
  version,
  instanceId: id,
  pending: z.number().int().nonnegative(),
  activeClaims: z.number().int().nonnegative(),
});

export const coordinationMessageSchema = z.discriminatedUnion('type', [
  claimMessageSchema,
  renewMessageSchema,
  doneMessageSchema,
  expireMessageSchema,
  offlineMessageSchema,
  releaseMessageSchema,
  heartbeatMessageSchema,
]);
export type CoordinationMessage = z.infer<typeof coordinationMessageSchema>;
export type ClaimMessage = z.infer<typeof claimMessageSchema>;
export type RenewMessage = z.infer<typeof renewMessageSchema>;
export type DoneMessage = z.infer<typeof doneMessageSchema>;
export type ExpireMessage = z.infer<typeof expireMessageSchema>;
export type OfflineMessage = z.infer<typeof offlineMessageSchema>;
export type ReleaseMessage = z.infer<typeof releaseMessageSchema>;

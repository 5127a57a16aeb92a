/**
 * Every message that crosses MQTT, defined once. Inputs are validated here, at the edge; the
 * rest of the code trusts the inferred types. Documented in docs/messages.md.
 */
import { z } from 'zod';
import { deviceIdProblem, parseFilePath } from './ids.js';

export const MESSAGE_VERSION = 1;

/** Largest payload text kept in a dead letter, so a hostile message cannot bloat the broker. */
export const DEAD_LETTER_PAYLOAD_LIMIT = 4096;

export const deviceIdSchema = z.string().superRefine((value, ctx) => {
  const problem = deviceIdProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const filePathSchema = z
  .string()
  .max(512)
  .superRefine((value, ctx) => {
    const parsed = parseFilePath(value);
    if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
  });

/** Unix seconds as a float; milliseconds are a common mistake, so they get their own error. */
export const unixSecondsSchema = z
  .number()
  .finite()
  .positive()
  .refine((value) => value < 1e11, { message: 'timestamp looks like milliseconds; expected unix seconds' });

/** Photo metadata, exactly the seed format (extra fields are tolerated and dropped). */
export const photoMetadataSchema = z.object({
  type: z.literal('data'),
  deviceID: deviceIdSchema,
  filePath: filePathSchema,
  creationTimestamp: unixSecondsSchema,
});
export type PhotoMetadata = z.infer<typeof photoMetadataSchema>;

/**
 * The original engagement UI's result shape, published on the metadata topic when enabled.
 * Consumers of the metadata topic must ignore it rather than dead-letter it.
 */
export const legacyResultSchema = z.object({
  type: z.literal('result'),
  deviceID: z.string(),
  filePath: z.string(),
  creationTimestamp: z.number(),
  analysisMetadata: z.object({ results: z.object({ count: z.number().int().nonnegative() }) }),
});
export type LegacyResult = z.infer<typeof legacyResultSchema>;

/** Anything that may legitimately appear on the metadata topic. */
export const metadataTopicMessageSchema = z.discriminatedUnion('type', [photoMetadataSchema, legacyResultSchema]);
export type MetadataTopicMessage = z.infer<typeof metadataTopicMessageSchema>;

export const detectionSchema = z.object({
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  score: z.number(),
});
export type Detection = z.infer<typeof detectionSchema>;

/**
 * How a count was made, where the counter says (all optional: older counters and stand-ins omit them).
 * `method`: `detector` or `density`. `regime`: `profile` (the camera's own settings), `whole-frame` (the
 * default, one pass), `density` (the default, a crowd: the density network after the first pass) or
 * `zoom` (the default for a crowd where the density network cannot run: tiles after the first pass). `tiling` as `ROWSxCOLS@OVERLAP`, `passes`
 * the model runs it took, `hints` e.g. `crowd-view` (many weak candidates left uncounted: the view may
 * be undercounted; calibrating the camera would help).
 */
export const countDecisionFields = {
  /** What counted: the person detector's boxes, or the crowd-density network's map (absent before 2026-12). */
  method: z.enum(['detector', 'density']).optional(),
  regime: z.string().optional(),
  tiling: z.string().optional(),
  passes: z.number().int().positive().optional(),
  hints: z.array(z.string()).optional(),
};

/** People per cell of a coarse grid laid over the whole photo (row-major): what a density count saw. */
export const heatMapSchema = z
  .object({
    cols: z.number().int().min(1).max(64),
    rows: z.number().int().min(1).max(64),
    values: z.array(z.number().nonnegative()).max(4096),
  })
  .refine((map) => map.values.length === map.cols * map.rows, { message: 'one value per cell' });
export type HeatMap = z.infer<typeof heatMapSchema>;

/**
 * The counted photo's size in pixels (after EXIF orientation; what boxes and the heat map refer to).
 * Optional: counters before 2026-12 omit it, and readers of older messages ignore it.
 */
export const photoSizeFields = {
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
};

/** One counted photo: the outcome "counted". Published on `<prefix>/results` and retained per device. */
export const resultMessageSchema = z.object({
  type: z.literal('result'),
  version: z.literal(MESSAGE_VERSION),
  resultId: z.string().min(1).max(128),
  deviceID: deviceIdSchema,
  count: z.number().int().nonnegative(),
  filePath: z.string(),
  creationTimestamp: unixSecondsSchema,
  /** How many photos of the same device in the same batch this one superseded (never analysed). */
  superseded: z.number().int().nonnegative(),
  batchId: z.string(),
  instanceId: z.string(),
  model: z.string(),
  /** Unix seconds. */
  analysedAt: unixSecondsSchema,
  /** analysedAt − creationTimestamp, in milliseconds. */
  latencyMs: z.number(),
  /** True when this photo was re-processed after another instance's lease expired (see docs/coordination.md). */
  reprocessed: z.boolean().default(false),
  detections: z.array(detectionSchema).optional(),
  /** Density counts: where the people were (the dashboard's heat map). */
  heatMap: heatMapSchema.optional(),
  ...photoSizeFields,
  ...countDecisionFields,
  /** Short hash of the camera profile that counted this photo (absent: the defaults). */
  profile: z.string().optional(),
});
export type ResultMessage = z.infer<typeof resultMessageSchema>;

/** The outcome "superseded": a newer photo of the same device in the same batch was counted instead. */
export const supersededMessageSchema = z.object({
  type: z.literal('superseded'),
  version: z.literal(MESSAGE_VERSION),
  deviceID: deviceIdSchema,
  filePath: z.string(),
  creationTimestamp: unixSecondsSchema,
  supersededBy: z.string(),
  batchId: z.string(),
  instanceId: z.string(),
  /** True when published by an instance that won this photo after another instance's lease expired. */
  reprocessed: z.boolean().optional(),
});
export type SupersededMessage = z.infer<typeof supersededMessageSchema>;

export const deadLetterReasons = [
  'invalid-json',
  'invalid-schema',
  'wrong-bucket',
  'path-traversal',
  'object-missing',
  'undecodable-image',
  'image-too-large',
  'analytics-error',
  'storage-error',
  'publish-error',
  'orphaned-photo',
  /** Input refused because the service's queue was full (load shedding), e.g. an MQTT photo flood. */
  'overloaded',
  /** A message on one of our own topics without a valid HMAC (PEOPLE_COUNTER_MESSAGE_SECRET): never applied. */
  'unauthenticated',
] as const;
export const deadLetterReasonSchema = z.enum(deadLetterReasons);
export type DeadLetterReason = z.infer<typeof deadLetterReasonSchema>;

/** The outcome "failed", and the sink for any input we cannot use. Published on `<prefix>/dead-letter`. */
export const deadLetterMessageSchema = z.object({
  type: z.literal('dead-letter'),
  version: z.literal(MESSAGE_VERSION),
  reason: deadLetterReasonSchema,
  detail: z.string(),
  service: z.string(),
  instanceId: z.string(),
  /** The topic the offending input arrived on, when it came over MQTT. */
  topic: z.string().optional(),
  deviceID: z.string().optional(),
  filePath: z.string().optional(),
  /** The offending payload as text, cut to DEAD_LETTER_PAYLOAD_LIMIT characters. */
  payload: z.string().optional(),
  at: unixSecondsSchema,
  /** True when published by an instance that won this input after another instance's lease expired. */
  reprocessed: z.boolean().optional(),
});
export type DeadLetterMessage = z.infer<typeof deadLetterMessageSchema>;

/** An occupancy alert raised or cleared by engage. Published on `<prefix>/alerts` (docs/engage.md). */
export const alertMessageSchema = z.object({
  type: z.literal('alert'),
  version: z.literal(MESSAGE_VERSION),
  alertId: z.string(),
  state: z.enum(['raised', 'cleared']),
  ruleId: z.string(),
  scope: z.enum(['device', 'site']),
  /** The device ID or site name the rule watches. */
  target: z.string(),
  /** The count that crossed the threshold. */
  count: z.number().nonnegative(),
  capacity: z.number().int().positive().nullable(),
  /** Raised at or above this count. */
  raiseAt: z.number().nonnegative(),
  /** Cleared below this count (for a `below` rule: at or above it). */
  clearBelow: z.number().nonnegative(),
  /** Present for rules that raise when the count is below `raiseAt`; absent: at or above. */
  direction: z.literal('below').optional(),
  at: unixSecondsSchema,
});
export type AlertMessage = z.infer<typeof alertMessageSchema>;

export const availabilityStates = ['online', 'offline'] as const;
export type AvailabilityState = (typeof availabilityStates)[number];

export type ParseOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'invalid-json' | 'invalid-schema'; detail: string };

/** Parses a JSON MQTT payload against a schema, saying precisely what is wrong when it does not fit. */
export function parseJsonMessage<T>(schema: z.ZodType<T>, payload: Buffer | string): ParseOutcome<T> {
  let data: unknown;
  try {
    data = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'invalid-json', detail: `payload is not JSON: ${(error as Error).message}` };
  }
  const result = schema.safeParse(data);
  if (!result.success) return { ok: false, reason: 'invalid-schema', detail: describeZodError(result.error) };
  return { ok: true, value: result.data };
}

export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

export function payloadExcerpt(payload: Buffer | string): string {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  return text.length > DEAD_LETTER_PAYLOAD_LIMIT ? `${text.slice(0, DEAD_LETTER_PAYLOAD_LIMIT)}…` : text;
}

export function nowSeconds(): number {
  return Date.now() / 1000;
}

/** Builds the original engagement UI's result from ours. */
export function toLegacyResult(result: ResultMessage): LegacyResult {
  return {
    type: 'result',
    deviceID: result.deviceID,
    filePath: result.filePath,
    creationTimestamp: result.creationTimestamp,
    analysisMetadata: { results: { count: result.count } },
  };
}

/** Engage's settings, validated once; the CLI (src/cli/commands/engage.ts) and `up` build them. */
import { z } from 'zod';
import { ConfigError, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_INGEST_URL, type MqttConfig } from '../core/config.js';
import { connectionLimitsSchema } from '../core/connection-limits.js';
import { originSchema } from '../core/cross-site.js';
import { DEFAULT_IMAGE_LIMITS } from '../core/image.js';
import { describeZodError } from '../core/messages.js';
import { DEFAULT_DISCOVERY_PREFIX } from '../core/topics.js';

/** Every default of engage's settings; the CLI and `up` show and use these. */
export const ENGAGE_DEFAULTS = {
  host: DEFAULT_HOST,
  port: 8080,
  dbPath: `${DEFAULT_DATA_DIR}/engage.db`,
  retentionMs: 90 * 86_400_000,
  pruneIntervalMs: 3_600_000,
  staleAfterMs: 300_000,
  ingestUrl: DEFAULT_INGEST_URL,
  webhookTimeoutMs: 5000,
  webhookRetries: 3,
  haDiscoveryPrefix: DEFAULT_DISCOVERY_PREFIX,
  /** Uploads go to ingestion, which refuses larger photos anyway. */
  maxUploadBytes: DEFAULT_IMAGE_LIMITS.maxBytes,
  tuningRetentionMs: 86_400_000,
} as const;

export const engageSettingsSchema = z.object({
  host: z.string().default(ENGAGE_DEFAULTS.host),
  port: z.number().int().min(0).max(65535).default(ENGAGE_DEFAULTS.port),
  /** SQLite file, or `:memory:`. */
  dbPath: z.string().min(1).default(ENGAGE_DEFAULTS.dbPath),
  retentionMs: z.number().int().positive().default(ENGAGE_DEFAULTS.retentionMs),
  pruneIntervalMs: z.number().int().positive().default(ENGAGE_DEFAULTS.pruneIntervalMs),
  /** No count stays live longer than this after its photo (`photoLiveness` in occupancy.ts). */
  staleAfterMs: z.number().int().positive().default(ENGAGE_DEFAULTS.staleAfterMs),
  /** Bearer token required for writes (and reads with protectReads); undefined refuses writes. */
  token: z.string().min(8, 'the engage token must have at least 8 characters').optional(),
  protectReads: z.boolean().default(false),
  /** Accept writes without a token (demos; `up` uses it and logs it loudly). */
  openWrites: z.boolean().default(false),
  /** With open writes, Host names answered besides loopback names and `host` (DNS rebinding). */
  allowedHosts: z.array(z.string().min(1)).default([]),
  /**
   * Origins whose pages may make changes besides the dashboard's own (whose Origin names the Host the
   * request came to): a dashboard behind a reverse proxy that rewrites Host.
   */
  allowedOrigins: z.array(originSchema).default([]),
  ingestUrl: z.string().url().default(ENGAGE_DEFAULTS.ingestUrl),
  /** Sent to ingestion with uploads when it requires a device token (PEOPLE_COUNTER_INGEST_TOKEN). */
  ingestToken: z.string().min(1).optional(),
  webhookUrl: z.string().url().optional(),
  webhookTimeoutMs: z.number().int().positive().default(ENGAGE_DEFAULTS.webhookTimeoutMs),
  webhookRetries: z.number().int().min(0).max(10).default(ENGAGE_DEFAULTS.webhookRetries),
  haDiscovery: z.boolean().default(true),
  haDiscoveryPrefix: z
    .string()
    .min(1)
    .regex(/^[^#+]+$/, 'discovery prefix must not contain wildcards')
    .default(ENGAGE_DEFAULTS.haDiscoveryPrefix),
  /**
   * Shared secret of result messages' HMAC (src/core/message-auth.ts): with it, a result without a
   * valid signature is dropped and counted, never stored. Undefined: results are not checked.
   */
  messageSecret: z.string().optional(),
  /** Caps on the dashboard's and API's connections; default DEFAULT_CONNECTION_LIMITS. */
  connectionLimits: connectionLimitsSchema.optional(),
  /** Largest photo the dashboard may upload. */
  maxUploadBytes: z.number().int().positive().default(ENGAGE_DEFAULTS.maxUploadBytes),
  /** Photos kept for tuning a camera are deleted this long after the session started, if not applied before. */
  tuningRetentionMs: z.number().int().positive().default(ENGAGE_DEFAULTS.tuningRetentionMs),
});
export type EngageSettings = z.infer<typeof engageSettingsSchema>;

export interface EngageConfig extends EngageSettings {
  mqtt: MqttConfig;
  instanceId: string;
}

export function engageConfig(
  mqtt: MqttConfig,
  instanceId: string,
  settings: z.input<typeof engageSettingsSchema>,
): EngageConfig {
  const parsed = engageSettingsSchema.safeParse(settings);
  if (!parsed.success) throw new ConfigError(`invalid engage settings: ${describeZodError(parsed.error)}`);
  return { ...parsed.data, mqtt, instanceId };
}

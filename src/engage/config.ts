/** Engage's settings, validated once; the CLI (src/cli/commands/engage.ts) and `up` build them. */
import { z } from 'zod';
import type { MqttConfig } from '../core/config.js';
import { ConfigError } from '../core/config.js';
import { describeZodError } from '../core/messages.js';
import { DEFAULT_DISCOVERY_PREFIX } from './home-assistant.js';

export const DEFAULT_ENGAGE_PORT = 8080;
export const DEFAULT_INGEST_URL = 'http://127.0.0.1:8081';
export const DEFAULT_DB_PATH = './people-counter-data/engage.db';
export const DEFAULT_TUNING_RETENTION_MS = 86_400_000;

export const engageSettingsSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(DEFAULT_ENGAGE_PORT),
  /** SQLite file, or `:memory:`. */
  dbPath: z.string().min(1).default(DEFAULT_DB_PATH),
  retentionMs: z
    .number()
    .int()
    .positive()
    .default(90 * 86_400_000),
  pruneIntervalMs: z.number().int().positive().default(3_600_000),
  /** A count is stale when its photo is older than this. */
  staleAfterMs: z.number().int().positive().default(300_000),
  /** Bearer token required for writes (and reads with protectReads); undefined refuses writes. */
  token: z.string().min(8, 'the engage token must have at least 8 characters').optional(),
  protectReads: z.boolean().default(false),
  /** Accept writes without a token (demos; `up` uses it and logs it loudly). */
  openWrites: z.boolean().default(false),
  /** With open writes, Host names answered besides loopback names and `host` (DNS rebinding). */
  allowedHosts: z.array(z.string().min(1)).default([]),
  ingestUrl: z.string().url().default(DEFAULT_INGEST_URL),
  /** Sent to ingestion with uploads when it requires a device token (PEOPLE_COUNTER_INGEST_TOKEN). */
  ingestToken: z.string().min(1).optional(),
  webhookUrl: z.string().url().optional(),
  webhookTimeoutMs: z.number().int().positive().default(5000),
  webhookRetries: z.number().int().min(0).max(10).default(3),
  haDiscovery: z.boolean().default(true),
  haDiscoveryPrefix: z
    .string()
    .min(1)
    .regex(/^[^#+]+$/, 'discovery prefix must not contain wildcards')
    .default(DEFAULT_DISCOVERY_PREFIX),
  /**
   * Shared secret of result messages' HMAC (src/core/message-auth.ts): with it, a result without a
   * valid signature is dropped and counted, never stored. Undefined: results are not checked.
   */
  messageSecret: z.string().optional(),
  /** Largest photo the dashboard may upload. */
  maxUploadBytes: z.number().int().positive().default(10_000_000),
  /** Photos kept for tuning a camera are deleted this long after the session started, if not applied before. */
  tuningRetentionMs: z.number().int().positive().default(DEFAULT_TUNING_RETENTION_MS),
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

/**
 * Configuration shared by every service: MQTT, storage, logging. Values come from CLI flags or
 * environment variables (src/cli/options.ts) and are validated here before any service sees them.
 * Secrets come only from the environment or from files, never from flags.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describeZodError } from './messages.js';
import { DEFAULT_PREFIX } from './topics.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A JSON file the user named (`label` says how, e.g. the flag): unreadable or malformed is their input error, in one line. */
export function readJsonFile(path: string, label = path): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${label}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${label} is not JSON: ${(error as Error).message}`);
  }
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `10s`, `2m`, `1h`, `90d`; a bare number is milliseconds. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new ConfigError(`not a duration: "${text}" (use e.g. 500ms, 10s, 2m, 1h, 90d)`);
  return Math.round(Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? 'ms'] ?? 1));
}

/** The largest unit that expresses `ms` exactly: 5000 → `5s`, 90_000 → `90s`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNIT_MS[unit] ?? 1;
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?$/i;
const SIZE_UNIT: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** `10MB`, `512KiB`, `2000000`; a bare number is bytes. */
export function parseByteSize(text: string): number {
  const match = SIZE.exec(text.trim());
  if (!match) throw new ConfigError(`not a size: "${text}" (use e.g. 10MB, 512KiB)`);
  return Math.round(Number(match[1]) * (SIZE_UNIT[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

/** Reads a secret from an env var or, when `<NAME>_FILE` is set, from that file (Docker secrets style). */
export function readSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`cannot read ${name}_FILE (${file}): ${(error as Error).message}`);
    }
  }
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export const mqttConfigSchema = z.object({
  url: z
    .string()
    .url()
    .refine(
      (url) => /^(mqtts?|wss?|tcp|ssl):\/\//.test(url),
      'MQTT URL must start with mqtt://, mqtts://, ws:// or wss://',
    ),
  username: z.string().optional(),
  password: z.string().optional(),
  prefix: z
    .string()
    .min(1)
    .regex(/^[^#+]+$/, 'topic prefix must not contain wildcards')
    .refine((p) => !p.endsWith('/') && !p.startsWith('/'), 'topic prefix must not start or end with "/"'),
  metadataTopic: z
    .string()
    .min(1)
    .regex(/^[^#+]+$/, 'metadata topic must not contain wildcards'),
  protocolVersion: z.union([z.literal(4), z.literal(5)]),
});
export type MqttConfig = z.infer<typeof mqttConfigSchema>;

/** Servers bind to loopback unless told otherwise: nothing is reachable from the network by accident. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MQTT_PORT = 1883;
export const DEFAULT_MQTT_URL = `mqtt://${DEFAULT_HOST}:${DEFAULT_MQTT_PORT}`;
/** MQTT 3.1.1: aedes, the embedded broker, refuses 5. */
export const DEFAULT_MQTT_PROTOCOL = 4;
/** Where photos in flight (`storage/`) and the count history (`engage.db`) are kept on one machine. */
export const DEFAULT_DATA_DIR = './people-counter-data';
/** The ingestion REST API's port, and its URL with the defaults (engage uploads there; the simulator sends there). */
export const DEFAULT_INGEST_PORT = 8081;
export const DEFAULT_INGEST_URL = `http://${DEFAULT_HOST}:${DEFAULT_INGEST_PORT}`;

export type StorageConfig =
  | { kind: 'local'; dir: string }
  | {
      kind: 's3';
      /** Undefined means AWS's own endpoint for the region. */
      endpoint: string | undefined;
      region: string;
      forcePathStyle: boolean;
      accessKeyId: string | undefined;
      secretAccessKey: string | undefined;
    };

/**
 * `--storage` accepts a directory (`./data`, `file:./data`) or `s3://[host[:port]][?tls=false&region=…]`.
 * `s3://` alone means AWS; with a host it is an S3-compatible endpoint (MinIO) using path-style
 * addressing. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or *_FILE).
 */
export function parseStorageSpec(spec: string, env: NodeJS.ProcessEnv = process.env): StorageConfig {
  if (!spec.startsWith('s3://')) {
    const dir = spec.startsWith('file:') ? spec.slice('file:'.length) : spec;
    if (dir.length === 0) throw new ConfigError('storage directory is empty');
    return { kind: 'local', dir };
  }
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new ConfigError(`not a valid S3 storage URL: "${spec}" (use s3://host:port or s3://)`);
  }
  const tls = url.searchParams.get('tls');
  const region = url.searchParams.get('region') ?? env.AWS_REGION ?? 'us-east-1';
  const endpoint = url.host ? `${tls === 'true' ? 'https' : 'http'}://${url.host}` : undefined;
  return {
    kind: 's3',
    endpoint,
    region,
    forcePathStyle: endpoint !== undefined,
    accessKeyId: readSecret(env, 'AWS_ACCESS_KEY_ID'),
    secretAccessKey: readSecret(env, 'AWS_SECRET_ACCESS_KEY'),
  };
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface CommonConfig {
  mqtt: MqttConfig;
  logLevel: LogLevel;
}

export function validateMqttConfig(input: unknown): MqttConfig {
  const result = mqttConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(`invalid MQTT settings: ${describeZodError(result.error)}`);
  return result.data;
}

export function defaultMqttConfig(overrides: Partial<MqttConfig> = {}): MqttConfig {
  return validateMqttConfig({
    url: DEFAULT_MQTT_URL,
    prefix: DEFAULT_PREFIX,
    metadataTopic: `${overrides.prefix ?? DEFAULT_PREFIX}/images`,
    protocolVersion: DEFAULT_MQTT_PROTOCOL,
    ...overrides,
  });
}

/**
 * Option groups shared by the commands: each flag has an environment variable and a documented
 * default, and each group is validated into a typed config from src/core/config.ts.
 * Secrets (passwords, keys) are read only from the environment or from `*_FILE` files.
 */
import { randomBytes } from 'node:crypto';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import {
  ConfigError,
  DEFAULT_DATA_DIR,
  DEFAULT_MQTT_PROTOCOL,
  DEFAULT_MQTT_URL,
  type LogLevel,
  logLevels,
  type MqttConfig,
  parseByteSize,
  parseDuration,
  parseStorageSpec,
  readSecret,
  type StorageConfig,
  validateMqttConfig,
} from '../core/config.js';
import { type ConnectionLimits, connectionLimitsSchema, DEFAULT_CONNECTION_LIMITS } from '../core/connection-limits.js';
import { DEVICE_REGISTRY_FILE } from '../core/device-credentials.js';
import { LiveDeviceRegistry } from '../core/device-registry.js';
import { createLogger, DEFAULT_LOG_LEVEL, type LogFormat, type Logger, type LoggerOptions } from '../core/log.js';
import { MESSAGE_SECRET_ENV } from '../core/message-auth.js';
import { DEFAULT_PREFIX, defaultMetadataTopic, type ServiceName } from '../core/topics.js';
import { ENGAGE_DEFAULTS } from '../engage/config.js';
import { INGEST_DEFAULTS } from '../ingest/config.js';

export const ENV_PREFIX = 'PEOPLE_COUNTER_';

/** Environment variable name for a flag: `--mqtt-url` → `PEOPLE_COUNTER_MQTT_URL`. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

/** An option with `PEOPLE_COUNTER_<FLAG>` as its environment variable. */
export function option(flags: string, description: string): Option {
  const long = flags.split(/[ ,]+/).find((part) => part.startsWith('--'));
  if (!long) throw new Error(`option ${flags} has no long flag`);
  return new Option(flags, description).env(envName(long));
}

/** A commander argument parser from a parser that throws: its message becomes commander's "invalid argument". */
export function argParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

export const durationArg = argParser(parseDuration);

export const byteSizeArg = argParser(parseByteSize);

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return parsed;
  };
}

export function numberArg(min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    }
    return parsed;
  };
}

export function addMqttOptions(command: Command): Command {
  command
    .addOption(option('--mqtt-url <url>', 'MQTT broker URL (mqtt://, mqtts://, ws://)').default(DEFAULT_MQTT_URL))
    .addOption(
      option(
        '--mqtt-username <name>',
        `MQTT username (password from ${ENV_PREFIX}MQTT_PASSWORD or ${ENV_PREFIX}MQTT_PASSWORD_FILE)`,
      ),
    )
    .addOption(
      option('--mqtt-protocol <version>', 'MQTT protocol version: 4 (3.1.1) or 5')
        .choices(['4', '5'])
        .default(String(DEFAULT_MQTT_PROTOCOL)),
    );
  return addTopicOptions(command);
}

/** The topic layout (src/core/topics.ts): the prefix and the metadata topic. */
export function addTopicOptions(command: Command): Command {
  return command
    .addOption(
      option('--topic-prefix <prefix>', 'prefix of every topic except the metadata topic').default(DEFAULT_PREFIX),
    )
    .addOption(
      option(
        '--metadata-topic <topic>',
        'topic of photo metadata, default <prefix>/images (the original daemon uses image/latest)',
      ),
    );
}

const mqttOptionsSchema = z.object({
  mqttUrl: z.string(),
  mqttUsername: z.string().optional(),
  mqttProtocol: z.enum(['4', '5']),
  topicPrefix: z.string(),
  metadataTopic: z.string().optional(),
});

export function mqttConfigFromOptions(options: unknown, env: NodeJS.ProcessEnv = process.env): MqttConfig {
  const parsed = parseOptions(mqttOptionsSchema, options);
  const metadataTopic = parsed.metadataTopic ?? defaultMetadataTopic(parsed.topicPrefix);
  const password = readSecret(env, `${ENV_PREFIX}MQTT_PASSWORD`);
  return validateMqttConfig({
    url: parsed.mqttUrl,
    prefix: parsed.topicPrefix,
    metadataTopic,
    protocolVersion: parsed.mqttProtocol === '5' ? 5 : 4,
    ...(parsed.mqttUsername !== undefined ? { username: parsed.mqttUsername } : {}),
    ...(password !== undefined ? { password } : {}),
  });
}

export function addStorageOptions(command: Command, defaultSpec = `${DEFAULT_DATA_DIR}/storage`): Command {
  return command.addOption(
    option(
      '--storage <spec>',
      'object storage: a directory, or s3://host:port (MinIO; ?tls=true for https, ?region=…) or s3:// (AWS); S3 credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY',
    ).default(defaultSpec),
  );
}

export function storageConfigFromOptions(options: unknown, env: NodeJS.ProcessEnv = process.env): StorageConfig {
  const { storage } = parseOptions(z.object({ storage: z.string().min(1) }), options);
  return parseStorageSpec(storage, env);
}

export function addLogOptions(command: Command): Command {
  return command
    .addOption(
      option('--log-level <level>', 'log level')
        .choices([...logLevels])
        .default(DEFAULT_LOG_LEVEL),
    )
    .addOption(
      option('--log-format <format>', 'log format (default: pretty on a terminal, else json)').choices([
        'json',
        'pretty',
      ]),
    )
    .addOption(option('--instance-id <id>', "this instance's ID in topics, logs and metrics (default: random)"));
}

const logOptionsSchema = z.object({
  logLevel: z.enum(logLevels),
  logFormat: z.enum(['json', 'pretty']).optional(),
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/, 'instance ID: letters, digits, _ and -, at most 48')
    .optional(),
});

export interface ServiceIdentity {
  instanceId: string;
  logger: Logger;
  logLevel: LogLevel;
  logFormat: LogFormat | undefined;
}

export function identityFromOptions(
  service: ServiceName | 'up',
  options: unknown,
  outputs?: LoggerOptions['outputs'],
): ServiceIdentity {
  const parsed = parseOptions(logOptionsSchema, options);
  const instanceId = parsed.instanceId ?? randomBytes(4).toString('hex');
  const logger = createLogger({
    service,
    instanceId,
    level: parsed.logLevel,
    ...(parsed.logFormat ? { format: parsed.logFormat } : {}),
    ...(outputs ? { outputs } : {}),
  });
  return { instanceId, logger, logLevel: parsed.logLevel, logFormat: parsed.logFormat };
}

/** `a.example, b.example` → the items (host names, origins). */
export function hostList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

/** Validates a command's options; a mismatch is a programming or config error with a clear message. */
export function parseOptions<T>(schema: z.ZodType<T>, options: unknown): T {
  const result = schema.safeParse(options);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues
        .map(
          (issue) =>
            `--${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`,
        )
        .join('; '),
    );
  }
  return result.data;
}

/** `--batch-size`: shared by `inference` and `up`, each with its default. */
export function batchSizeOption(defaultSize: number): Option {
  return option(
    '--batch-size <n>',
    'photos analysed per claim: one per camera (its older pending photos are superseded)',
  )
    .argParser(intArg(1, 1000))
    .default(defaultSize);
}

/** `--max-wait`: shared by `inference` and `up`, each with its default (`shown` in the help, if given). */
export function maxWaitOption(defaultMs: number, shown?: string): Option {
  return option('--max-wait <duration>', 'claim a partial batch after this wait')
    .argParser(durationArg)
    .default(defaultMs, shown);
}

/** `--outbox-max-devices`: shared by `ingest` and `up` (docs/ingest.md, "Broker outages"). */
export function outboxMaxDevicesOption(): Option {
  return option(
    '--outbox-max-devices <n>',
    'while the broker is away, REST photos of at most this many devices wait in the outbox (202; a newer photo of a device replaces its older one); beyond, 503. 0 = no outbox: 503 while the broker is away',
  )
    .argParser(intArg(0))
    .default(INGEST_DEFAULTS.outboxMaxDevices);
}

/** `--tuning-retention`: shared by `engage` and `up`. */
export function tuningRetentionOption(): Option {
  return option(
    '--tuning-retention <duration>',
    'photos kept for tuning a camera are deleted this long after tuning started, unless applied or cancelled before',
  )
    .argParser(durationArg)
    .default(ENGAGE_DEFAULTS.tuningRetentionMs, '24h');
}

/** `--insecure-unsigned`: shared by `inference` and `engage`, the services that sign or verify messages. */
export function insecureUnsignedOption(): Option {
  return option(
    '--insecure-unsigned',
    `start without ${MESSAGE_SECRET_ENV}: coordination and results are then neither signed nor verified, so any client of the broker can forge them (tests only)`,
  ).default(false);
}

/**
 * The secret that signs and verifies coordination and result messages, from the environment. A
 * service refuses to start without one unless `--insecure-unsigned` says so: a recipe that forgot
 * it would otherwise accept forged counts (docs/security.md).
 */
export function messageSecretFromOptions(options: unknown, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { insecureUnsigned } = parseOptions(z.object({ insecureUnsigned: z.boolean() }), options);
  const secret = readSecret(env, MESSAGE_SECRET_ENV);
  if (secret !== undefined || insecureUnsigned) return secret;
  throw new ConfigError(
    `no message secret: set ${MESSAGE_SECRET_ENV} (or ${MESSAGE_SECRET_ENV}_FILE, a file holding it) to the secret that inference and engage share, e.g. one made with \`openssl rand -hex 32\`; or pass --insecure-unsigned to run without signatures (anyone who can publish on the broker can then forge results)`,
  );
}

/** `--device-registry`: shared by `broker`, `ingest` and `engage` (`up` uses the one in its data directory). */
export function deviceRegistryOption(): Option {
  return option(
    '--device-registry <file>',
    `registered devices and their hashed secrets, as written by \`people-counter devices\` (<data-dir>/${DEVICE_REGISTRY_FILE}); followed while running`,
  );
}

/** The registry named by `--device-registry`, followed while running; undefined without the flag. */
export async function openDeviceRegistryOption(
  options: unknown,
  logger: Logger,
): Promise<LiveDeviceRegistry | undefined> {
  const { deviceRegistry } = parseOptions(z.object({ deviceRegistry: z.string().min(1).optional() }), options);
  return deviceRegistry === undefined ? undefined : LiveDeviceRegistry.open(deviceRegistry, { logger });
}

/** `--allowed-origins`: shared by `engage` and `up` (docs/security.md). */
export function allowedOriginsOption(): Option {
  return option(
    '--allowed-origins <origins>',
    "comma-separated origins (https://dashboard.example) whose pages may make changes besides the dashboard's own, e.g. behind a reverse proxy that rewrites Host",
  );
}

/** `--max-connections`, `--max-connections-per-address`: the caps of every listener a command opens. */
export function addConnectionLimitOptions(command: Command): Command {
  return command
    .addOption(
      option('--max-connections <n>', 'open connections per listener at most; more are closed at once')
        .argParser(intArg(1))
        .default(DEFAULT_CONNECTION_LIMITS.maxConnections),
    )
    .addOption(
      option(
        '--max-connections-per-address <n>',
        'open connections per listener from one client address at most (raise it behind a proxy or a NAT of many cameras)',
      )
        .argParser(intArg(1))
        .default(DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress),
    );
}

export function connectionLimitsFromOptions(options: unknown): ConnectionLimits {
  return parseOptions(connectionLimitsSchema, options);
}

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { parseAnalyticsSpec } from '../../analytics/counter-spec.js';
import { ANALYTICS_API_KEY_ENV } from '../../analytics/http-counter.js';
import { readProfiles } from '../../analytics/profile-file.js';
import { PRECISIONS, RUNTIMES } from '../../analytics/runtime.js';
import { servicePasswordEnv } from '../../broker/access.js';
import { readSecret } from '../../core/config.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { MESSAGE_SECRET_ENV, MESSAGE_SECRET_FILE } from '../../core/message-auth.js';
import { PRIVATE_DIR_MODE } from '../../core/private-files.js';
import { TOKEN_ENV } from '../../engage/auth.js';
import { INGEST_TOKEN_ENV } from '../../ingest/http-api.js';
import { ACTIVITY_SUMMARY_MS, Activity } from '../../stack/activity.js';
import {
  instanceName,
  type RunningStack,
  STACK_DEFAULTS,
  StackStartError,
  startStack,
  UP_LOG_FILE,
} from '../../stack/stack.js';
import {
  addConnectionLimitOptions,
  addLogOptions,
  addMqttOptions,
  addStorageOptions,
  allowedOriginsOption,
  batchSizeOption,
  connectionLimitsFromOptions,
  durationArg,
  hostList,
  identityFromOptions,
  intArg,
  maxWaitOption,
  mqttConfigFromOptions,
  option,
  outboxMaxDevicesOption,
  parseOptions,
  storageConfigFromOptions,
  tuningRetentionOption,
} from '../options.js';
import { analyticsSpecOption, precisionOption, runtimeOption } from './analytics-options.js';

const DEVICE_PASSWORD_ENV = servicePasswordEnv('device');
const HOME_ASSISTANT_PASSWORD_ENV = servicePasswordEnv('homeassistant');

const upOptionsSchema = z.object({
  dataDir: z.string().min(1),
  host: z.string().min(1),
  engagePort: z.number(),
  ingestPort: z.number(),
  metricsPort: z.number(),
  metricsHost: z.string().min(1),
  allowedHosts: z.string().optional(),
  allowedOrigins: z.string().optional(),
  mqttPort: z.number(),
  inferenceInstances: z.number(),
  analytics: z.string(),
  workers: z.number().optional(),
  runtime: z.enum(RUNTIMES),
  precision: z.enum(PRECISIONS),
  profiles: z.string().optional(),
  tuningRetention: z.number(),
  batchSize: z.number(),
  maxWait: z.number(),
  demo: z.string().min(1).optional(),
  demoDevices: z.number(),
  demoInterval: z.number().int().positive(),
  outboxMaxDevices: z.number().int().nonnegative(),
  instanceId: z.string().optional(),
  verbose: z.boolean(),
});

export function upCommand(): Command {
  const command = new Command('up')
    .description('run the whole pipeline in one process: broker, storage, model, inference, ingest and dashboard')
    .addOption(
      option(
        '--data-dir <dir>',
        'photos in flight (storage/), the count history (engage.db) and the ingest outbox (ingest-outbox/)',
      ).default(STACK_DEFAULTS.dataDir),
    )
    .addOption(
      option('--host <address>', 'address of the dashboard, the ingest API and the embedded broker').default(
        STACK_DEFAULTS.host,
      ),
    )
    .addOption(
      option('--engage-port <port>', 'dashboard and engage API port')
        .argParser(intArg(0, 65535))
        .default(STACK_DEFAULTS.engagePort),
    )
    .addOption(
      option('--ingest-port <port>', 'ingest REST API port')
        .argParser(intArg(0, 65535))
        .default(STACK_DEFAULTS.ingestPort),
    )
    .addOption(
      option('--metrics-port <port>', 'Prometheus /metrics of every part, labelled by service and instance (0 = off)')
        .argParser(intArg(0, 65535))
        .default(STACK_DEFAULTS.metricsPort),
    )
    .addOption(
      option(
        '--allowed-hosts <names>',
        'without a dashboard token: comma-separated host names the dashboard answers besides loopback and --host',
      ),
    )
    .addOption(allowedOriginsOption())
    .addOption(
      option('--metrics-host <address>', 'address of /metrics (it has no authentication; keep it private)').default(
        STACK_DEFAULTS.metricsHost,
      ),
    )
    .addOption(
      option('--mqtt-port <port>', 'embedded MQTT broker port (ignored with --mqtt-url)')
        .argParser(intArg(0, 65535))
        .default(STACK_DEFAULTS.mqttPort),
    )
    .addOption(
      option('--inference-instances <n>', 'inference instances sharing the model (they coordinate like separate hosts)')
        .argParser(intArg(1, 32))
        .default(STACK_DEFAULTS.inferenceInstances),
    )
    .addOption(analyticsSpecOption())
    .addOption(option('--workers <n>', 'model worker threads (default: number of cores)').argParser(intArg(1, 64)))
    .addOption(runtimeOption())
    .addOption(precisionOption())
    .addOption(
      option(
        '--profiles <file>',
        'JSON map deviceID → camera profile (from `calibrate`); a profile set in the dashboard or API wins over it',
      ),
    )
    .addOption(tuningRetentionOption())
    .addOption(outboxMaxDevicesOption())
    .addOption(batchSizeOption(STACK_DEFAULTS.batchSize))
    .addOption(maxWaitOption(STACK_DEFAULTS.maxWaitMs, '1s'))
    .addOption(option('--demo <dir>', 'simulated devices play the JPEGs of this folder through the ingest API'))
    .addOption(
      option('--demo-devices <n>', 'number of demo devices')
        .argParser(intArg(1, 100))
        .default(STACK_DEFAULTS.demoDevices),
    )
    .addOption(
      option('--demo-interval <duration>', 'time between two photos of one demo device')
        .argParser(durationArg)
        .default(STACK_DEFAULTS.demoIntervalMs, '4s'),
    )
    .addOption(
      option(
        '--verbose',
        `print the full log on the console too (it always goes to <data-dir>/${UP_LOG_FILE}); without it, a status line per event worth attention`,
      ).default(false),
    )
    .addHelpText(
      'after',
      `
Without --mqtt-url an embedded MQTT broker is started; without --storage photos wait in <data-dir>/storage.
Tokens: ${INGEST_TOKEN_ENV} (devices → ingest API), ${TOKEN_ENV} (dashboard changes; without it the
dashboard accepts changes from anyone who can reach it, which is fine on 127.0.0.1). The embedded broker
gives every part its own random account. Each camera gets its own secret with
\`people-counter devices add <uuid> --data-dir <data-dir>\`: its MQTT password (username and client ID =
the device ID) and its bearer token on the ingest API, which then requires it. With no device registered,
the ingest API stays open on a loopback --host only. Deprecated: ${DEVICE_PASSWORD_ENV}, one MQTT
password shared by unregistered devices. Home Assistant: ${HOME_ASSISTANT_PASSWORD_ENV} (or _FILE) makes
an account "homeassistant" that may read only what Home Assistant shows (docs/home-assistant.md).
Coordination and results carry an HMAC under ${MESSAGE_SECRET_ENV} (or ${MESSAGE_SECRET_ENV}_FILE),
else under a secret made on the first start and kept in <data-dir>/${MESSAGE_SECRET_FILE}. See docs/up.md.

Examples:
  people-counter up
  people-counter up --demo ./photos
  people-counter up --mqtt-url mqtt://broker:1883 --storage s3://minio:9000`,
    );
  addMqttOptions(command);
  addStorageOptions(command, '<data-dir>/storage');
  addConnectionLimitOptions(command);
  addLogOptions(command);
  // Without --mqtt-url, `up` starts its own broker; the instance ID names its parts.
  for (const shared of command.options) {
    if (shared.long === '--mqtt-url') shared.defaultValueDescription = 'an embedded broker on --host:--mqtt-port';
    if (shared.long === '--instance-id') {
      shared.description = 'stable name of this stack in instance IDs, logs and MQTT client IDs (default: host name)';
    }
  }
  return command.action(async (raw: unknown, self: Command) => {
    const options = parseOptions(upOptionsSchema, raw);
    const name = options.instanceId ?? instanceName(hostname());
    const dataDir = resolve(options.dataDir);
    // The log file lives in the data dir, which is the user's own (0700) from the start.
    mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const { logger } = identityFromOptions(
      'up',
      { ...(raw as object), instanceId: name },
      { file: join(dataDir, UP_LOG_FILE), console: options.verbose ? 'all' : 'warnings' },
    );
    const explicit = (key: string) => self.getOptionValueSource(key) !== 'default';
    const mqtt = mqttConfigFromOptions(raw);
    const ingestToken = readSecret(process.env, INGEST_TOKEN_ENV);
    const engageToken = readSecret(process.env, TOKEN_ENV);
    const analyticsApiKey = readSecret(process.env, ANALYTICS_API_KEY_ENV);
    const devicePassword = readSecret(process.env, DEVICE_PASSWORD_ENV);
    const homeAssistantPassword = readSecret(process.env, HOME_ASSISTANT_PASSWORD_ENV);
    const messageSecret = readSecret(process.env, MESSAGE_SECRET_ENV);
    const { url, ...mqttSettings } = mqtt;
    const status = (line: string) => process.stdout.write(`${clockTime(new Date())}  ${line}\n`);
    status(`Starting People Counter in ${dataDir} (log: ${UP_LOG_FILE} there)…`);
    let stack: RunningStack;
    try {
      stack = await startStack(
        {
          dataDir,
          host: options.host,
          engagePort: options.engagePort,
          ingestPort: options.ingestPort,
          ...(options.metricsPort > 0 ? { metricsPort: options.metricsPort } : {}),
          metricsHost: options.metricsHost,
          allowedHosts: hostList(options.allowedHosts),
          allowedOrigins: hostList(options.allowedOrigins),
          ...(devicePassword !== undefined ? { devicePassword } : {}),
          ...(homeAssistantPassword !== undefined ? { homeAssistantPassword } : {}),
          ...(messageSecret !== undefined ? { messageSecret } : {}),
          mqttPort: options.mqttPort,
          mqtt: explicit('mqttUrl') ? mqtt : mqttSettings,
          ...(explicit('storage') ? { storage: storageConfigFromOptions(raw) } : {}),
          analytics: parseAnalyticsSpec(options.analytics),
          ...(analyticsApiKey !== undefined ? { analyticsApiKey } : {}),
          ...(options.workers !== undefined ? { workers: options.workers } : {}),
          runtime: options.runtime,
          precision: options.precision,
          profiles: readProfiles(options.profiles),
          tuningRetentionMs: options.tuningRetention,
          inferenceInstances: options.inferenceInstances,
          batchSize: options.batchSize,
          maxWaitMs: options.maxWait,
          ...(ingestToken !== undefined ? { ingestToken } : {}),
          ingestOutboxMaxDevices: options.outboxMaxDevices,
          ...(engageToken !== undefined ? { engageToken } : {}),
          ...(options.demo !== undefined
            ? { demo: { dir: options.demo, devices: options.demoDevices, intervalMs: options.demoInterval } }
            : {}),
          drainMs: STACK_DEFAULTS.drainMs,
          connectionLimits: connectionLimitsFromOptions(raw),
          name,
        },
        { logger },
      );
    } catch (error) {
      if (!(error instanceof StackStartError)) throw error;
      console.error(`people-counter up: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(banner(stack, dataDir, ingestToken !== undefined, options.demo, explicit('mqttUrl')));
    process.exitCode = await superviseStack(stack, status, logger, join(dataDir, UP_LOG_FILE));
  });
}

/**
 * After the banner: status lines while the model warms up and photos come in, until SIGINT/SIGTERM
 * (exit status 0) or until the model turns out not to load — nothing could be counted, so the stack
 * stops and says why (status 1).
 */
export async function superviseStack(
  stack: RunningStack,
  status: (line: string) => void,
  logger: Logger,
  logFile: string,
): Promise<number> {
  const activity = new Activity(Date.now() / 1000, status);
  const unsubscribe = stack.events.subscribe((event) => activity.see(event));
  const summaries = setInterval(() => activity.summarize(), ACTIVITY_SUMMARY_MS);
  summaries.unref();
  status('Model: warming up… (photos that arrive meanwhile wait for it)');
  const stop = async () => {
    clearInterval(summaries);
    unsubscribe();
    await stack.stop();
  };
  const stopped = stopOnSignals([{ name: 'stack', stop }], logger).then(() => undefined);
  const failed = await Promise.race([
    stopped,
    stack.model.then(
      (model) => {
        status(`Model ready after ${(model.ms / 1000).toFixed(1)} s (${model.name})`);
        return stopped;
      },
      (error: unknown) => error as Error,
    ),
  ]);
  if (!failed) return 0;
  console.error(`people-counter up: ${failed.message}; stopping (details in ${logFile})`);
  logger.error({ err: failed }, 'the model did not load; stopping');
  await stop();
  return 1;
}

/** `14:03:07`: the time in front of each status line. */
function clockTime(date: Date): string {
  return date.toTimeString().slice(0, 8);
}

/** The short human-readable block printed once everything runs. */
export function banner(
  stack: RunningStack,
  dataDir: string,
  ingestToken: boolean,
  demo: string | undefined,
  externalBroker: boolean,
): string {
  const { devices } = stack;
  const enforced = devices.registered > 0 || !devices.openWhileEmpty;
  const auth = enforced
    ? ` -H "Authorization: Bearer $SECRET"`
    : ingestToken
      ? ` -H "Authorization: Bearer $${INGEST_TOKEN_ENV}"`
      : '';
  const register = `npx people-counter devices add <uuid> --data-dir ${dataDir}`;
  const deviceLines =
    devices.registered > 0
      ? [`  Devices:     ${devices.registered} registered, each with its own secret (${register})`]
      : devices.openWhileEmpty
        ? [
            `  Devices:     none registered: the ingest API ${ingestToken ? `takes $${INGEST_TOKEN_ENV} for any device` : 'accepts any device on loopback, for a first try'};`,
            `               for MQTT, and to require secrets, register a camera: ${register}`,
          ]
        : [
            `  Devices:     none registered: the ingest API${devices.sharedPassword ? '' : ' and the broker'} refuse every device until one is:`,
            `               ${register}`,
          ];
  const lines = [
    '',
    'People Counter is up.',
    `  Dashboard:   ${stack.urls.engage}/`,
    `  Ingest API:  ${stack.urls.ingest}  (OpenAPI: ${stack.urls.ingest}/openapi.json)`,
    `    send a photo:  curl -X POST -H 'content-type: image/jpeg'${auth} --data-binary @photo.jpg \\`,
    `                     ${stack.urls.ingest}/v1/devices/${enforced ? '<uuid>' : randomUUID()}/images`,
    ...deviceLines,
    `  MQTT:        ${stack.urls.mqtt}${externalBroker ? '' : '  (embedded broker)'}`,
    `    metadata:     ${stack.topics.metadata}`,
    `    results:      ${stack.topics.results}`,
    `    dead letters: ${stack.topics.deadLetter}`,
    ...(stack.urls.metrics ? [`  Metrics:     ${stack.urls.metrics}/metrics  (every part, for Prometheus)`] : []),
    `  Storage:     ${stack.storage}`,
    `  Data dir:    ${dataDir}`,
    ...(demo ? [`  Demo:        ${stack.demoDevices.length} devices playing ${demo}`] : []),
    'Press Ctrl-C to stop.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

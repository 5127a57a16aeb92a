import { hostname } from 'node:os';
import { Command } from 'commander';
import { z } from 'zod';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../../analytics/local-counter.js';
import { tuningModelOf } from '../../analytics/tuning-fit.js';
import { parseStorageSpec, readSecret } from '../../core/config.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { MESSAGE_SECRET_ENV } from '../../core/message-auth.js';
import { createObjectStore } from '../../core/storage/index.js';
import { TOKEN_ENV } from '../../engage/auth.js';
import { ENGAGE_DEFAULTS, engageConfig } from '../../engage/config.js';
import { startEngageService } from '../../engage/service.js';
import { INGEST_TOKEN_ENV } from '../../ingest/http-api.js';
import { instanceName } from '../../stack/stack.js';
import {
  addConnectionLimitOptions,
  addLogOptions,
  addMqttOptions,
  allowedOriginsOption,
  connectionLimitsFromOptions,
  deviceRegistryOption,
  durationArg,
  hostList,
  identityFromOptions,
  insecureUnsignedOption,
  intArg,
  messageSecretFromOptions,
  mqttConfigFromOptions,
  openDeviceRegistryOption,
  option,
  parseOptions,
  tuningRetentionOption,
} from '../options.js';

export function engageCommand(): Command {
  const command = new Command('engage')
    .description('live dashboard, count history, REST API, occupancy alerts and Home Assistant discovery')
    .addOption(option('--host <address>', 'address to bind the dashboard and API').default(ENGAGE_DEFAULTS.host))
    .addOption(
      option('--port <port>', 'dashboard and API port').argParser(intArg(0, 65535)).default(ENGAGE_DEFAULTS.port),
    )
    .addOption(option('--db <file>', 'SQLite history file (:memory: keeps nothing)').default(ENGAGE_DEFAULTS.dbPath))
    .addOption(deviceRegistryOption())
    .addOption(
      option('--retention <duration>', 'keep counts and alerts this long')
        .argParser(durationArg)
        .default(ENGAGE_DEFAULTS.retentionMs, '90d'),
    )
    .addOption(
      option(
        '--stale-after <duration>',
        "no count stays live longer than this; within it a camera's count is live for 2 of its photo intervals, stale up to 10, then offline",
      )
        .argParser(durationArg)
        .default(ENGAGE_DEFAULTS.staleAfterMs, '5m'),
    )
    .addOption(option('--protect-reads', `require the token (${TOKEN_ENV}) for reads too`).default(false))
    .addOption(option('--open-writes', 'accept changes without a token (demos only)').default(false))
    .addOption(
      option(
        '--allowed-hosts <names>',
        'with --open-writes: comma-separated host names answered besides loopback and --host (DNS rebinding)',
      ),
    )
    .addOption(allowedOriginsOption())
    .addOption(insecureUnsignedOption())
    .addOption(
      option(
        '--ingest-url <url>',
        `ingest REST API that dashboard uploads go to (with ${INGEST_TOKEN_ENV} as bearer token when set)`,
      ).default(ENGAGE_DEFAULTS.ingestUrl),
    )
    .addOption(option('--webhook-url <url>', 'POST every raised or cleared alert here (JSON)'))
    .addOption(
      option('--webhook-timeout <duration>', 'webhook request timeout')
        .argParser(durationArg)
        .default(ENGAGE_DEFAULTS.webhookTimeoutMs, '5s'),
    )
    .addOption(
      option('--webhook-retries <n>', 'webhook retries after a failure')
        .argParser(intArg(0, 10))
        .default(ENGAGE_DEFAULTS.webhookRetries),
    )
    .addOption(option('--no-ha-discovery', 'do not publish Home Assistant MQTT discovery'))
    .addOption(
      option('--ha-discovery-prefix <prefix>', 'Home Assistant discovery prefix').default(
        ENGAGE_DEFAULTS.haDiscoveryPrefix,
      ),
    )
    .addOption(
      option(
        '--tuning-storage <spec>',
        'object storage shared with inference (as its --storage); turns on "Tune counting": photos kept for tuning live there',
      ),
    )
    .addOption(tuningRetentionOption())
    .addOption(
      option('--tuning-workers <n>', 'model worker threads for tuning fits (started on first use)')
        .argParser(intArg(1, 64))
        .default(1),
    );
  addMqttOptions(command);
  addConnectionLimitOptions(command);
  addLogOptions(command);
  for (const shared of command.options) {
    if (shared.long === '--instance-id') {
      shared.description = 'ID in topics, logs and the MQTT client ID of the persistent session (default: host name)';
    }
  }
  command.addHelpText(
    'after',
    `
Results are checked for an HMAC under ${MESSAGE_SECRET_ENV} (or ${MESSAGE_SECRET_ENV}_FILE), the secret the
inference instances sign with; unsigned or wrongly signed results are dropped and counted. Without the
secret engage refuses to start, unless --insecure-unsigned. See docs/engage.md.`,
  );
  return command.action(async (raw: unknown) => {
    const options = parseOptions(
      z.object({
        host: z.string(),
        port: z.number(),
        db: z.string(),
        retention: z.number(),
        staleAfter: z.number(),
        protectReads: z.boolean(),
        openWrites: z.boolean(),
        allowedHosts: z.string().optional(),
        allowedOrigins: z.string().optional(),
        ingestUrl: z.string(),
        webhookUrl: z.string().optional(),
        webhookTimeout: z.number(),
        webhookRetries: z.number(),
        haDiscovery: z.boolean(),
        haDiscoveryPrefix: z.string(),
        tuningStorage: z.string().optional(),
        tuningRetention: z.number(),
        tuningWorkers: z.number(),
        deviceRegistry: z.string().optional(),
      }),
      raw,
    );
    // A stable ID by default: it names the persistent MQTT session that keeps results while engage is down.
    const given = raw as { instanceId?: string };
    const { instanceId, logger } = identityFromOptions('engage', {
      ...given,
      instanceId: given.instanceId ?? instanceName(hostname()),
    });
    const messageSecret = messageSecretFromOptions(raw);
    const token = readSecret(process.env, TOKEN_ENV);
    // The same variable as the ingest service's, so one setting serves both (as in deploy/).
    const ingestToken = readSecret(process.env, INGEST_TOKEN_ENV);
    const config = engageConfig(mqttConfigFromOptions(raw), instanceId, {
      host: options.host,
      port: options.port,
      dbPath: options.db,
      retentionMs: options.retention,
      staleAfterMs: options.staleAfter,
      protectReads: options.protectReads,
      openWrites: options.openWrites,
      allowedHosts: hostList(options.allowedHosts),
      allowedOrigins: hostList(options.allowedOrigins),
      ingestUrl: options.ingestUrl,
      webhookTimeoutMs: options.webhookTimeout,
      webhookRetries: options.webhookRetries,
      haDiscovery: options.haDiscovery,
      haDiscoveryPrefix: options.haDiscoveryPrefix,
      tuningRetentionMs: options.tuningRetention,
      connectionLimits: connectionLimitsFromOptions(raw),
      ...(options.webhookUrl !== undefined ? { webhookUrl: options.webhookUrl } : {}),
      ...(token !== undefined ? { token } : {}),
      ...(ingestToken !== undefined ? { ingestToken } : {}),
      ...(messageSecret !== undefined ? { messageSecret } : {}),
    });
    const tuningStore =
      options.tuningStorage !== undefined ? createObjectStore(parseStorageSpec(options.tuningStorage)) : undefined;
    let model: Promise<LocalPeopleCounter> | undefined;
    const devices = await openDeviceRegistryOption(raw, logger);
    const engage = await startEngageService(config, {
      logger,
      ...(devices ? { devices } : {}),
      ...(tuningStore
        ? {
            tuningStore,
            tuningModel: async () => {
              model ??= createLocalPeopleCounter({ workers: options.tuningWorkers });
              return tuningModelOf(await model);
            },
          }
        : {}),
    });
    await stopOnSignals(
      [
        { name: 'engage', stop: engage.stop },
        { name: 'device-registry', stop: async () => devices?.close() },
        { name: 'tuning model', stop: async () => (await model)?.close() },
      ],
      logger,
    );
  });
}

import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { z } from 'zod';
import { type CameraProfile, cameraProfileSchema } from '../../analytics/people-counter.js';
import { ConfigError, readJsonFile, readSecret } from '../../core/config.js';
import { createHttpServer, listen } from '../../core/http.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { MESSAGE_SECRET_ENV, messageAuthFromEnv } from '../../core/message-auth.js';
import { describeZodError, deviceIdSchema } from '../../core/messages.js';
import { createObjectStore } from '../../core/storage/index.js';
import { crashAtStepFromEnv } from '../../inference/claim-run.js';
import { createCounterFor, parseAnalyticsSpec } from '../../inference/counter-spec.js';
import { startInferenceInstance } from '../../inference/inference-service.js';
import { RedisClaimArbiter } from '../../inference/redis-arbiter.js';
import {
  addLogOptions,
  addMqttOptions,
  addStorageOptions,
  durationArg,
  ENV_PREFIX,
  identityFromOptions,
  intArg,
  mqttConfigFromOptions,
  option,
  parseOptions,
  storageConfigFromOptions,
} from '../options.js';
import { addWorkerOptions, workerOptionsShape } from './analytics-options.js';

export const ANALYTICS_API_KEY_ENV = `${ENV_PREFIX}ANALYTICS_API_KEY`;

/** A `--profiles` file: camera profiles keyed by device ID (inference, up) or by any name (analytics service). */
export function readProfiles(
  path: string | undefined,
  keySchema: z.ZodType<string> = deviceIdSchema,
): Record<string, CameraProfile> {
  if (path === undefined) return {};
  const parsed = z.record(keySchema, cameraProfileSchema).safeParse(readJsonFile(path, `--profiles ${path}`));
  if (!parsed.success) throw new ConfigError(`--profiles ${path}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

export function inferenceCommand(): Command {
  const command = new Command('inference')
    .description(
      `count people on photos: batch metadata, claim batches with the other instances, publish outcomes (signed with ${MESSAGE_SECRET_ENV} when set)`,
    )
    .addOption(option('--batch-size <n>', 'photos per claimed batch').argParser(intArg(1, 1000)).default(10))
    .addOption(
      option('--max-wait <duration>', 'claim a partial batch after this wait').argParser(durationArg).default(2000),
    )
    .addOption(
      option('--lease <duration>', 'claim lease (renewed while processing)').argParser(durationArg).default(30_000),
    )
    .addOption(option('--heartbeat <duration>', 'heartbeat interval').argParser(durationArg).default(5000))
    .addOption(
      option('--sweep-interval <duration>', 'orphan sweep interval (0 = off)').argParser(durationArg).default(60_000),
    )
    .addOption(
      option(
        '--sweep-min-age <duration>',
        'a stored photo older than this that nobody handles is re-announced (default: max-wait + lease + 10s)',
      ).argParser(durationArg),
    )
    .addOption(
      option('--retries <n>', 'attempts for storage, analytics and publishes during outages')
        .argParser(intArg(1, 100))
        .default(6),
    )
    .addOption(
      option('--retry-base <duration>', 'first retry delay (doubles, at most 8s)').argParser(durationArg).default(250),
    )
    .addOption(
      option('--legacy-results', 'also publish the original UI result shape on the metadata topic').default(false),
    )
    .addOption(
      option(
        '--count-concurrency <n>',
        'devices of a batch counted at the same time (default: the worker count with --analytics local, else 1)',
      ).argParser(intArg(1, 256)),
    )
    .addOption(option('--profiles <file>', 'JSON map deviceID → camera profile'))
    .addOption(
      option(
        '--arbiter <url>',
        'redis://host:port: Redis decides claims (for clustered brokers without a total order); default: the ordered MQTT stream',
      ),
    )
    .addOption(
      option(
        '--arbiter-memory <duration>',
        'how long the arbiter remembers finished photos (late duplicates); Redis keeps 2 keys per photo that long',
      )
        .argParser(durationArg)
        .default(24 * 3_600_000, '24h'),
    )
    .addOption(
      option(
        '--outcome-qos <qos>',
        'QoS of outcome messages: 2, or 1 for a broker without QoS 2 that acknowledges only stored messages (NATS 2.9, see docs/system.md)',
      )
        .choices(['1', '2'])
        .default('2'),
    )
    .addOption(
      option(
        '--analytics <spec>',
        `"local" (in-process model), an http(s) URL of the analytics service (key from ${ANALYTICS_API_KEY_ENV}), or "fixed-delay:<ms>" (stand-in, not a model)`,
      ).default('local'),
    )
    .addOption(
      option('--metrics-port <port>', 'Prometheus /metrics and /healthz port (0 = off)')
        .argParser(intArg(0, 65535))
        .default(9464),
    )
    .addOption(option('--metrics-host <address>', 'address for the metrics server').default('127.0.0.1'));
  addWorkerOptions(command);
  addMqttOptions(command);
  addStorageOptions(command);
  addLogOptions(command);
  return command.action(async (raw: unknown) => {
    const options = parseOptions(
      z.object({
        batchSize: z.number(),
        maxWait: z.number(),
        lease: z.number().positive(),
        heartbeat: z.number().positive(),
        sweepInterval: z.number(),
        sweepMinAge: z.number().optional(),
        retries: z.number(),
        retryBase: z.number(),
        legacyResults: z.boolean(),
        profiles: z.string().optional(),
        arbiter: z
          .string()
          .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
          .optional(),
        arbiterMemory: z.number().positive(),
        outcomeQos: z.enum(['1', '2']),
        analytics: z.string(),
        metricsPort: z.number(),
        metricsHost: z.string(),
        ...workerOptionsShape,
        countConcurrency: z.number().optional(),
      }),
      raw,
    );
    const { instanceId, logger } = identityFromOptions('inference', raw);
    const mqtt = mqttConfigFromOptions(raw);
    const profiles = readProfiles(options.profiles);
    const analytics = parseAnalyticsSpec(options.analytics);
    const counter = await createCounterFor(analytics, readSecret(process.env, ANALYTICS_API_KEY_ENV), options);
    if (analytics.kind === 'fixed-delay')
      logger.warn({ model: counter.model }, 'using the fixed-delay stand-in, not a model');
    const store = createObjectStore(storageConfigFromOptions(raw));
    const arbiter = options.arbiter
      ? new RedisClaimArbiter({ url: options.arbiter, memoryMs: options.arbiterMemory })
      : undefined;
    const messageAuth = messageAuthFromEnv(process.env);
    if (!messageAuth.enabled) {
      logger.warn(`${MESSAGE_SECRET_ENV} is not set: coordination and result messages are neither signed nor verified`);
    }
    const stepReached = crashAtStepFromEnv(process.env, logger);
    const instance = await startInferenceInstance(
      {
        mqtt,
        instanceId,
        batchSize: options.batchSize,
        maxWaitMs: options.maxWait,
        leaseMs: options.lease,
        heartbeatMs: options.heartbeat,
        sweep:
          options.sweepInterval > 0
            ? {
                intervalMs: options.sweepInterval,
                minAgeMs: options.sweepMinAge ?? options.maxWait + options.lease + 10_000,
              }
            : null,
        legacyResults: options.legacyResults,
        profiles,
        retry: { attempts: options.retries, baseMs: options.retryBase, maxMs: 8_000 },
        countConcurrency:
          options.countConcurrency ?? (analytics.kind === 'local' ? (options.workers ?? availableParallelism()) : 1),
        messageAuth,
        outcomeQos: options.outcomeQos === '1' ? 1 : 2,
      },
      { counter, store, logger, ...(arbiter ? { arbiter } : {}), ...(stepReached ? { stepReached } : {}) },
    );
    const parts = [
      { name: 'counter', stop: () => counter.close() },
      { name: 'storage', stop: () => store.close() },
      ...(arbiter ? [{ name: 'arbiter', stop: () => arbiter.close() }] : []),
      { name: 'inference', stop: instance.stop },
    ];
    if (options.metricsPort > 0) {
      const app = createHttpServer({
        title: 'People Counter inference',
        description: 'Metrics and health of one inference instance.',
        version: '1',
        logger,
        metrics: instance.metrics,
        healthChecks: [
          { name: 'mqtt', check: instance.connected },
          { name: 'subscribed', check: instance.isSubscribed },
        ],
      });
      const url = await listen(app, options.metricsHost, options.metricsPort);
      logger.info({ url }, 'metrics at /metrics, health at /healthz');
      parts.push({ name: 'metrics', stop: () => app.close() });
    }
    logger.info({ instanceId, model: counter.model, store: store.description }, 'inference instance started');
    await stopOnSignals(parts, logger);
  });
}

import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { z } from 'zod';
import { createCounterFor, parseAnalyticsSpec } from '../../analytics/counter-spec.js';
import { ANALYTICS_API_KEY_ENV } from '../../analytics/http-counter.js';
import { readProfiles } from '../../analytics/profile-file.js';
import { DEFAULT_HOST, readSecret } from '../../core/config.js';
import { createHttpServer, listen } from '../../core/http.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { createMessageAuth, MESSAGE_SECRET_ENV } from '../../core/message-auth.js';
import { DEFAULT_METRICS_PORT } from '../../core/metrics.js';
import { createObjectStore } from '../../core/storage/index.js';
import { crashAtStepFromEnv } from '../../inference/claim-run.js';
import { defaultSweepMinAgeMs, INFERENCE_DEFAULTS, startInferenceInstance } from '../../inference/inference-service.js';
import { RedisClaimArbiter } from '../../inference/redis-arbiter.js';
import {
  addConnectionLimitOptions,
  addLogOptions,
  addMqttOptions,
  addStorageOptions,
  batchSizeOption,
  connectionLimitsFromOptions,
  durationArg,
  identityFromOptions,
  insecureUnsignedOption,
  intArg,
  maxWaitOption,
  messageSecretFromOptions,
  mqttConfigFromOptions,
  option,
  parseOptions,
  storageConfigFromOptions,
} from '../options.js';
import { addWorkerOptions, analyticsSpecOption, workerOptionsShape } from './analytics-options.js';

export function inferenceCommand(): Command {
  const command = new Command('inference')
    .description(
      `count people on photos: batch metadata, claim batches with the other instances, publish outcomes (signed with ${MESSAGE_SECRET_ENV})`,
    )
    .addOption(batchSizeOption(INFERENCE_DEFAULTS.batchSize))
    .addOption(maxWaitOption(INFERENCE_DEFAULTS.maxWaitMs))
    .addOption(
      option('--lease <duration>', 'claim lease (renewed while processing)')
        .argParser(durationArg)
        .default(INFERENCE_DEFAULTS.leaseMs),
    )
    .addOption(
      option('--heartbeat <duration>', 'heartbeat interval')
        .argParser(durationArg)
        .default(INFERENCE_DEFAULTS.heartbeatMs),
    )
    .addOption(
      option('--sweep-interval <duration>', 'orphan sweep interval (0 = off)')
        .argParser(durationArg)
        .default(INFERENCE_DEFAULTS.sweepIntervalMs),
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
        .default(INFERENCE_DEFAULTS.retry.attempts),
    )
    .addOption(
      option(
        '--retry-base <duration>',
        `first retry delay (doubles, at most ${INFERENCE_DEFAULTS.retry.maxMs / 1000}s)`,
      )
        .argParser(durationArg)
        .default(INFERENCE_DEFAULTS.retry.baseMs),
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
    .addOption(analyticsSpecOption())
    .addOption(insecureUnsignedOption())
    .addOption(
      option('--metrics-port <port>', 'Prometheus /metrics and /healthz port (0 = off)')
        .argParser(intArg(0, 65535))
        .default(DEFAULT_METRICS_PORT),
    )
    .addOption(option('--metrics-host <address>', 'address for the metrics server').default(DEFAULT_HOST));
  addWorkerOptions(command);
  addMqttOptions(command);
  addStorageOptions(command);
  addConnectionLimitOptions(command);
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
    // Before anything is loaded: a missing secret is a configuration error, not a runtime one.
    const messageAuth = createMessageAuth(messageSecretFromOptions(raw));
    if (!messageAuth.enabled) {
      logger.warn(`${MESSAGE_SECRET_ENV} is not set: coordination and result messages are neither signed nor verified`);
    }
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
                minAgeMs: options.sweepMinAge ?? defaultSweepMinAgeMs(options.maxWait, options.lease),
              }
            : null,
        legacyResults: options.legacyResults,
        profiles,
        retry: { ...INFERENCE_DEFAULTS.retry, attempts: options.retries, baseMs: options.retryBase },
        countConcurrency:
          options.countConcurrency ??
          (analytics.kind === 'local'
            ? (options.workers ?? availableParallelism())
            : INFERENCE_DEFAULTS.countConcurrency),
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
        logger,
        metrics: instance.metrics,
        connectionLimits: connectionLimitsFromOptions(raw),
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

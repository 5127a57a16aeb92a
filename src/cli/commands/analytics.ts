import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { ANALYTICS_API_KEYS_ENV, parseApiKeys } from '../../analytics/api-keys.js';
import { createLocalPeopleCounter } from '../../analytics/local-counter.js';
import { readProfiles } from '../../analytics/profile-file.js';
import { DEFAULT_ANALYTICS_PORT, startAnalyticsService } from '../../analytics/service.js';
import { ConfigError, DEFAULT_HOST } from '../../core/config.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { addLogOptions, identityFromOptions, intArg, option, parseOptions } from '../options.js';
import { addWorkerOptions, workerConfig, workerOptionsShape } from './analytics-options.js';

export function analyticsCommand(): Command {
  const command = new Command('analytics')
    .description('run the analytics platform as a REST service (POST /v1/count with a JPEG)')
    .addOption(option('--host <address>', 'address to bind').default(DEFAULT_HOST))
    .addOption(option('--port <port>', 'TCP port').argParser(intArg(0, 65535)).default(DEFAULT_ANALYTICS_PORT))
    .addOption(
      option(
        '--api-keys-file <file>',
        `file with accepted API keys, one per line (also ${ANALYTICS_API_KEYS_ENV}, comma-separated)`,
      ),
    )
    .addOption(option('--allow-anonymous', 'serve /v1/count to anyone when no API key is configured'))
    .addOption(option('--profiles <file>', 'JSON object of named camera profiles: {"<name>": <profile>, …}'));
  addWorkerOptions(command);
  addLogOptions(command);
  return command.action(async (raw: unknown) => {
    const options = parseOptions(
      z.object({
        host: z.string(),
        port: z.number(),
        apiKeysFile: z.string().optional(),
        allowAnonymous: z.boolean().optional(),
        profiles: z.string().optional(),
        ...workerOptionsShape,
      }),
      raw,
    );
    const { logger, instanceId } = identityFromOptions('analytics', raw);
    const apiKeys = [
      ...parseApiKeys(process.env[ANALYTICS_API_KEYS_ENV] ?? ''),
      ...(options.apiKeysFile ? parseApiKeys(await readFile(options.apiKeysFile, 'utf8')) : []),
    ];
    if (apiKeys.length === 0 && !options.allowAnonymous) {
      throw new ConfigError(
        `no API keys configured: set ${ANALYTICS_API_KEYS_ENV} or --api-keys-file, or pass --allow-anonymous`,
      );
    }
    const profiles = readProfiles(options.profiles, z.string());
    const counter = await createLocalPeopleCounter(workerConfig(options));
    logger.info({ model: counter.model, backend: counter.backend, workers: counter.workers }, 'model loaded');
    const service = await startAnalyticsService(
      { host: options.host, port: options.port, apiKeys, profiles },
      { counter, logger, metrics: createMetricsRegistry('analytics', instanceId) },
    );
    await stopOnSignals(
      [
        { name: 'people-counter', stop: () => counter.close() },
        { name: 'analytics-http', stop: service.stop },
      ],
      logger,
    );
  });
}

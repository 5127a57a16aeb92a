import { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_INGEST_URL, readSecret } from '../../core/config.js';
import { INGEST_TOKEN_ENV } from '../../ingest/http-api.js';
import { startSimulator } from '../../ingest/simulator.js';
import {
  addLogOptions,
  addMqttOptions,
  durationArg,
  identityFromOptions,
  intArg,
  mqttConfigFromOptions,
  option,
  parseOptions,
} from '../options.js';

const simulateOptionsSchema = z.object({
  devices: z.number().int().positive(),
  interval: z.number().int().positive(),
  images: z.string().min(1),
  via: z.enum(['rest', 'mqtt']),
  url: z.string().url(),
  count: z.number().int().positive().optional(),
  jitter: z.boolean().optional(),
});

export function simulateCommand(): Command {
  const command = new Command('simulate')
    .description('play N camera devices sending the JPEGs of a folder to the ingestion service, over REST or MQTT')
    .addOption(option('--devices <n>', 'number of simulated devices').argParser(intArg(1, 100_000)).default(1))
    .addOption(
      option('--interval <duration>', 'time between two photos of one device')
        .argParser(durationArg)
        .default(5000, '5s'),
    )
    .addOption(
      option('--images <dir>', 'folder of JPEG files (*.jpg, *.jpeg) the devices cycle through').makeOptionMandatory(),
    )
    .addOption(option('--via <transport>', 'send over the REST API or MQTT').choices(['rest', 'mqtt']).default('rest'))
    .addOption(option('--url <url>', 'ingestion REST API base URL (for --via rest)').default(DEFAULT_INGEST_URL))
    .addOption(
      option('--count <n>', 'stop after this many photos per device (default: until Ctrl-C)').argParser(intArg(1)),
    )
    .addOption(option('--jitter', 'vary each interval randomly between 50 % and 150 %'))
    .addHelpText(
      'after',
      `
Device IDs (random UUID v4, new each run) are printed at start; progress once per second on stderr.
Over REST, ${INGEST_TOKEN_ENV} is sent as a Bearer token when set. MQTT options apply to --via mqtt.

Example:
  people-counter simulate --devices 5 --interval 2s --images ./photos --count 10`,
    );
  addMqttOptions(command);
  addLogOptions(command);
  return command.action(async (raw: unknown) => {
    const options = parseOptions(simulateOptionsSchema, raw);
    const { instanceId, logger } = identityFromOptions('simulate', raw);
    const simulator = await startSimulator({
      devices: options.devices,
      intervalMs: options.interval,
      imagesDir: options.images,
      via: options.via,
      url: options.url,
      mqtt: options.via === 'mqtt' ? mqttConfigFromOptions(raw) : undefined,
      count: options.count,
      jitter: options.jitter ?? false,
      token: readSecret(process.env, INGEST_TOKEN_ENV),
      instanceId,
      logger,
    });
    console.log(`simulating ${simulator.deviceIds.length} device(s) via ${options.via}:`);
    for (const id of simulator.deviceIds) console.log(`  ${id}`);
    let last = { ...simulator.stats };
    const progress = setInterval(() => {
      const { sent, failed } = simulator.stats;
      console.error(`sent ${sent} (+${sent - last.sent}/s)  failed ${failed} (+${failed - last.failed}/s)`);
      last = { sent, failed };
    }, 1000);
    const onSignal = () => void simulator.stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const totals = await simulator.done;
    clearInterval(progress);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    console.log(`done: ${totals.sent} sent, ${totals.failed} failed`);
    if (totals.failed > 0) process.exitCode = 1;
  });
}

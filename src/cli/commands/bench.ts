import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { createCounterFor, parseAnalyticsSpec } from '../../analytics/counter-spec.js';
import { loadDataset, loadProfile } from '../../analytics/dataset.js';
import { ANALYTICS_API_KEY_ENV } from '../../analytics/http-counter.js';
import { createLocalPeopleCounter } from '../../analytics/local-counter.js';
import { detectOptionsFor } from '../../analytics/postprocess.js';
import { DEFAULT_RUNTIME, RUNTIMES, type Runtime } from '../../analytics/runtime.js';
import { formatLedgerBench, runLedgerBench } from '../../bench/ledger-bench.js';
import { formatModelBench, runModelBench, syntheticPhotos } from '../../bench/model-bench.js';
import { formatBenchResult, pacedPhotoCount, runPipelineBench } from '../../bench/pipeline-bench.js';
import { readSecret } from '../../core/config.js';
import { durationArg, intArg, option, parseOptions } from '../options.js';

/** `bench <what>`: measurements that print numbers. Other benches can be added as subcommands. */
export function benchCommand(): Command {
  const bench = new Command('bench').description('run a benchmark and print its measurements');
  bench.addCommand(pipelineBenchCommand());
  bench.addCommand(modelBenchCommand());
  bench.addCommand(ledgerBenchCommand());
  return bench;
}

function runtimesArg(value: string): Runtime[] {
  const runtimes = value.split(',').map((part) => part.trim());
  const parsed = z.array(z.enum(RUNTIMES)).min(1).safeParse(runtimes);
  if (!parsed.success) throw new InvalidArgumentError(`"${value}" is not a list of runtimes (${RUNTIMES.join(', ')})`);
  return parsed.data;
}

function workerCountsArg(value: string): number[] {
  const counts = value.split(',').map((part) => Number(part.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64))
    throw new InvalidArgumentError(`"${value}" is not a list of worker counts 1–64, e.g. 1,2`);
  return counts;
}

function modelBenchCommand(): Command {
  const cores = availableParallelism();
  const defaultCounts = cores > 1 ? [1, cores] : [1];
  const defaultRuntimes = [DEFAULT_RUNTIME];
  return new Command('model')
    .description(
      'photos/s of the in-process model per runtime and worker count, in interleaved rounds (ratios = medians of per-round ratios)',
    )
    .argument('[dataset-dir]', 'folder with JPEGs and labels.json (default: synthetic 640×480 noise photos)')
    .addOption(
      option('--workers <list>', 'worker counts to compare; the first is the baseline')
        .argParser(workerCountsArg)
        .default(defaultCounts, defaultCounts.join(',')),
    )
    .addOption(
      option(
        '--runtimes <list>',
        `runtimes to compare (${RUNTIMES.join(', ')}); the first is the baseline of the speed-up`,
      )
        .argParser(runtimesArg)
        .default(defaultRuntimes, defaultRuntimes.join(',')),
    )
    .addOption(option('--rounds <n>', 'interleaved rounds').argParser(intArg(1, 1000)).default(5))
    .addOption(option('--limit <n>', 'photos per round').argParser(intArg(1, 100_000)).default(40))
    .addOption(option('--profile <file>', 'camera profile JSON: its tiling, flip and whole-frame pass are run'))
    .addOption(option('--json', 'print the result as JSON').default(false))
    .action(async (dir: string | undefined, raw: unknown) => {
      const options = parseOptions(
        z.object({
          workers: z.array(z.number()),
          runtimes: z.array(z.enum(RUNTIMES)),
          rounds: z.number(),
          limit: z.number(),
          profile: z.string().optional(),
          json: z.boolean(),
        }),
        raw,
      );
      const photos = dir
        ? await Promise.all((await loadDataset(dir, options.limit)).map((photo) => readFile(photo.path)))
        : await syntheticPhotos(options.limit);
      const profile = options.profile ? await loadProfile(options.profile) : {};
      const result = await runModelBench(
        {
          runtimes: options.runtimes,
          workerCounts: options.workers,
          rounds: options.rounds,
          photos,
          detect: detectOptionsFor(profile),
          onProgress: (message) => console.error(message),
        },
        createLocalPeopleCounter,
      );
      console.log(options.json ? JSON.stringify(result, null, 2) : formatModelBench(result));
    });
}

/** `--mqtt-url a,b,c`: one or more broker URLs. */
function mqttUrlsArg(value: string): string[] {
  const urls = value.split(',').map((part) => part.trim());
  const bad = urls.find((url) => !/^(mqtts?|wss?|tcp|ssl):\/\/[^/]/.test(url));
  if (bad !== undefined) throw new InvalidArgumentError(`"${bad}" is not an MQTT URL (mqtt://host:port)`);
  return urls;
}

const pipelineOptionsSchema = z
  .object({
    devices: z.number(),
    photos: z.number().optional(),
    interval: z.number().positive().optional(),
    duration: z.number().positive().optional(),
    instances: z.number(),
    analyzerMs: z.number().optional(),
    analytics: z.string(),
    batchSize: z.number(),
    maxWait: z.number(),
    lanes: z.number(),
    burst: z.boolean(),
    mqttUrl: z.array(z.string()).optional(),
    arbiter: z
      .string()
      .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
      .optional(),
    outcomeQos: z.enum(['1', '2']),
    timeout: z.number(),
    json: z.boolean(),
  })
  .superRefine((options, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if ((options.interval === undefined) !== (options.duration === undefined))
      problem('interval', '--interval and --duration go together');
    if (options.interval === undefined) return;
    if (options.photos !== undefined) problem('photos', 'not with --interval (photos = devices × duration ÷ interval)');
    if (options.burst) problem('burst', 'not with --interval (a burst announces everything at once)');
    if (options.duration !== undefined && options.duration < options.interval)
      problem('duration', 'must be at least --interval');
  });

function pipelineBenchCommand(): Command {
  return new Command('pipeline')
    .description('whole pipeline in one process (embedded broker, temporary store, K inference instances)')
    .addOption(option('--devices <n>', 'devices sending photos').argParser(intArg(1, 1_000_000)).default(100))
    .addOption(
      option('--photos <n>', 'photos in total (default 500; not with --interval)').argParser(intArg(1, 10_000_000)),
    )
    .addOption(
      option(
        '--interval <duration>',
        'every device sends one photo per interval, devices spread evenly over it (with --duration)',
      ).argParser(durationArg),
    )
    .addOption(
      option(
        '--duration <duration>',
        'how long the devices send at --interval (photos = devices × duration ÷ interval)',
      ).argParser(durationArg),
    )
    .addOption(option('--instances <n>', 'inference instances').argParser(intArg(1, 64)).default(1))
    .addOption(
      option('--analyzer-ms <ms>', 'use the fixed-delay stand-in (NOT a model) with this delay').argParser(
        intArg(0, 60_000),
      ),
    )
    .addOption(option('--analytics <spec>', 'model when --analyzer-ms is not given (see inference)').default('local'))
    .addOption(
      option('--batch-size <n>', 'photos analysed per claim (one per camera)').argParser(intArg(1, 1000)).default(10),
    )
    .addOption(option('--max-wait <duration>', 'max wait for a partial batch').argParser(durationArg).default(200))
    .addOption(option('--lanes <n>', 'concurrent ingestion lanes').argParser(intArg(1, 256)).default(8))
    .addOption(option('--burst', 'store every photo first, then announce all at once (broker path)').default(false))
    .addOption(
      option(
        '--mqtt-url <urls>',
        'external broker(s), comma-separated: instance i uses URL i mod n, the announcer the first (default: an embedded broker)',
      ).argParser(mqttUrlsArg),
    )
    .addOption(option('--arbiter <url>', 'redis://host:port: Redis decides claims (as inference --arbiter)'))
    .addOption(
      option('--outcome-qos <qos>', 'QoS of outcome messages (as inference --outcome-qos; 1 for NATS 2.9)')
        .choices(['1', '2'])
        .default('2'),
    )
    .addOption(
      option('--timeout <duration>', 'give up waiting for outcomes after').argParser(durationArg).default(300_000),
    )
    .addOption(option('--json', 'print the result as JSON').default(false))
    .action(async (raw: unknown) => {
      const options = parseOptions(pipelineOptionsSchema, raw);
      const paced =
        options.interval !== undefined && options.duration !== undefined
          ? { intervalMs: options.interval, durationMs: options.duration }
          : undefined;
      const result = await runPipelineBench(
        {
          devices: options.devices,
          photos: paced
            ? pacedPhotoCount(options.devices, paced.intervalMs, paced.durationMs)
            : (options.photos ?? 500),
          ...(paced ? { intervalMs: paced.intervalMs } : {}),
          instances: options.instances,
          ...(options.analyzerMs !== undefined ? { analyzerMs: options.analyzerMs } : {}),
          batchSize: options.batchSize,
          maxWaitMs: options.maxWait,
          burst: options.burst,
          lanes: options.lanes,
          timeoutMs: options.timeout,
          ...(options.mqttUrl ? { mqttUrls: options.mqttUrl } : {}),
          ...(options.arbiter ? { arbiterUrl: options.arbiter } : {}),
          outcomeQos: options.outcomeQos === '1' ? 1 : 2,
        },
        () => createCounterFor(parseAnalyticsSpec(options.analytics), readSecret(process.env, ANALYTICS_API_KEY_ENV)),
      );
      console.log(options.json ? JSON.stringify(result, null, 2) : formatBenchResult(result));
    });
}

function ledgerBenchCommand(): Command {
  return new Command('ledger')
    .description("one instance's coordination state per pending photo: CPU per message and heap per item")
    .addOption(option('--items <n>', 'pending photos').argParser(intArg(1, 10_000_000)).default(10_000))
    .addOption(
      option('--batch-size <n>', 'items per claim of the other instances').argParser(intArg(1, 1000)).default(10),
    )
    .addOption(option('--devices <n>', 'devices the photos come from').argParser(intArg(1, 10_000_000)).default(10_000))
    .addOption(option('--json', 'print the result as JSON').default(false))
    .action((raw: unknown) => {
      const options = parseOptions(
        z.object({ items: z.number(), batchSize: z.number(), devices: z.number(), json: z.boolean() }),
        raw,
      );
      const result = runLedgerBench({ items: options.items, batchSize: options.batchSize, devices: options.devices });
      console.log(options.json ? JSON.stringify(result, null, 2) : formatLedgerBench(result));
    });
}

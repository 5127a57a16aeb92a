import { Command } from 'commander';
import { z } from 'zod';
import { readSecret } from '../../core/config.js';
import { createCounterFor, parseAnalyticsSpec } from '../../inference/counter-spec.js';
import { formatBenchResult, runPipelineBench } from '../../inference/pipeline-bench.js';
import { durationArg, intArg, option, parseOptions } from '../options.js';
import { ANALYTICS_API_KEY_ENV } from './inference.js';

/** `bench <what>`: measurements that print numbers. Other benches can be added as subcommands. */
export function benchCommand(): Command {
  const bench = new Command('bench').description('run a benchmark and print its measurements');
  bench.addCommand(pipelineBenchCommand());
  return bench;
}

function pipelineBenchCommand(): Command {
  return new Command('pipeline')
    .description('whole pipeline in one process (embedded broker, temporary store, K inference instances)')
    .addOption(option('--devices <n>', 'devices sending photos').argParser(intArg(1, 1_000_000)).default(100))
    .addOption(option('--photos <n>', 'photos in total').argParser(intArg(1, 10_000_000)).default(500))
    .addOption(option('--instances <n>', 'inference instances').argParser(intArg(1, 64)).default(1))
    .addOption(
      option('--analyzer-ms <ms>', 'use the fixed-delay stand-in (NOT a model) with this delay').argParser(
        intArg(0, 60_000),
      ),
    )
    .addOption(option('--analytics <spec>', 'model when --analyzer-ms is not given (see inference)').default('local'))
    .addOption(option('--batch-size <n>', 'photos per batch').argParser(intArg(1, 1000)).default(10))
    .addOption(option('--max-wait <duration>', 'max wait for a partial batch').argParser(durationArg).default(200))
    .addOption(option('--lanes <n>', 'concurrent ingestion lanes').argParser(intArg(1, 256)).default(8))
    .addOption(option('--burst', 'store every photo first, then announce all at once (broker path)').default(false))
    .addOption(
      option('--timeout <duration>', 'give up waiting for outcomes after').argParser(durationArg).default(300_000),
    )
    .addOption(option('--json', 'print the result as JSON').default(false))
    .action(async (raw: unknown) => {
      const options = parseOptions(
        z.object({
          devices: z.number(),
          photos: z.number(),
          instances: z.number(),
          analyzerMs: z.number().optional(),
          analytics: z.string(),
          batchSize: z.number(),
          maxWait: z.number(),
          lanes: z.number(),
          burst: z.boolean(),
          timeout: z.number(),
          json: z.boolean(),
        }),
        raw,
      );
      const result = await runPipelineBench(
        {
          devices: options.devices,
          photos: options.photos,
          instances: options.instances,
          ...(options.analyzerMs !== undefined ? { analyzerMs: options.analyzerMs } : {}),
          batchSize: options.batchSize,
          maxWaitMs: options.maxWait,
          burst: options.burst,
          lanes: options.lanes,
          timeoutMs: options.timeout,
        },
        () => createCounterFor(parseAnalyticsSpec(options.analytics), readSecret(process.env, ANALYTICS_API_KEY_ENV)),
      );
      console.log(options.json ? JSON.stringify(result, null, 2) : formatBenchResult(result));
    });
}

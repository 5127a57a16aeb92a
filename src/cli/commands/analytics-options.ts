/** Options shared by the analytics commands (count, eval, calibrate, analytics). */
import type { Command } from 'commander';
import { intArg, option } from '../options.js';

export function addWorkerOptions(command: Command): Command {
  return command
    .addOption(option('--workers <n>', 'model worker threads (default: number of cores)').argParser(intArg(1, 64)))
    .addOption(
      option(
        '--queue-limit <n>',
        'photos that may wait for a worker before new ones are refused (default 4 × workers)',
      ).argParser(intArg(0, 100_000)),
    );
}

export interface WorkerOptions {
  workers?: number | undefined;
  queueLimit?: number | undefined;
}

export function workerConfig(options: WorkerOptions) {
  return {
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.queueLimit !== undefined ? { queueLimit: options.queueLimit } : {}),
  };
}

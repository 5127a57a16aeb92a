/** Options shared by the commands that run the model (count, eval, calibrate, fit-threshold, analytics, inference). */
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_ANALYTICS_SPEC } from '../../analytics/counter-spec.js';
import { ANALYTICS_API_KEY_ENV } from '../../analytics/http-counter.js';
import { DEFAULT_PRECISION, DEFAULT_RUNTIME, PRECISIONS, RUNTIMES } from '../../analytics/runtime.js';
import { intArg, option } from '../options.js';

export const RUNTIME_HELP =
  'model runtime: onnx (ONNX Runtime, native, ≈ 3× faster) or wasm (TensorFlow.js); onnx falls back to wasm with a warning where ONNX Runtime cannot load';

export function runtimeOption() {
  return option('--runtime <runtime>', RUNTIME_HELP)
    .choices([...RUNTIMES])
    .default(DEFAULT_RUNTIME);
}

export function precisionOption() {
  return option(
    '--precision <precision>',
    'person detector weights on ONNX Runtime: int8 (quantized, models/person-detector-int8.json) or fp32; results name the one that ran; tfjs-wasm always runs fp32',
  )
    .choices([...PRECISIONS])
    .default(DEFAULT_PRECISION);
}

/** `--analytics`: the model an inference instance counts with (inference, up). */
export function analyticsSpecOption() {
  return option(
    '--analytics <spec>',
    `"local" (in-process model), an http(s) URL of the analytics service (key from ${ANALYTICS_API_KEY_ENV}), or "fixed-delay:<ms>" (stand-in, not a model)`,
  ).default(DEFAULT_ANALYTICS_SPEC);
}

export function addWorkerOptions(command: Command): Command {
  return command
    .addOption(option('--workers <n>', 'model worker threads (default: number of cores)').argParser(intArg(1, 64)))
    .addOption(
      option(
        '--queue-limit <n>',
        'photos that may wait for a worker before new ones are refused (default 4 × workers)',
      ).argParser(intArg(0, 100_000)),
    )
    .addOption(runtimeOption())
    .addOption(precisionOption());
}

/** The fields addWorkerOptions adds, for each command's option schema. */
export const workerOptionsShape = {
  workers: z.number().optional(),
  queueLimit: z.number().optional(),
  runtime: z.enum(RUNTIMES).optional(),
  precision: z.enum(PRECISIONS).optional(),
};

export interface WorkerOptions {
  workers?: number | undefined;
  queueLimit?: number | undefined;
  runtime?: (typeof RUNTIMES)[number] | undefined;
  precision?: (typeof PRECISIONS)[number] | undefined;
}

export function workerConfig(options: WorkerOptions) {
  return {
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.queueLimit !== undefined ? { queueLimit: options.queueLimit } : {}),
    ...(options.runtime !== undefined ? { runtime: options.runtime } : {}),
    ...(options.precision !== undefined ? { precision: options.precision } : {}),
  };
}

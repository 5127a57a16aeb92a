/**
 * Model throughput benchmark: photos/s of the local pool at several worker counts, measured in
 * interleaved rounds. On a shared VM the speed of identical runs drifts by tens of percent, so one run per
 * worker count says little about scaling; every round measures every pool back to back (order reversed
 * each round) and the scaling is the median of the per-round ratios.
 */
import sharp from 'sharp';
import { forEachConcurrently } from '../core/concurrently.js';
import type { DetectOptions } from './detector.js';
import { percentile } from './evaluation.js';
import type { LocalCounterConfig, LocalPeopleCounter } from './local-counter.js';
import { forEachKeepingWorkersBusy, PHOTOS_IN_FLIGHT_PER_WORKER } from './run-dataset.js';

export interface ModelBenchOptions {
  /** Pool sizes to compare; the first is the baseline of the scaling figures. */
  workerCounts: readonly number[];
  rounds: number;
  photos: readonly Buffer[];
  detect: DetectOptions;
  onProgress?: (message: string) => void;
}

/** One measured pass of one pool over every photo. */
export interface RoundSample {
  workers: number;
  photosPerSecond: number;
  /** Decode + inference per photo inside the worker. */
  msPerPhoto: number[];
}

export interface WorkerCountResult {
  workers: number;
  photosPerSecond: { median: number; min: number; max: number };
  msPerPhotoMedian: number;
  /** Median over rounds of this pool's photos/s divided by the baseline pool's in the same round. */
  scaling: number;
}

export interface ModelBenchResult {
  model: string;
  backend: string;
  photos: number;
  rounds: number;
  perWorkers: WorkerCountResult[];
  /** Peak resident memory of the process (all pools, every worker's model). */
  maxRssMb: number;
}

/** Pure summary of the rounds: `rounds[r]` holds one sample per worker count, in `workerCounts` order. */
export function summariseRounds(
  workerCounts: readonly number[],
  rounds: ReadonlyArray<readonly RoundSample[]>,
): WorkerCountResult[] {
  return workerCounts.map((workers, index) => {
    const samples = rounds.map((round) => round[index] as RoundSample);
    const rates = samples.map((s) => s.photosPerSecond);
    const ratios = rounds.map(
      (round) => (round[index] as RoundSample).photosPerSecond / (round[0] as RoundSample).photosPerSecond,
    );
    return {
      workers,
      photosPerSecond: { median: percentile(rates, 50), min: Math.min(...rates), max: Math.max(...rates) },
      msPerPhotoMedian: percentile(
        samples.flatMap((s) => s.msPerPhoto),
        50,
      ),
      scaling: percentile(ratios, 50),
    };
  });
}

/** Noise photos for a speed-only run without a dataset (the model's cost does not depend on content). */
export async function syntheticPhotos(count: number, width = 640, height = 480): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const pixels = Buffer.alloc(width * height * 3);
      // Deterministic pseudo-random pixels, different per photo.
      let state = 0x9e3779b9 ^ i;
      for (let p = 0; p < pixels.length; p++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        pixels[p] = state >>> 24;
      }
      return sharp(pixels, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 85 })
        .toBuffer();
    }),
  );
}

async function measure(pool: LocalPeopleCounter, options: ModelBenchOptions): Promise<RoundSample> {
  const msPerPhoto: number[] = [];
  const started = performance.now();
  await forEachKeepingWorkersBusy(pool, options.photos, async (photo) => {
    msPerPhoto.push((await pool.detect(photo, options.detect)).ms);
  });
  const seconds = (performance.now() - started) / 1000;
  return { workers: pool.workers, photosPerSecond: options.photos.length / seconds, msPerPhoto };
}

export async function runModelBench(
  options: ModelBenchOptions,
  createPool: (config: LocalCounterConfig) => Promise<LocalPeopleCounter>,
): Promise<ModelBenchResult> {
  if (options.photos.length === 0) throw new Error('the model bench needs at least one photo');
  const log = options.onProgress ?? (() => undefined);
  const pools: LocalPeopleCounter[] = [];
  try {
    for (const workers of options.workerCounts) {
      log(`loading ${workers} worker(s)`);
      // The queue must hold every photo in flight.
      const pool = await createPool({ workers, queueLimit: PHOTOS_IN_FLIGHT_PER_WORKER * workers });
      pools.push(pool);
      // Warm-up: the first inference of each worker is 2–3× slower (kernel set-up), not measured.
      await forEachConcurrently(
        Array.from({ length: 2 * workers }, (_, i) => options.photos[i % options.photos.length] as Buffer),
        pool.workers,
        async (photo) => void (await pool.detect(photo, options.detect)),
      );
    }
    const rounds: RoundSample[][] = [];
    for (let round = 0; round < options.rounds; round++) {
      const order = pools.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      const samples: RoundSample[] = new Array(pools.length);
      for (const index of order) {
        const sample = await measure(pools[index] as LocalPeopleCounter, options);
        samples[index] = sample;
        log(
          `round ${round + 1}/${options.rounds}: ${sample.workers} worker(s) ${sample.photosPerSecond.toFixed(2)} photos/s`,
        );
      }
      rounds.push(samples);
    }
    const first = pools[0] as LocalPeopleCounter;
    return {
      model: first.model,
      backend: first.backend,
      photos: options.photos.length,
      rounds: options.rounds,
      perWorkers: summariseRounds(options.workerCounts, rounds),
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

export function formatModelBench(result: ModelBenchResult): string {
  const lines = [
    `model        ${result.model} on ${result.backend}`,
    `photos       ${result.photos} per round, ${result.rounds} interleaved rounds`,
    'workers  photos/s median (min–max)  ms/photo median  scaling vs first (median of rounds)',
  ];
  for (const w of result.perWorkers) {
    const rate = `${w.photosPerSecond.median.toFixed(2).padStart(6)} (${w.photosPerSecond.min.toFixed(2)}–${w.photosPerSecond.max.toFixed(2)})`;
    lines.push(
      `${String(w.workers).padEnd(8)} ${rate.padEnd(27)}${w.msPerPhotoMedian.toFixed(0).padStart(8)}         ${w.scaling.toFixed(2)}×`,
    );
  }
  lines.push(`peak RSS     ${result.maxRssMb.toFixed(0)} MB (every pool loaded at once)`);
  return lines.join('\n');
}

/**
 * Model throughput benchmark: photos/s of the local pool for several runtimes and worker counts, measured
 * in interleaved rounds. On a shared VM the speed of identical runs drifts by tens of percent, so one run
 * per pool says little about scaling or speed-up; every round measures every pool back to back (order
 * reversed each round) and both ratios are medians of the per-round ratios.
 */
import sharp from 'sharp';
import type { DetectOptions } from '../analytics/detector.js';
import { percentile } from '../analytics/evaluation.js';
import type { LocalCounterConfig, LocalPeopleCounter } from '../analytics/local-counter.js';
import { forEachKeepingWorkersBusy, PHOTOS_IN_FLIGHT_PER_WORKER } from '../analytics/run-dataset.js';
import type { Runtime } from '../analytics/runtime.js';
import { forEachConcurrently } from '../core/concurrently.js';

export interface ModelBenchOptions {
  /** Runtimes to compare; the first is the baseline of the speed-up figures. */
  runtimes: readonly Runtime[];
  /** Pool sizes to compare; the first is the baseline of the scaling figures. */
  workerCounts: readonly number[];
  rounds: number;
  photos: readonly Buffer[];
  detect: DetectOptions;
  onProgress?: (message: string) => void;
}

/** One pool of the bench: a runtime at a worker count. */
export interface PoolSetup {
  runtime: Runtime;
  workers: number;
}

/** One measured pass of one pool over every photo. */
export interface RoundSample extends PoolSetup {
  photosPerSecond: number;
  /** Decode + inference per photo inside the worker. */
  msPerPhoto: number[];
}

export interface PoolResult extends PoolSetup {
  /** What actually ran (differs from `runtime` after a fallback). */
  backend: string;
  photosPerSecond: { median: number; min: number; max: number };
  msPerPhotoMedian: number;
  /** Median over rounds of this pool's photos/s ÷ the same runtime's first worker count's, same round. */
  scaling: number;
  /** Median over rounds of this pool's photos/s ÷ the first runtime's at the same worker count, same round. */
  speedup: number;
  /** Growth of the process's resident memory when this pool was loaded and warmed, per worker. */
  rssPerWorkerMb: number;
}

export interface ModelBenchResult {
  model: string;
  photos: number;
  rounds: number;
  pools: PoolResult[];
  /** Peak resident memory of the process (all pools, every worker's model). */
  maxRssMb: number;
}

/** Every runtime at every worker count, runtime-major (the order pools are loaded and reported). */
export function poolSetups(runtimes: readonly Runtime[], workerCounts: readonly number[]): PoolSetup[] {
  return runtimes.flatMap((runtime) => workerCounts.map((workers) => ({ runtime, workers })));
}

const median = (values: number[]) => percentile(values, 50);

/** Pure summary of the rounds: `rounds[r]` holds one sample per pool, in `poolSetups` order. */
export function summariseRounds(
  setups: readonly PoolSetup[],
  rounds: ReadonlyArray<readonly RoundSample[]>,
): Array<Omit<PoolResult, 'backend' | 'rssPerWorkerMb'>> {
  const indexOf = (runtime: Runtime, workers: number) =>
    setups.findIndex((s) => s.runtime === runtime && s.workers === workers);
  const first = setups[0] as PoolSetup;
  return setups.map((setup, index) => {
    const samples = rounds.map((round) => round[index] as RoundSample);
    const rates = samples.map((s) => s.photosPerSecond);
    const ratioTo = (other: number) =>
      median(
        rounds.map(
          (round) => (round[index] as RoundSample).photosPerSecond / (round[other] as RoundSample).photosPerSecond,
        ),
      );
    const sameRuntimeBase = indexOf(setup.runtime, setups.find((s) => s.runtime === setup.runtime)?.workers ?? 0);
    const sameWorkersBase = indexOf(first.runtime, setup.workers);
    return {
      ...setup,
      photosPerSecond: { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) },
      msPerPhotoMedian: median(samples.flatMap((s) => s.msPerPhoto)),
      scaling: ratioTo(sameRuntimeBase),
      speedup: sameWorkersBase < 0 ? Number.NaN : ratioTo(sameWorkersBase),
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

async function measure(pool: LocalPeopleCounter, setup: PoolSetup, options: ModelBenchOptions): Promise<RoundSample> {
  const msPerPhoto: number[] = [];
  const started = performance.now();
  await forEachKeepingWorkersBusy(pool, options.photos, async (photo) => {
    msPerPhoto.push((await pool.detect(photo, options.detect)).ms);
  });
  const seconds = (performance.now() - started) / 1000;
  return { ...setup, photosPerSecond: options.photos.length / seconds, msPerPhoto };
}

export async function runModelBench(
  options: ModelBenchOptions,
  createPool: (config: LocalCounterConfig) => Promise<LocalPeopleCounter>,
): Promise<ModelBenchResult> {
  if (options.photos.length === 0) throw new Error('the model bench needs at least one photo');
  const log = options.onProgress ?? (() => undefined);
  const setups = poolSetups(options.runtimes, options.workerCounts);
  const pools: LocalPeopleCounter[] = [];
  const rssPerWorkerMb: number[] = [];
  try {
    for (const { runtime, workers } of setups) {
      log(`loading ${runtime} with ${workers} worker(s)`);
      const rssBefore = process.memoryUsage().rss;
      // The queue must hold every photo in flight.
      const pool = await createPool({ workers, runtime, queueLimit: PHOTOS_IN_FLIGHT_PER_WORKER * workers });
      pools.push(pool);
      // Warm-up: the first inference of each worker is 2–3× slower (kernel set-up), not measured.
      await forEachConcurrently(
        Array.from({ length: 2 * workers }, (_, i) => options.photos[i % options.photos.length] as Buffer),
        pool.workers,
        async (photo) => void (await pool.detect(photo, options.detect)),
      );
      rssPerWorkerMb.push((process.memoryUsage().rss - rssBefore) / 1024 / 1024 / workers);
    }
    const rounds: RoundSample[][] = [];
    for (let round = 0; round < options.rounds; round++) {
      const order = pools.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      const samples: RoundSample[] = new Array(pools.length);
      for (const index of order) {
        const sample = await measure(pools[index] as LocalPeopleCounter, setups[index] as PoolSetup, options);
        samples[index] = sample;
        log(
          `round ${round + 1}/${options.rounds}: ${sample.runtime} ${sample.workers} worker(s) ${sample.photosPerSecond.toFixed(2)} photos/s`,
        );
      }
      rounds.push(samples);
    }
    return {
      model: (pools[0] as LocalPeopleCounter).model,
      photos: options.photos.length,
      rounds: options.rounds,
      pools: summariseRounds(setups, rounds).map((result, i) => ({
        ...result,
        backend: (pools[i] as LocalPeopleCounter).backend,
        rssPerWorkerMb: rssPerWorkerMb[i] as number,
      })),
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

export function formatModelBench(result: ModelBenchResult): string {
  const first = result.pools[0];
  const lines = [
    `model        ${result.model}`,
    `photos       ${result.photos} per round, ${result.rounds} interleaved rounds`,
    `runtime  workers  photos/s median (min–max)  ms/photo median  scaling  vs ${first?.runtime ?? '?'}  RSS/worker`,
  ];
  for (const p of result.pools) {
    const rate = `${p.photosPerSecond.median.toFixed(2).padStart(6)} (${p.photosPerSecond.min.toFixed(2)}–${p.photosPerSecond.max.toFixed(2)})`;
    const runtime = p.backend === p.runtime ? p.runtime : `${p.runtime}→${p.backend}`;
    lines.push(
      `${runtime.padEnd(8)} ${String(p.workers).padEnd(8)} ${rate.padEnd(27)}${p.msPerPhotoMedian.toFixed(0).padStart(8)}         ${p.scaling.toFixed(2).padStart(5)}×  ${p.speedup.toFixed(2).padStart(5)}×  ${p.rssPerWorkerMb.toFixed(0).padStart(6)} MB`,
    );
  }
  lines.push('scaling = vs the first worker count of the same runtime; both ratios are medians of per-round ratios');
  lines.push(`peak RSS     ${result.maxRssMb.toFixed(0)} MB (every pool loaded at once)`);
  return lines.join('\n');
}

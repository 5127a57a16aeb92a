/**
 * The in-process analytics platform: a pool of worker threads, one model per worker, fed from a
 * bounded queue. A full queue refuses work at once (CounterBusyError) instead of piling up latency.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type Clock, systemClock } from '../core/clock.js';
import { looksLikeJpeg } from '../core/image.js';
import {
  type CameraProfile,
  CounterBusyError,
  type CountResult,
  type PeopleCounter,
  UnusableImageError,
} from '../core/people-counter.js';
import { countingMethods, methodOf, type PhotoPasses } from './counting-methods.js';
import { type DensityMap, readDensityCard } from './density.js';
import { type DetectOptions, type FrameDetections, wasmFallbackWarning } from './detector.js';
import { cardModelId } from './model-card.js';
import { onnxRuntimeLoadProblem } from './onnx/onnx-probe.js';
import { DEFAULT_PRECISION, DEFAULT_RUNTIME, type Precision, type Runtime } from './runtime.js';
import type { PassRequest, WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

export interface LocalCounterConfig {
  /** Worker threads, each with its own model (~200 MB). Default: the number of cores. */
  workers?: number;
  /** Photos allowed to wait for a free worker; more are refused with CounterBusyError. Default 4 × workers. */
  queueLimit?: number;
  /** Model runtime; `onnx` falls back to `wasm` (with one warning) where ONNX Runtime cannot load. */
  runtime?: Runtime;
  /** The detector's weights on ONNX Runtime: fp32 or the int8 build (tfjs-wasm runs fp32). */
  precision?: Precision;
  /** Where that one warning goes. Default: one line on stderr. */
  onWarning?: (message: string) => void;
  /** Times the auto default's per-camera density checks. Default: the system clock. */
  clock?: Pick<Clock, 'now'>;
}

/** Person boxes in frame pixels after NMS, every score ≥ the requested minimum. */
export interface RawDetections extends FrameDetections {
  /** Decode + inference time in the worker. */
  ms: number;
}

export interface LocalPeopleCounter extends PeopleCounter {
  readonly backend: string;
  readonly workers: number;
  /** Raw scored detections, before threshold/ROI/correction (for calibration and annotation). */
  detect(jpeg: Buffer, options: DetectOptions): Promise<RawDetections>;
  /** The crowd-density network's map of a photo (for tuning and evaluation); needs ONNX Runtime. */
  density(jpeg: Buffer): Promise<DensityFrame>;
  /** Photos waiting for a worker. */
  queued(): number;
}

/** A density pass's map, with its decode + inference time in the worker. */
export interface DensityFrame extends DensityMap {
  ms: number;
}

type PassResult = RawDetections | DensityFrame;

interface Job {
  id: number;
  jpeg: Buffer;
  pass: PassRequest;
  resolve(result: PassResult): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

const WORKER_URL = new URL('./detector-worker.js', import.meta.url);

interface Spawned {
  worker: Worker;
  backend: string;
  model: string;
  warning?: string | undefined;
}

function spawn(workerData: WorkerData): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData });
    const onReady = (reply: WorkerReply) => {
      worker.off('error', onError);
      if (reply.type === 'ready')
        resolve({ worker, backend: reply.backend, model: reply.model, warning: reply.warning });
      else {
        void worker.terminate();
        reject(new Error(reply.type === 'fatal' ? reply.message : `unexpected first message ${reply.type}`));
      }
    };
    const onError = (error: Error) => reject(error);
    worker.once('message', onReady);
    worker.once('error', onError);
  });
}

export async function createLocalPeopleCounter(config: LocalCounterConfig = {}): Promise<LocalPeopleCounter> {
  const size = config.workers ?? availableParallelism();
  if (!Number.isInteger(size) || size < 1) throw new Error(`workers must be a whole number ≥ 1, got ${size}`);
  const queueLimit = config.queueLimit ?? 4 * size;
  // A native library that crashes while loading would kill this process from a worker thread.
  const loadProblem = (config.runtime ?? DEFAULT_RUNTIME) === 'onnx' ? await onnxRuntimeLoadProblem() : undefined;
  const runtime: Runtime = loadProblem === undefined ? (config.runtime ?? DEFAULT_RUNTIME) : 'wasm';
  const workerData: WorkerData = { runtime, precision: config.precision ?? DEFAULT_PRECISION };
  const started = await Promise.allSettled(Array.from({ length: size }, () => spawn(workerData)));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const s of started) if (s.status === 'fulfilled') await s.value.worker.terminate();
    throw new Error(`analytics worker failed to start: ${(failed.reason as Error).message}`);
  }
  const ready = started.map((s) => (s as PromiseFulfilledResult<Spawned>).value);
  const backend = ready[0]?.backend ?? 'none';
  const model = ready[0]?.model ?? 'none';
  const warning =
    loadProblem === undefined ? ready.find((r) => r.warning !== undefined)?.warning : wasmFallbackWarning(loadProblem);
  if (warning !== undefined) (config.onWarning ?? ((m) => console.error(`warning: ${m}`)))(warning);
  // The density network runs on ONNX Runtime only; its card is read now so a broken install fails at start.
  const densityAvailable = backend === 'onnx';
  const densityModel = cardModelId(readDensityCard());
  const methods = countingMethods(config.clock ?? systemClock);
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  function attach(slot: Slot): void {
    slot.worker.on('message', (reply: WorkerReply) => {
      const job = slot.job;
      if (!job || !('id' in reply) || reply.id !== job.id) return;
      slot.job = undefined;
      if (reply.type === 'result') {
        const { type: _type, id: _id, ...raw } = reply;
        job.resolve(raw);
      } else if (reply.type === 'density') {
        job.resolve({ ...reply.map, ms: reply.ms });
      } else {
        job.reject(reply.unusable ? new UnusableImageError(reply.message) : new Error(reply.message));
      }
      pump();
    });
    // A crashed worker loses only its current photo; a fresh one takes its place.
    slot.worker.on('error', (error) => {
      slot.job?.reject(new Error(`analytics worker crashed: ${error.message}`));
      slot.job = undefined;
    });
    slot.worker.on('exit', () => {
      if (closed) return;
      slots.splice(slots.indexOf(slot), 1);
      slot.job?.reject(new Error('analytics worker exited unexpectedly'));
      slot.job = undefined;
      spawn(workerData).then(
        ({ worker }) => {
          if (closed) return void worker.terminate();
          const replacement: Slot = { worker, job: undefined };
          slots.push(replacement);
          attach(replacement);
          pump();
        },
        (error: Error) => {
          // Nothing would ever take the waiting photos: fail them rather than hang.
          if (slots.length > 0) return;
          for (const job of queue.splice(0)) job.reject(new Error(`no analytics worker left: ${error.message}`));
        },
      );
    });
  }

  for (const { worker } of ready) {
    const slot: Slot = { worker, job: undefined };
    slots.push(slot);
    attach(slot);
  }

  function pump(): void {
    for (const slot of slots) {
      if (slot.job) continue;
      const job = queue.shift();
      if (!job) return;
      slot.job = job;
      const jpeg = new Uint8Array(job.jpeg);
      slot.worker.postMessage({ id: job.id, jpeg, pass: job.pass } satisfies WorkerRequest, [jpeg.buffer]);
    }
  }

  /** `followUp`: a further pass of a photo already admitted: it goes first and is never refused as busy. */
  function submit(jpeg: Buffer, pass: PassRequest, followUp: boolean): Promise<PassResult> {
    if (closed) return Promise.reject(new Error('people counter is closed'));
    if (!looksLikeJpeg(jpeg)) {
      return Promise.reject(new UnusableImageError('not a JPEG (missing FF D8 FF signature)'));
    }
    const idle = slots.some((slot) => !slot.job);
    if (!followUp && !idle && queue.length >= queueLimit) {
      return Promise.reject(new CounterBusyError(`analytics queue is full (${queueLimit} photos waiting)`));
    }
    return new Promise((resolve, reject) => {
      const job = { id: nextId++, jpeg, pass, resolve, reject };
      if (followUp) queue.unshift(job);
      else queue.push(job);
      pump();
    });
  }

  /** The passes of one photo: the first is admitted (or refused as busy), the later ones go first. */
  function passesFor(jpeg: Buffer): Omit<PhotoPasses, 'density'> & {
    density?: () => Promise<DensityFrame>;
    ms(): number;
    size(): { width: number; height: number } | undefined;
  } {
    let ms = 0;
    let size: { width: number; height: number } | undefined;
    let admitted = false;
    const run = async <T extends PassResult>(pass: PassRequest): Promise<T> => {
      const followUp = admitted;
      admitted = true;
      const result = (await submit(jpeg, pass, followUp)) as T;
      ms += result.ms;
      // Every pass decodes the same photo: any of them tells its size.
      size = { width: result.width, height: result.height };
      return result;
    };
    return {
      detect: (options) => run<RawDetections>({ kind: 'detect', options }),
      ...(densityAvailable ? { density: () => run<DensityFrame>({ kind: 'density' }) } : {}),
      ms: () => ms,
      size: () => size,
    };
  }

  return {
    model,
    backend,
    workers: size,
    detect: (jpeg, options) => submit(jpeg, { kind: 'detect', options }, false) as Promise<RawDetections>,
    density: (jpeg) => {
      const density = passesFor(jpeg).density;
      return density ? density() : Promise.reject(new Error('the density model needs ONNX Runtime'));
    },
    queued: () => queue.length,
    async count(jpeg: Buffer, profile: CameraProfile = {}, camera?: string): Promise<CountResult> {
      const passes = passesFor(jpeg);
      const counted = await methods[methodOf(profile)].count(passes, profile, camera);
      return {
        ...counted,
        ...passes.size(),
        model: counted.method === 'density' ? densityModel : model,
        backend,
        ms: passes.ms(),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('people counter closed'));
      await Promise.all(
        slots.map(async (slot) => {
          slot.job?.reject(new Error('people counter closed'));
          await slot.worker.terminate();
        }),
      );
    },
  };
}

/** Messages between the local pool and its model workers (structured clone; both sides are ours). */
import type { DensityMap } from './density.js';
import type { DetectOptions, FrameDetections } from './detector.js';
import type { Precision, Runtime } from './runtime.js';

/** What a worker is started with. */
export interface WorkerData {
  runtime: Runtime;
  /** The detector's weights on ONNX Runtime (tfjs-wasm runs fp32). */
  precision: Precision;
}

/** One model pass over a photo: the person detector (whole frame or tiles) or the crowd-density network. */
export type PassRequest = { kind: 'detect'; options: DetectOptions } | { kind: 'density' };

export interface WorkerRequest {
  id: number;
  jpeg: Uint8Array;
  pass: PassRequest;
}

export type WorkerReply =
  | { type: 'ready'; backend: string; model: string; warning?: string }
  | { type: 'fatal'; message: string }
  | ({ type: 'result'; id: number; ms: number } & FrameDetections)
  | { type: 'density'; id: number; ms: number; map: DensityMap }
  | { type: 'error'; id: number; unusable: boolean; message: string };

/** Messages between the local pool and its detector workers (structured clone; both sides are ours). */
import type { DetectOptions, FrameDetections } from './detector.js';
import type { Runtime } from './runtime.js';

/** What a worker is started with. */
export interface WorkerData {
  runtime: Runtime;
}

export interface WorkerRequest {
  id: number;
  jpeg: Uint8Array;
  options: DetectOptions;
}

export type WorkerReply =
  | { type: 'ready'; backend: string; warning?: string }
  | { type: 'fatal'; message: string }
  | ({ type: 'result'; id: number; ms: number } & FrameDetections)
  | { type: 'error'; id: number; unusable: boolean; message: string };

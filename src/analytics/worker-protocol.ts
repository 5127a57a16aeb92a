/** Messages between the local pool and its detector workers (structured clone; both sides are ours). */
import type { DetectOptions, FrameDetections } from './detector.js';

export interface WorkerRequest {
  id: number;
  jpeg: Uint8Array;
  options: DetectOptions;
}

export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'fatal'; message: string }
  | ({ type: 'result'; id: number; ms: number } & FrameDetections)
  | { type: 'error'; id: number; unusable: boolean; message: string };

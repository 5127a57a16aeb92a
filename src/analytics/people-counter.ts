/**
 * The analytics platform as the rest of the system sees it (like Frigate's detector interface):
 * in-process model, HTTP client to the REST service, or the fixed-delay stand-in for benchmarks.
 * Callers never know which one runs.
 */
import { z } from 'zod';
import type { Detection } from '../core/messages.js';

/** Per-camera counting settings, written by `calibrate` and accepted by `count`, `eval` and inference. */
export const cameraProfileSchema = z.object({
  /** Minimum detection score to count a person. */
  scoreThreshold: z.number().min(0).max(1).optional(),
  /** Split the frame into rows × cols overlapping tiles (helps with small, far-away people). */
  tiling: z
    .object({
      rows: z.number().int().min(1).max(8),
      cols: z.number().int().min(1).max(8),
      overlap: z.number().min(0).max(0.5),
    })
    .optional(),
  /** Count only people whose box foot-point lies inside this polygon (image pixels). */
  roi: z.array(z.tuple([z.number(), z.number()])).min(3).optional(),
  /** count' = max(0, round(scale × count + offset)). */
  correction: z.object({ scale: z.number().positive(), offset: z.number() }).optional(),
});
export type CameraProfile = z.infer<typeof cameraProfileSchema>;

export interface CountResult {
  count: number;
  detections: Detection[];
  /** Model identifier, e.g. `centernet-mobilenetv3@human-3.3.6`, or `fixed-delay-50ms (stand-in)`. */
  model: string;
  /** Compute time of this count in milliseconds. */
  ms: number;
}

/** The image could not be decoded or is unacceptable: retrying will not help. */
export class UnusableImageError extends Error {
  override name = 'UnusableImageError';
}

/** The counter is overloaded (queue full); retry later. */
export class CounterBusyError extends Error {
  override name = 'CounterBusyError';
}

export interface PeopleCounter {
  readonly model: string;
  count(jpeg: Buffer, profile?: CameraProfile): Promise<CountResult>;
  close(): Promise<void>;
}

/**
 * What engage's tuning desk needs of the model, and what a fit reports: the contract between engage and
 * analytics (src/analytics/tuning-fit.ts implements it; `up` and `engage` hand it to engage).
 */
import { z } from 'zod';
import { detectionSchema } from './messages.js';
import type { CameraProfile, Tiling } from './people-counter.js';

/** A person candidate for labelling: a raw detection, and whether the default counter counts it. */
export const tuningCandidateSchema = detectionSchema.extend({
  counted: z.boolean().optional().describe('the default counter counts it (the labelling dialog suggests it)'),
});
export type TuningCandidate = z.infer<typeof tuningCandidateSchema>;

/** Fewer frames cannot be both fitted and cross-validated. */
export const MIN_TUNING_FRAMES = 4;

/** One clicked person, [x, y] in image pixels. */
export type Mark = readonly [number, number];

export interface LabelledFrame {
  id: string;
  jpeg: Buffer;
  truth: number;
  /** One per person when the user clicked them (then marks.length = truth); null when only counted. */
  marks?: readonly Mark[] | null;
}

/** What the profile was fitted from: the marked people, or the counts alone (some frame unmarked). */
export type TuningMethod = 'marks' | 'counts';

export interface TuningFitReport {
  profile: CameraProfile;
  /** Which counter the profile tunes: the detector's settings, or the density network's scale. */
  counter: 'detector' | 'density';
  /** Frames fitted on (undecodable ones left out). */
  frames: number;
  /** The current profile (or the defaults) on these frames. */
  maeBefore: number;
  /** The new profile, cross-validated on these frames. */
  maeAfter: number;
  method: TuningMethod;
  /** Model runs per photo under the new profile, its tiling and whether it adds a whole-frame pass: what the tuning costs every photo. */
  passes: number;
  tiling: string;
  wholeFrame: boolean;
  skipped: Array<{ id: string; message: string }>;
}

export class TuningInputError extends Error {
  override name = 'TuningInputError';
}

export class TuningCancelledError extends Error {
  override name = 'TuningCancelledError';
}

export interface TuningFitOptions {
  current?: CameraProfile | undefined;
  tilings?: readonly Tiling[];
  /** Model passes done of the total (frames × (tilings + 1)). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The model as engage's tuning desk uses it: candidate boxes for labelling, and the fit of a profile. */
export interface TuningModel {
  /** The model's candidates on the whole frame down to its raw score floor; UnusableImageError when undecodable. */
  candidates(jpeg: Buffer): Promise<TuningCandidate[]>;
  fit(frames: readonly LabelledFrame[], options?: TuningFitOptions): Promise<TuningFitReport>;
}

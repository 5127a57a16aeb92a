/**
 * Fits a camera profile on a few labelled frames of one camera, as the dashboard's "Tune counting"
 * does: the model runs every frame under the same candidate tilings as `people-counter calibrate`.
 * When every frame's people are marked (clicked), the fit learns from each candidate box which of
 * them are people (mark-fit.ts); with counts only, the same `calibrate` chooses tiling, counting
 * mode, threshold and correction on all frames. The error it reports is honest on few frames: the
 * whole choice is repeated with each fold of consecutive frames held out (nested cross-validation),
 * and the current profile's error is measured on the same frames. Both in people per frame.
 */
import { forEachConcurrently } from '../core/concurrently.js';
import type { Detection } from '../core/messages.js';
import { calibrate, DEFAULT_CALIBRATION_TILINGS, thresholdGrid } from './calibration.js';
import { MIN_RAW_SCORE } from './detector.js';
import { meanAbsoluteError } from './evaluation.js';
import type { LocalPeopleCounter } from './local-counter.js';
import { fitMarkedFrames, type Mark, type MarkedFit } from './mark-fit.js';
import { type CameraProfile, CounterBusyError, UnusableImageError } from './people-counter.js';
import { countKeptScores, detectOptionsFor, passesOf } from './postprocess.js';
import { PHOTOS_IN_FLIGHT_PER_WORKER } from './run-dataset.js';
import type { Tiling } from './tiling.js';

/** Fewer frames cannot be both fitted and cross-validated. */
export const MIN_TUNING_FRAMES = 4;
/** Outer folds of the reported cross-validated error. */
const OUTER_FOLDS = 4;
const BUSY_RETRY_MS = 200;

export type TuningDetector = Pick<LocalPeopleCounter, 'detect' | 'count' | 'workers'>;

/** The in-process model can look at raw detections; the HTTP client and the stand-in cannot. */
export function isTuningDetector(counter: object): counter is TuningDetector {
  return 'detect' in counter && typeof counter.detect === 'function' && 'workers' in counter;
}

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

/** Consecutive folds of 0..n-1 (neighbouring frames are alike, so they are held out together). */
export function consecutiveFolds(n: number, folds: number): number[][] {
  const k = Math.min(folds, n);
  return Array.from({ length: k }, (_, f) =>
    Array.from(
      { length: Math.floor(((f + 1) * n) / k) - Math.floor((f * n) / k) },
      (_, i) => Math.floor((f * n) / k) + i,
    ),
  );
}

export async function fitTuningProfile(
  detector: TuningDetector,
  frames: readonly LabelledFrame[],
  options: TuningFitOptions = {},
): Promise<TuningFitReport> {
  const tilings = options.tilings ?? DEFAULT_CALIBRATION_TILINGS;
  const total = frames.length * (tilings.length + 1);
  let done = 0;
  const measured: Array<MeasuredFrame | undefined> = [];
  const skipped: TuningFitReport['skipped'] = [];
  const passes = [...tilings.map((tiling) => ({ tiling, minScore: MIN_RAW_SCORE })), undefined];
  // Every pass of every frame is its own job, so that every model worker stays busy.
  const results = frames.map(() => new Array<Detection[] | number>(passes.length));
  const jobs = frames.flatMap((frame, f) => passes.map((pass, p) => ({ frame, f, pass, p })));
  const unusable = new Map<number, string>();
  await forEachConcurrently(jobs, detector.workers * PHOTOS_IN_FLIGHT_PER_WORKER, async ({ frame, f, pass, p }) => {
    if (!unusable.has(f)) {
      try {
        const row = results[f] as Array<Detection[] | number>;
        row[p] = pass
          ? (await whenFree(() => detector.detect(frame.jpeg, pass), options.signal)).detections
          : (await whenFree(() => detector.count(frame.jpeg, options.current), options.signal)).count;
      } catch (error) {
        if (!(error instanceof UnusableImageError)) throw error;
        unusable.set(f, error.message);
      }
    }
    options.onProgress?.(++done, total);
  });
  frames.forEach((frame, f) => {
    const problem = unusable.get(f);
    if (problem !== undefined)
      skipped.push({ id: frame.id, message: `skipped: the photo cannot be decoded (${problem})` });
    const row = results[f] as Array<Detection[] | number>;
    measured.push(
      problem === undefined
        ? {
            truth: frame.truth,
            marks: frame.marks ?? null,
            detections: row.slice(0, tilings.length) as Detection[][],
            before: row[tilings.length] as number,
          }
        : undefined,
    );
  });
  const usable = measured.filter((m) => m !== undefined);
  return { ...fitMeasuredFrames(usable, tilings), skipped };
}

/** A labelled frame as the fit needs it: raw detections per candidate tiling and the current profile's count. */
export interface MeasuredFrame {
  truth: number;
  marks?: readonly Mark[] | null;
  detections: ReadonlyArray<readonly Detection[]>;
  before: number;
}

/** The pure part of the fit: choose the profile on every frame, cross-validate the choice, compare. */
export function fitMeasuredFrames(
  measured: readonly MeasuredFrame[],
  tilings: readonly Tiling[] = DEFAULT_CALIBRATION_TILINGS,
): Omit<TuningFitReport, 'skipped'> {
  if (measured.length < MIN_TUNING_FRAMES)
    throw new TuningInputError(
      `fitting needs at least ${MIN_TUNING_FRAMES} labelled frames that decode; ${measured.length} ${measured.length === 1 ? 'is' : 'are'} usable`,
    );
  const folds = consecutiveFolds(measured.length, OUTER_FOLDS);
  const without = (fold: readonly number[]) => measured.filter((_, i) => !fold.includes(i));
  const byMarks = fitOnMarks(measured, tilings);
  let profile: CameraProfile;
  let heldOutErrors: number[];
  if (byMarks) {
    profile = byMarks.profile;
    heldOutErrors = folds.map((fold) => {
      const fitted = fitOnMarks(without(fold), tilings);
      return fold.reduce((sum, i) => {
        const frame = measured[i] as MeasuredFrame;
        return sum + Math.abs(frame.truth - (fitted ? countMeasured(frame, fitted) : 0));
      }, 0);
    });
  } else {
    const calibrateHolding = (heldOut: readonly number[]) =>
      calibrate({
        tilings,
        frames: measured,
        split: { kind: 'held-out', frames: heldOut },
        thresholds: thresholdGrid(),
      });
    profile = calibrateHolding([]).profile;
    // Each fold's error comes from a choice made without it; weighted by fold size = per frame.
    heldOutErrors = folds.map((fold) => calibrateHolding(fold).heldOutMae * fold.length);
  }
  const options = detectOptionsFor(profile);
  return {
    profile,
    frames: measured.length,
    maeBefore: meanAbsoluteError(
      measured.map((m) => m.truth),
      measured.map((m) => m.before),
    ),
    maeAfter: heldOutErrors.reduce((a, b) => a + b, 0) / measured.length,
    method: byMarks ? 'marks' : 'counts',
    ...passesOf(options),
    wholeFrame: options.wholeFrame,
  };
}

/** Every frame's marks (an empty frame needs none), or undefined when some frame was only counted. */
function marksOf(measured: readonly MeasuredFrame[]): Array<readonly Mark[]> | undefined {
  const marks = measured.map((m) => m.marks ?? (m.truth === 0 ? [] : undefined));
  return marks.every((m) => m !== undefined) ? marks : undefined;
}

/** The marks-based fit (mark-fit.ts) at the model's raw floor, when every frame is marked. */
function fitOnMarks(frames: readonly MeasuredFrame[], tilings: readonly Tiling[]): MarkedFit | undefined {
  const marks = marksOf(frames);
  return (
    marks &&
    fitMarkedFrames(
      frames.map((frame, i) => ({ marks: marks[i] ?? [], detections: frame.detections })),
      tilings,
      MIN_RAW_SCORE,
    )
  );
}

/** The count under a marks-fitted profile (a flat threshold, no ROI) from the detections of its tiling. */
function countMeasured(frame: MeasuredFrame, fit: MarkedFit): number {
  const threshold = fit.profile.scoreThreshold ?? MIN_RAW_SCORE;
  const scoresAt = (index: number) =>
    (frame.detections[index] ?? []).filter((d) => d.score >= threshold).map((d) => d.score);
  return countKeptScores(
    scoresAt(fit.tilingIndex),
    fit.profile,
    fit.wholeFrameIndex === undefined ? undefined : scoresAt(fit.wholeFrameIndex),
  );
}

/** Runs a model call, waiting while the shared model's queue is full; stops when cancelled. */
async function whenFree<T>(call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  for (;;) {
    if (signal?.aborted) throw new TuningCancelledError('the fit was cancelled');
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof CounterBusyError)) throw error;
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
    }
  }
}

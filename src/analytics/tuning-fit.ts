/**
 * Fits a camera profile on a few labelled frames of one camera, as the dashboard's "Tune counting"
 * does: the model runs every frame under the same candidate tilings as `people-counter calibrate`.
 * When every frame's people are marked (clicked), the fit learns from each candidate box which of
 * them are people (mark-fit.ts); with counts only, the same `calibrate` chooses tiling, counting
 * mode, threshold and correction on all frames. The error it reports is honest on few frames: the
 * whole choice is repeated with each fold of consecutive frames held out (nested cross-validation),
 * and the current profile's error is measured on the same frames. Both in people per frame.
 *
 * A camera the crowd-density network counts (most frames counted by `density` under its current
 * profile) is tuned on that network instead: one scale factor on its map's sum inside the ROI, the
 * same cross-validation, one density pass per frame.
 */
import { forEachConcurrently } from '../core/concurrently.js';
import type { Detection } from '../core/messages.js';
import { type CameraProfile, CounterBusyError, MAX_DENSITY_SCALE, UnusableImageError } from '../core/people-counter.js';
import {
  type LabelledFrame,
  type Mark,
  MIN_TUNING_FRAMES,
  TuningCancelledError,
  type TuningFitOptions,
  type TuningFitReport,
  TuningInputError,
  type TuningModel,
} from '../core/tuning.js';
import { calibrate, DEFAULT_CALIBRATION_TILINGS, thresholdGrid } from './calibration.js';
import { densitySum } from './density.js';
import { MIN_RAW_SCORE } from './detector.js';
import { meanAbsoluteError } from './evaluation.js';
import type { LocalPeopleCounter } from './local-counter.js';
import { fitMarkedFrames, type MarkedFit } from './mark-fit.js';
import { countDetections, countKeptScores, detectOptionsFor, passesOf } from './postprocess.js';
import { PHOTOS_IN_FLIGHT_PER_WORKER } from './run-dataset.js';
import { SINGLE_TILE, type Tiling, tilingLabel } from './tiling.js';

/** Outer folds of the reported cross-validated error. */
const OUTER_FOLDS = 4;
const BUSY_RETRY_MS = 200;

export type TuningDetector = Pick<LocalPeopleCounter, 'detect' | 'count' | 'density' | 'workers'>;

/** The in-process model can look at raw detections; the HTTP client and the stand-in cannot. */
export function isTuningDetector(counter: object): counter is TuningDetector {
  return 'detect' in counter && typeof counter.detect === 'function' && 'workers' in counter;
}

/** What engage's tuning desk takes (core/tuning.ts): this detector's candidates at the raw floor, and the fit on it. */
export function tuningModelOf(detector: TuningDetector): TuningModel {
  return {
    async candidates(jpeg) {
      const frame = await detector.detect(jpeg, { tiling: SINGLE_TILE, minScore: MIN_RAW_SCORE });
      const counted = new Set(countDetections(frame).detections);
      return frame.detections.map((detection) => ({ ...detection, counted: counted.has(detection) }));
    },
    fit: (frames, options) => fitTuningProfile(detector, frames, options),
  };
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
  let done = 0;
  let total = frames.length * 2;
  const unusable = new Map<number, string>();
  // Every model pass of every frame is its own job, so that every model worker stays busy. Each job
  // keeps its own result; a frame that cannot be decoded is left out of the rest.
  const measure = (jobs: Array<{ f: number; pass: () => Promise<void> }>) =>
    forEachConcurrently(jobs, detector.workers * PHOTOS_IN_FLIGHT_PER_WORKER, async ({ f, pass }) => {
      if (!unusable.has(f)) {
        try {
          await whenFree(pass, options.signal);
        } catch (error) {
          if (!(error instanceof UnusableImageError)) throw error;
          unusable.set(f, error.message);
        }
      }
      options.onProgress?.(++done, total);
    });

  // First the current profile on every frame: the error to beat, and which counter counts this camera.
  const current: Array<{ count: number; method: string | undefined }> = [];
  await measure(
    frames.map((frame, f) => ({
      f,
      pass: async () => {
        const { count, method } = await detector.count(frame.jpeg, options.current);
        current[f] = { count, method };
      },
    })),
  );
  const countedByDensity = frames.map((_, f) => f).filter((f) => current[f]?.method === 'density');
  const byDensity = countedByDensity.length > current.filter((c) => c !== undefined).length / 2;

  const sums: number[] = [];
  const detections = frames.map(() => [] as Detection[][]);
  if (byDensity) {
    // Only the frames density counted: the others keep their detector count.
    total = frames.length + countedByDensity.length;
    await measure(
      countedByDensity.map((f) => ({
        f,
        pass: async () => {
          sums[f] = densitySum(await detector.density((frames[f] as LabelledFrame).jpeg), options.current?.roi);
        },
      })),
    );
  } else {
    total = frames.length * (1 + tilings.length);
    await measure(
      frames.flatMap((frame, f) =>
        tilings.map((tiling, p) => ({
          f,
          pass: async () => {
            const row = detections[f] as Detection[][];
            row[p] = (await detector.detect(frame.jpeg, { tiling, minScore: MIN_RAW_SCORE })).detections;
          },
        })),
      ),
    );
  }

  const skipped: TuningFitReport['skipped'] = [];
  const usable: number[] = [];
  frames.forEach((frame, f) => {
    const problem = unusable.get(f);
    if (problem === undefined) usable.push(f);
    else skipped.push({ id: frame.id, message: `skipped: the photo cannot be decoded (${problem})` });
  });
  const before = (f: number) => (current[f] as { count: number }).count;
  if (byDensity) {
    const measured = usable.map((f) => ({
      truth: (frames[f] as LabelledFrame).truth,
      before: before(f),
      densitySum: sums[f],
    }));
    return { ...fitDensityFrames(measured, options.current), skipped };
  }
  const measured = usable.map((f) => {
    const frame = frames[f] as LabelledFrame;
    return { truth: frame.truth, marks: frame.marks ?? null, detections: detections[f] ?? [], before: before(f) };
  });
  return { ...fitMeasuredFrames(measured, tilings), skipped };
}

/** A frame for the density fit: its map's sum inside the ROI when density counted it, and the current count. */
export interface DensityMeasuredFrame {
  truth: number;
  before: number;
  /** Undefined where the current profile counted the frame with the detector (auto saw few or large people). */
  densitySum: number | undefined;
}

/** A floor for the fitted density scale that keeps a count from vanishing (the ceiling is the profile schema's). */
const MIN_DENSITY_SCALE = 0.1;

/** Σ truth ÷ Σ map over the density-counted frames (1 when there are none): one number, hard to overfit. */
export function fitDensityScale(frames: readonly DensityMeasuredFrame[]): number {
  const counted = frames.filter((f) => f.densitySum !== undefined);
  const mapped = counted.reduce((sum, f) => sum + (f.densitySum as number), 0);
  if (counted.length === 0 || mapped <= 0) return 1;
  const truth = counted.reduce((sum, f) => sum + f.truth, 0);
  return Math.min(MAX_DENSITY_SCALE, Math.max(MIN_DENSITY_SCALE, truth / mapped));
}

/** The pure density fit: the scale on every frame, its error cross-validated in consecutive folds. */
export function fitDensityFrames(
  measured: readonly DensityMeasuredFrame[],
  current: CameraProfile = {},
): Omit<TuningFitReport, 'skipped'> {
  if (measured.length < MIN_TUNING_FRAMES)
    throw new TuningInputError(
      `fitting needs at least ${MIN_TUNING_FRAMES} labelled frames that decode; ${measured.length} ${measured.length === 1 ? 'is' : 'are'} usable`,
    );
  const countWith = (frame: DensityMeasuredFrame, scale: number) =>
    frame.densitySum === undefined ? frame.before : Math.max(0, Math.round(frame.densitySum * scale));
  const heldOutError = consecutiveFolds(measured.length, OUTER_FOLDS).reduce((sum, fold) => {
    const scale = fitDensityScale(measured.filter((_, i) => !fold.includes(i)));
    return (
      sum +
      fold.reduce((foldSum, i) => {
        const frame = measured[i] as DensityMeasuredFrame;
        return foldSum + Math.abs(frame.truth - countWith(frame, scale));
      }, 0)
    );
  }, 0);
  const scale = Math.round(fitDensityScale(measured) * 1000) / 1000;
  const forced = current.method === 'density';
  return {
    profile: { ...current, density: { scale } },
    counter: 'density',
    frames: measured.length,
    maeBefore: meanAbsoluteError(
      measured.map((m) => m.truth),
      measured.map((m) => m.before),
    ),
    maeAfter: heldOutError / measured.length,
    method: 'counts',
    // Auto runs the detector's whole-frame pass first, then the density network.
    passes: forced ? 1 : 2,
    tiling: tilingLabel(SINGLE_TILE),
    wholeFrame: false,
  };
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
    counter: 'detector',
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

/**
 * Per-camera calibration (pure): given raw scored detections of every frame under each candidate
 * tiling, pick the tiling, score threshold and linear correction that fit the FIT frames best, and
 * measure the choice on the held-out frames only.
 *
 * Split: the first ⌈fitFraction × n⌉ frames (in label order) are fitted, the rest are held out.
 * A contiguous split, not an interleaved one: neighbouring video frames are near-duplicates, so
 * interleaving would leak the fit into the held-out score.
 */
import type { Detection } from '../core/messages.js';
import { applyCorrection, type Correction, fitCorrection } from './correction.js';
import { meanAbsoluteError } from './evaluation.js';
import type { CameraProfile } from './people-counter.js';
import { withinRoi } from './roi.js';
import type { Tiling } from './tiling.js';

export interface CalibrationFrame {
  truth: number;
  /** Raw detections (after NMS, frame pixels) per candidate tiling, same order as `tilings`. */
  detections: ReadonlyArray<readonly Detection[]>;
}

export interface CalibrationInput {
  tilings: readonly Tiling[];
  frames: readonly CalibrationFrame[];
  fitFraction: number;
  thresholds: readonly number[];
  roi?: CameraProfile['roi'];
}

export interface Candidate {
  tiling: Tiling;
  scoreThreshold: number;
  correction: Correction | undefined;
  fitMae: number;
}

export interface CalibrationResult {
  profile: CameraProfile;
  fitFrames: number;
  heldOutFrames: number;
  fitMae: number;
  heldOutMae: number;
  /** The held-out MAE of the best candidate per tiling, for the report. */
  perTiling: Array<{ tiling: Tiling; scoreThreshold: number; fitMae: number; heldOutMae: number }>;
}

export function splitIndex(n: number, fitFraction: number): number {
  return Math.min(n - 1, Math.max(1, Math.ceil(n * fitFraction)));
}

/** Thresholds from `from` to `to` inclusive in `step`s, rounded to avoid float drift. */
export function thresholdGrid(from = 0.1, to = 0.7, step = 0.025): number[] {
  const grid: number[] = [];
  for (let t = from; t <= to + 1e-9; t += step) grid.push(Math.round(t * 1000) / 1000);
  return grid;
}

function rawCounts(
  frames: readonly CalibrationFrame[],
  tilingIndex: number,
  threshold: number,
  roi: CameraProfile['roi'],
) {
  return frames.map(
    (frame) =>
      withinRoi(
        (frame.detections[tilingIndex] ?? []).filter((d) => d.score >= threshold),
        roi,
      ).length,
  );
}

export function calibrate(input: CalibrationInput): CalibrationResult {
  if (input.frames.length < 2) throw new Error('calibration needs at least 2 labelled frames');
  const split = splitIndex(input.frames.length, input.fitFraction);
  const fit = input.frames.slice(0, split);
  const heldOut = input.frames.slice(split);
  const fitTruth = fit.map((f) => f.truth);
  const heldOutTruth = heldOut.map((f) => f.truth);

  const evaluate = (
    frames: readonly CalibrationFrame[],
    truth: number[],
    c: Omit<Candidate, 'fitMae'>,
    index: number,
  ) =>
    meanAbsoluteError(
      truth,
      rawCounts(frames, index, c.scoreThreshold, input.roi).map((n) => applyCorrection(n, c.correction)),
    );

  let best: (Candidate & { index: number }) | undefined;
  const perTiling: CalibrationResult['perTiling'] = [];
  input.tilings.forEach((tiling, index) => {
    let bestHere: (Candidate & { index: number }) | undefined;
    for (const scoreThreshold of input.thresholds) {
      const counts = rawCounts(fit, index, scoreThreshold, input.roi);
      for (const correction of [undefined, fitCorrection(counts, fitTruth)]) {
        const fitMae = evaluate(fit, fitTruth, { tiling, scoreThreshold, correction }, index);
        if (!bestHere || fitMae < bestHere.fitMae - 1e-9)
          bestHere = { tiling, scoreThreshold, correction, fitMae, index };
      }
    }
    if (!bestHere) return;
    perTiling.push({
      tiling,
      scoreThreshold: bestHere.scoreThreshold,
      fitMae: bestHere.fitMae,
      heldOutMae: evaluate(heldOut, heldOutTruth, bestHere, index),
    });
    if (!best || bestHere.fitMae < best.fitMae - 1e-9) best = bestHere;
  });
  if (!best) throw new Error('calibration needs at least one tiling and one threshold');
  // Measure exactly what the profile file will hold (the correction is rounded for readability).
  const chosen = { ...best, correction: best.correction && roundCorrection(best.correction) };

  const profile: CameraProfile = {
    scoreThreshold: best.scoreThreshold,
    ...(best.tiling.rows * best.tiling.cols > 1 ? { tiling: best.tiling } : {}),
    ...(input.roi ? { roi: input.roi } : {}),
    ...(chosen.correction ? { correction: chosen.correction } : {}),
  };
  return {
    profile,
    fitFrames: fit.length,
    heldOutFrames: heldOut.length,
    fitMae: best.fitMae,
    heldOutMae: evaluate(heldOut, heldOutTruth, chosen, best.index),
    perTiling,
  };
}

function roundCorrection(c: Correction): Correction {
  return { scale: Math.round(c.scale * 10_000) / 10_000, offset: Math.round(c.offset * 10_000) / 10_000 };
}

/**
 * A score threshold that depends on how tall a detected person is and whether the frame edge cuts
 * them. The model's score means less for small boxes and for half-visible people at the border: that
 * is where its false positives and the people nobody would count live, while a whole pedestrian half
 * the frame tall is a person at a lower score. The shift is on the logit scale and is fitted by
 * logistic regression of "this detection matches a labelled box" on logit(score), log(height) and
 * edge contact; a detection is counted where that regression says "more likely a person than not".
 */
import type { Detection } from '../core/messages.js';
import { meanAbsoluteError } from './evaluation.js';
import { type Box, iou } from './nms.js';

export interface ThresholdShift {
  /** Added to logit(threshold) for every halving of the box height below half the frame height (subtracted above). */
  perHalvingHeight: number;
  /** Added to logit(threshold) when the box touches the frame edge. */
  atFrameEdge: number;
}

export interface FrameSize {
  width: number;
  height: number;
}

/** The box height, as a share of the frame height, at which `scoreThreshold` applies unshifted. */
const REFERENCE_HEIGHT = 0.5;
/** Box heights below this share of the frame are treated as this (keeps the logit finite). */
const MIN_RELATIVE_HEIGHT = 0.002;
/** A box within this share of the shorter frame side from an edge touches it (the model clamps boxes there). */
const EDGE_MARGIN = 0.003;

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const clampProbability = (p: number) => Math.min(1 - 1e-6, Math.max(1e-6, p));

export function relativeHeight(box: Box, frame: FrameSize): number {
  return Math.min(1, Math.max(MIN_RELATIVE_HEIGHT, (box[3] - box[1]) / frame.height));
}

function touchesFrameEdge(box: Box, frame: FrameSize): boolean {
  const margin = EDGE_MARGIN * Math.min(frame.width, frame.height);
  return box[0] <= margin || box[1] <= margin || box[2] >= frame.width - margin || box[3] >= frame.height - margin;
}

/** Where a detection is, as far as its threshold is concerned. */
export interface BoxPlacement {
  relativeHeight: number;
  atFrameEdge: boolean;
}

export function placementOf(box: Box, frame: FrameSize): BoxPlacement {
  return { relativeHeight: relativeHeight(box, frame), atFrameEdge: touchesFrameEdge(box, frame) };
}

/** The score a detection placed so needs to be counted. */
export function shiftedThreshold(scoreThreshold: number, shift: ThresholdShift, placement: BoxPlacement): number {
  const halvings = Math.log2(REFERENCE_HEIGHT / placement.relativeHeight);
  return shifted(scoreThreshold, shift.perHalvingHeight * halvings + (placement.atFrameEdge ? shift.atFrameEdge : 0));
}

/** Exactly `scoreThreshold` when unshifted, so a flat threshold compares like a plain one. */
function shifted(scoreThreshold: number, logitShift: number): number {
  if (logitShift === 0 || scoreThreshold <= 0 || scoreThreshold >= 1) return scoreThreshold;
  return sigmoid(logit(scoreThreshold) + logitShift);
}

/** The lowest score any box can be counted at: what the model must at least return. */
export function lowestShiftedThreshold(scoreThreshold: number, shift: ThresholdShift): number {
  const extremes = [Math.log2(REFERENCE_HEIGHT / 1), Math.log2(REFERENCE_HEIGHT / MIN_RELATIVE_HEIGHT)];
  const lowestHeightTerm = Math.min(...extremes.map((halvings) => shift.perHalvingHeight * halvings));
  return Math.min(scoreThreshold, shifted(scoreThreshold, lowestHeightTerm + Math.min(0, shift.atFrameEdge)));
}

export interface ShiftedThreshold {
  scoreThreshold: number;
  shift: ThresholdShift;
}

/** One detection of a labelled photo: its score, placement and whether it matches a labelled person. */
export interface ShiftSample extends BoxPlacement {
  score: number;
  person: boolean;
}

/**
 * Samples for fitting from one photo: each labelled box is matched to at most one detection, the
 * highest-scoring one with IoU ≥ `minIou` (the usual detection-benchmark rule).
 */
export function labelledSamples(
  detections: readonly Detection[],
  labelledBoxes: readonly Box[],
  frame: FrameSize,
  minIou = 0.5,
): ShiftSample[] {
  const unmatched = new Set(labelledBoxes.keys());
  return [...detections]
    .sort((a, b) => b.score - a.score)
    .map((detection) => {
      let best: { index: number; overlap: number } | undefined;
      for (const index of unmatched) {
        const overlap = iou(detection.box, labelledBoxes[index] as Box);
        if (overlap >= minIou && (!best || overlap > best.overlap)) best = { index, overlap };
      }
      if (best) unmatched.delete(best.index);
      return { score: detection.score, ...placementOf(detection.box, frame), person: best !== undefined };
    });
}

const features = (s: ShiftSample) => [
  1,
  logit(clampProbability(s.score)),
  Math.log2(REFERENCE_HEIGHT / s.relativeHeight),
  s.atFrameEdge ? 1 : 0,
];

/** Solves the small dense system a·x = b by Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++)
      if (Math.abs(m[row]?.[col] ?? 0) > Math.abs(m[pivot]?.[col] ?? 0)) pivot = row;
    [m[col], m[pivot]] = [m[pivot] as number[], m[col] as number[]];
    const top = m[col] as number[];
    for (let row = col + 1; row < n; row++) {
      const current = m[row] as number[];
      const factor = (current[col] as number) / (top[col] as number);
      for (let k = col; k <= n; k++) current[k] = (current[k] as number) - factor * (top[k] as number);
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    const current = m[row] as number[];
    let sum = current[n] as number;
    for (let k = row + 1; k < n; k++) sum -= (current[k] as number) * (x[k] as number);
    x[row] = sum / (current[row] as number);
  }
  return x;
}

/**
 * Logistic regression (Newton's method, ridge penalty `l2` on all but the intercept) of `person` on
 * logit(score), halvings of height below the reference and edge contact, turned into the threshold at
 * the reference height plus its shifts. Needs both persons and non-persons among the samples.
 */
/** Why these samples cannot be fitted (no persons, or nothing but persons), or undefined when they can. */
export function unfittableReason(samples: readonly ShiftSample[]): string | undefined {
  const persons = samples.filter((s) => s.person).length;
  if (persons > 0 && persons < samples.length) return undefined;
  return `fitting needs detections that match labelled people and some that do not; the model made ${samples.length} detections on these photos, ${persons} of them match a labelled box`;
}

export function fitThresholdShift(samples: readonly ShiftSample[], l2 = 1): ShiftedThreshold {
  const unfittable = unfittableReason(samples);
  if (unfittable) throw new Error(unfittable);
  const x = samples.map(features);
  const size = 4;
  let w = new Array<number>(size).fill(0);
  for (let iteration = 0; iteration < 100; iteration++) {
    const gradient = w.map((wj, j) => (j === 0 ? 0 : l2 * wj));
    const hessian = Array.from({ length: size }, (_, i) =>
      Array.from({ length: size }, (_, j) => (i === j && i > 0 ? l2 : 0)),
    );
    for (const [k, row] of x.entries()) {
      const p = sigmoid(row.reduce((sum, v, j) => sum + v * (w[j] as number), 0));
      const residual = p - ((samples[k] as ShiftSample).person ? 1 : 0);
      for (let i = 0; i < size; i++) {
        gradient[i] = (gradient[i] as number) + residual * (row[i] as number);
        const hi = hessian[i] as number[];
        for (let j = 0; j < size; j++)
          hi[j] = (hi[j] as number) + p * (1 - p) * (row[i] as number) * (row[j] as number);
      }
    }
    const step = solve(hessian, gradient);
    w = w.map((wj, j) => wj - (step[j] as number));
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  const [bias, perLogit, perHalving, atEdge] = w as [number, number, number, number];
  if (!(perLogit > 0))
    throw new Error('the fitted model does not trust higher scores more: too few or unusable samples');
  // Counted where bias + perLogit·logit(s) + perHalving·halvings + atEdge·edge ≥ 0.
  return {
    scoreThreshold: sigmoid(-bias / perLogit),
    shift: { perHalvingHeight: -perHalving / perLogit, atFrameEdge: -atEdge / perLogit },
  };
}

/** The detections of one labelled photo as samples, and its labelled count. */
export interface SampledPhoto {
  truth: number;
  samples: readonly ShiftSample[];
}

export function countAbove(samples: readonly ShiftSample[], threshold: ShiftedThreshold): number {
  return samples.filter((s) => s.score >= shiftedThreshold(threshold.scoreThreshold, threshold.shift, s)).length;
}

/**
 * Count MAE of the photos in each fold under a threshold fitted on all the other photos (every photo
 * should be in one fold at most): what the fit does on photos it has not seen.
 */
export function crossValidatedMae(
  photos: readonly SampledPhoto[],
  folds: ReadonlyArray<readonly number[]>,
  l2 = 1,
): number {
  const truth: number[] = [];
  const predicted: number[] = [];
  for (const fold of folds) {
    const held = new Set(fold);
    const fitted = fitThresholdShift(
      photos.flatMap((photo, i) => (held.has(i) ? [] : photo.samples)),
      l2,
    );
    for (const photo of fold.map((i) => photos[i] as SampledPhoto)) {
      truth.push(photo.truth);
      predicted.push(countAbove(photo.samples, fitted));
    }
  }
  return meanAbsoluteError(truth, predicted);
}

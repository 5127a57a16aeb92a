/**
 * Per-camera calibration (pure): given raw scored detections of every frame under each candidate
 * tiling, pick the tiling, counting mode, score threshold and correction from the FIT frames only, and
 * measure the choice on the held-out frames only. Within one option (tiling × counting mode) the
 * threshold, weights and correction are fitted; between options the choice is by cross-validation over
 * consecutive folds of the fit frames, because options with more weights (score bins, two scales) always
 * fit their own frames better and would otherwise win on a few frames by overfitting.
 *
 * Splits (always disjoint):
 * - `first`: the first ⌈fitFraction × n⌉ frames (label order) are fitted, the rest held out. The
 *   strictest test: later frames may be busier than any fitted one.
 * - `blocks`: consecutive blocks of `blockSize` frames alternate between fit and held-out (in the
 *   proportion fitFraction), so both cover the whole recording. Blocks, not single frames:
 *   neighbouring video frames are near-duplicates, and interleaving single frames would leak the fit
 *   into the held-out score.
 */
import type { Detection } from '../core/messages.js';
import { type CameraProfile, tilingSchema } from '../core/people-counter.js';
import { applyCorrection, type Correction, fitCorrection, fitScale } from './correction.js';
import { binHistogram, type Counting, countScores, fitScoreBins } from './counting.js';
import { meanAbsoluteError } from './evaluation.js';
import { withinRoi } from './roi.js';
import { SINGLE_TILE, type Tiling, tileCount, wholeFrameIndexOf } from './tiling.js';

export interface CalibrationFrame {
  truth: number;
  /** Raw detections (after NMS, frame pixels) per candidate tiling, same order as `tilings`. */
  detections: ReadonlyArray<readonly Detection[]>;
}

export type FitSplit =
  | { kind: 'first'; fitFraction: number }
  | { kind: 'blocks'; fitFraction: number; blockSize: number }
  /** These frames are held out, the rest fitted; none held out fits on every frame (heldOutMae is then NaN). */
  | { kind: 'held-out'; frames: readonly number[] };

export type CountingMode = Counting['mode'];
export const COUNTING_MODES = ['boxes', 'score-sum', 'score-bins'] as const satisfies readonly CountingMode[];

export interface CalibrationInput {
  tilings: readonly Tiling[];
  frames: readonly CalibrationFrame[];
  split: FitSplit;
  thresholds: readonly number[];
  /** Counting modes to try (default: all). */
  modes?: readonly CountingMode[];
  roi?: CameraProfile['roi'];
}

export interface Candidate {
  tiling: Tiling;
  scoreThreshold: number;
  counting: Counting;
  correction: Correction | undefined;
}

export interface CalibrationResult {
  profile: CameraProfile;
  fitFrames: number;
  heldOutFrames: number;
  fitMae: number;
  /** Cross-validated MAE within the fit frames: what the choice between options is made on. */
  validationMae: number;
  heldOutMae: number;
  /** The best candidate per tiling and counting mode with its held-out MAE, for the report. */
  perOption: Array<{
    tiling: Tiling;
    mode: CountingMode;
    /** `score-bins` over the tiles plus a whole-frame pass (see CameraProfile.counting). */
    wholeFrame: boolean;
    scoreThreshold: number;
    correction: Correction | undefined;
    fitMae: number;
    validationMae: number;
    heldOutMae: number;
  }>;
}

/** Folds for choosing between options: consecutive runs of the fit frames (neighbours are near-duplicates). */
export function validationFolds(fitIndex: readonly number[], folds = VALIDATION_FOLDS): number[][] {
  const k = Math.max(1, Math.min(folds, fitIndex.length));
  return Array.from({ length: k }, (_, f) =>
    fitIndex.slice(Math.floor((f * fitIndex.length) / k), Math.floor(((f + 1) * fitIndex.length) / k)),
  ).filter((fold) => fold.length > 0 && fold.length < fitIndex.length);
}

const VALIDATION_FOLDS = 5;

export function splitIndex(n: number, fitFraction: number): number {
  return Math.min(n - 1, Math.max(1, Math.ceil(n * fitFraction)));
}

/** For every frame: is it a fit frame? (See the module comment for the split kinds.) */
export function fitMask(n: number, split: FitSplit): boolean[] {
  if (split.kind === 'held-out') {
    const heldOut = new Set(split.frames);
    return Array.from({ length: n }, (_, i) => !heldOut.has(i));
  }
  if (split.kind === 'first') {
    const index = splitIndex(n, split.fitFraction);
    return Array.from({ length: n }, (_, i) => i < index);
  }
  // Block b is fitted when it carries the running share of fit blocks past a whole number.
  const f = split.fitFraction;
  return Array.from({ length: n }, (_, i) => {
    const block = Math.floor(i / split.blockSize);
    return Math.floor((block + 1) * f) > Math.floor(block * f);
  });
}

/** Thresholds from `from` to `to` inclusive in `step`s, rounded to avoid float drift. */
/**
 * Whole frame, 2×2 and 3×3: the finer grids find small, far people, and with 1×1 among them every grid is
 * also tried with the whole frame as a second scale. 14 model runs per frame while calibrating.
 */
export const DEFAULT_CALIBRATION_TILINGS: readonly Tiling[] = [
  SINGLE_TILE,
  { rows: 2, cols: 2, overlap: 0.2 },
  { rows: 3, cols: 3, overlap: 0.3 },
];

/**
 * `1x1,2x2@0.2,0.3x4/1x2@0.2` → tilings: ROWSxCOLS[@OVERLAP] for a grid, or horizontal bands
 * END×COLS/END×COLS…[@OVERLAP] (each band ends at END × frame height, the last at 1). Overlap
 * defaults to 0.2. Throws a RangeError naming the part that is neither.
 */
export function parseTilingList(value: string): Tiling[] {
  return value.split(',').map((part) => {
    const match = /^([\d./x]+?)(?:@(0(?:\.\d+)?))?$/.exec(part.trim());
    const overlap = Number(match?.[2] ?? 0.2);
    const grid = /^(\d)x(\d)$/.exec(match?.[1] ?? '');
    const candidate = grid
      ? Number(grid[1]) * Number(grid[2]) === 1
        ? SINGLE_TILE
        : { rows: Number(grid[1]), cols: Number(grid[2]), overlap }
      : {
          bands: (match?.[1] ?? '').split('/').map((band) => {
            const [to, cols] = band.split('x');
            return { to: Number(to), cols: Number(cols) };
          }),
          overlap,
        };
    const parsed = tilingSchema.safeParse(candidate);
    if (!match || !parsed.success)
      throw new RangeError(
        `"${part}" is not ROWSxCOLS[@OVERLAP] (rows/cols 1–8, overlap ≤ 0.5) or bands END×COLS/…/1xCOLS[@OVERLAP], e.g. 2x2@0.2 or 0.3x4/1x2@0.2`,
      );
    return parsed.data;
  });
}

export function thresholdGrid(from = 0.1, to = 0.7, step = 0.025): number[] {
  const grid: number[] = [];
  for (let t = from; t <= to + 1e-9; t += step) grid.push(Math.round(t * 1000) / 1000);
  return grid;
}

/** Score bins for `score-bins` counting: finer where crowds put most of their detections. */
const BIN_EDGES = [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7];
/** Above this floor too few bins remain for a weighting to mean more than a threshold. */
const MAX_BIN_FLOOR = 0.3;

export function binEdgesFrom(floor: number): number[] {
  return [floor, ...BIN_EDGES.filter((edge) => edge > floor + 1e-9)];
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** What a profile file holds (rounded for readability); calibration measures exactly this. */
function rounded(c: Candidate): Candidate {
  return {
    ...c,
    counting:
      c.counting.mode === 'score-bins'
        ? {
            ...c.counting,
            weights: c.counting.weights.map(round4),
            ...(c.counting.wholeFrameWeights ? { wholeFrameWeights: c.counting.wholeFrameWeights.map(round4) } : {}),
          }
        : c.counting,
    correction: c.correction && { scale: round4(c.correction.scale), offset: round4(c.correction.offset) },
  };
}

export function calibrate(input: CalibrationInput): CalibrationResult {
  const isFit = fitMask(input.frames.length, input.split);
  const fitIndex = isFit.flatMap((fit, i) => (fit ? [i] : []));
  const heldOutIndex = isFit.flatMap((fit, i) => (fit ? [] : [i]));
  if (fitIndex.length === 0 || (heldOutIndex.length === 0 && input.split.kind !== 'held-out'))
    throw new Error('calibration needs at least one fit frame and one held-out frame');
  const truth = input.frames.map((f) => f.truth);
  const pick = <T>(values: readonly T[], indices: readonly number[]) => indices.map((i) => values[i] as T);
  const modes = input.modes ?? COUNTING_MODES;

  const options: CalibrationResult['perOption'] = [];
  let best: (CalibrationResult['perOption'][number] & { candidate: Candidate }) | undefined;

  // ROI does not depend on the threshold: filter once, keep the scores only.
  const scoresOf = (tilingIndex: number) =>
    input.frames.map((frame) => withinRoi(frame.detections[tilingIndex] ?? [], input.roi).map((d) => d.score));
  // A whole-frame pass for multi-scale counting is the single-tile candidate's run, when there is one.
  const singleTileIndex = wholeFrameIndexOf(input.tilings);
  const wholeFrameScores = singleTileIndex >= 0 ? scoresOf(singleTileIndex) : undefined;

  input.tilings.forEach((tiling, tilingIndex) => {
    const scores = scoresOf(tilingIndex);
    /** Uncorrected counts of the frames at `indices` only (cross-validation asks for many subsets). */
    const raw = (counting: Counting, threshold: number, indices: readonly number[]) =>
      indices.map((i) =>
        countScores(
          (scores[i] ?? []).filter((s) => s >= threshold),
          counting,
          wholeFrameScores?.[i]?.filter((s) => s >= threshold),
        ),
      );
    const mae = (c: Candidate, indices: readonly number[]) =>
      meanAbsoluteError(
        pick(truth, indices),
        raw(c.counting, c.scoreThreshold, indices).map((n) => applyCorrection(n, c.correction)),
      );

    const wholeFrameVariants = wholeFrameScores && tilingIndex !== singleTileIndex ? [false, true] : [false];
    const variants = modes.flatMap(
      (mode): Array<{ mode: CountingMode; wholeFrame: boolean }> =>
        mode === 'score-bins'
          ? wholeFrameVariants.map((wholeFrame) => ({ mode, wholeFrame }))
          : [{ mode, wholeFrame: false }],
    );
    for (const { mode, wholeFrame } of variants) {
      /** The threshold, weights and correction of this option that fit the `train` frames best. */
      const fitOn = (train: readonly number[]): { candidate: Candidate; mae: number } | undefined => {
        const trainTruth = pick(truth, train);
        let bestHere: { candidate: Candidate; mae: number } | undefined;
        const consider = (candidate: Candidate) => {
          const error = mae(candidate, train);
          if (!bestHere || error < bestHere.mae - 1e-9) bestHere = { candidate, mae: error };
        };
        for (const scoreThreshold of input.thresholds) {
          if (mode === 'score-bins') {
            if (scoreThreshold > MAX_BIN_FLOOR + 1e-9) continue;
            const edges = binEdgesFrom(scoreThreshold);
            // Multi-scale: one weight per bin of the tiles, then one per bin of the whole frame.
            const histograms = train.map((i) => [
              ...binHistogram(scores[i] ?? [], edges),
              ...(wholeFrame ? binHistogram(wholeFrameScores?.[i] ?? [], edges) : []),
            ]);
            for (const withOffset of [true, false]) {
              const { weights, offset } = fitScoreBins(histograms, trainTruth, withOffset);
              consider({
                tiling,
                scoreThreshold,
                counting: wholeFrame
                  ? {
                      mode,
                      edges,
                      weights: weights.slice(0, edges.length),
                      wholeFrameWeights: weights.slice(edges.length),
                    }
                  : { mode, edges, weights },
                correction: withOffset ? { scale: 1, offset } : undefined,
              });
            }
            continue;
          }
          const counting: Counting = { mode };
          const counts = raw(counting, scoreThreshold, train);
          for (const correction of [undefined, fitCorrection(counts, trainTruth), fitScale(counts, trainTruth)])
            consider({ tiling, scoreThreshold, counting, correction });
        }
        return bestHere;
      };
      const fitted = fitOn(fitIndex);
      if (!fitted) continue;
      // Options with more weights fit their own frames better; compare them on frames they were not fitted on.
      const folds = validationFolds(fitIndex);
      let validationError = folds.length > 0 ? 0 : fitted.mae * fitIndex.length;
      for (const fold of folds) {
        const inFold = new Set(fold);
        const trained = fitOn(fitIndex.filter((i) => !inFold.has(i)));
        validationError += trained ? mae(trained.candidate, fold) * fold.length : Number.POSITIVE_INFINITY;
      }
      const candidate = rounded(fitted.candidate);
      const option = {
        tiling,
        mode,
        wholeFrame,
        scoreThreshold: candidate.scoreThreshold,
        correction: candidate.correction,
        fitMae: fitted.mae,
        validationMae: validationError / fitIndex.length,
        heldOutMae: mae(candidate, heldOutIndex),
      };
      options.push(option);
      if (!best || option.validationMae < best.validationMae - 1e-9) best = { ...option, candidate };
    }
  });
  if (!best) throw new Error('calibration needs at least one tiling, counting mode and threshold');
  const { candidate } = best;

  const profile: CameraProfile = {
    scoreThreshold: candidate.scoreThreshold,
    ...(tileCount(candidate.tiling) > 1 ? { tiling: candidate.tiling } : {}),
    ...(candidate.counting.mode !== 'boxes' ? { counting: candidate.counting } : {}),
    ...(input.roi ? { roi: input.roi } : {}),
    ...(candidate.correction ? { correction: candidate.correction } : {}),
  };
  return {
    profile,
    fitFrames: fitIndex.length,
    heldOutFrames: heldOutIndex.length,
    fitMae: best.fitMae,
    validationMae: best.validationMae,
    heldOutMae: best.heldOutMae,
    perOption: options,
  };
}

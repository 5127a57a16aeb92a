/**
 * Fitting and honest measurement of the auto default (pure, on saved raw detections): its three fitted
 * numbers (how many small candidates, and what share of all, trigger zoom; the zoomed threshold) are
 * chosen on several labelled sets together, each set weighing the same (MAE relative to its mean count),
 * and measured the way the default will be judged: fitted on one set and counted on another
 * (cross-set), and cross-validated within each set (every fold counted with a fit on everything else).
 */
import type { Detection } from '../core/messages.js';
import { AUTO_DEFAULTS, type AutoSettings, zoomProfile, zoomTiling } from './auto-regime.js';
import { meanAbsoluteError } from './evaluation.js';
import { countDetections } from './postprocess.js';
import { type GridTiling, tileCount, tilingLabel } from './tiling.js';

export interface AutoFitPhoto {
  truth: number;
  width: number;
  height: number;
  /** Raw detections (down to the lowest score needed) per tiling label, `1x1@0` for the whole frame. */
  byTiling: ReadonlyMap<string, readonly Detection[]>;
}

export interface LabelledSet {
  name: string;
  photos: readonly AutoFitPhoto[];
}

export type FittedSettings = Pick<AutoSettings, 'zoomAtSmallCandidates' | 'zoomAtSmallShare' | 'zoomThreshold'>;

export const WHOLE_FRAME_LABEL = '1x1@0';

/** Only the fitted numbers of a full set of settings (for reports). */
export function fittedPart({ zoomAtSmallCandidates, zoomAtSmallShare, zoomThreshold }: FittedSettings): FittedSettings {
  return { zoomAtSmallCandidates, zoomAtSmallShare, zoomThreshold };
}

/** Thrown when a photo would need a tiling whose detections were not saved. */
export class MissingTilingError extends Error {
  override name = 'MissingTilingError';
}

function detectionsOf(photo: AutoFitPhoto, label: string): readonly Detection[] {
  const detections = photo.byTiling.get(label);
  if (!detections) throw new MissingTilingError(`no saved detections for tiling ${label}`);
  return detections;
}

/** The count and model passes of one photo under the auto default with `settings` (as `countAuto`, without flip). */
export function autoCountOf(photo: AutoFitPhoto, settings: AutoSettings): { count: number; passes: number } {
  const frame = { width: photo.width, height: photo.height };
  const first = { ...frame, detections: [...detectionsOf(photo, WHOLE_FRAME_LABEL)] };
  const tiling: GridTiling | undefined = zoomTiling(first, settings);
  if (!tiling) return { count: countDetections(first).count, passes: 1 };
  const zoomed = { ...frame, detections: [...detectionsOf(photo, tilingLabel(tiling))] };
  return { count: countDetections(zoomed, zoomProfile(tiling, {}, settings)).count, passes: 1 + tileCount(tiling) };
}

export interface SetScore {
  name: string;
  n: number;
  mae: number;
  bias: number;
  /** Share of the photos counted in one model pass. */
  onePassRate: number;
  passesMean: number;
}

export function scoreSet(set: LabelledSet, settings: AutoSettings): SetScore {
  const counted = set.photos.map((photo) => autoCountOf(photo, settings));
  const truth = set.photos.map((photo) => photo.truth);
  const n = set.photos.length;
  return {
    name: set.name,
    n,
    mae: meanAbsoluteError(
      truth,
      counted.map((c) => c.count),
    ),
    bias: counted.reduce((sum, c, i) => sum + c.count - (truth[i] ?? 0), 0) / n,
    onePassRate: counted.filter((c) => c.passes === 1).length / n,
    passesMean: counted.reduce((sum, c) => sum + c.passes, 0) / n,
  };
}

export interface FitGrid {
  zoomAtSmallCandidates: readonly number[];
  zoomAtSmallShare: readonly number[];
  zoomThreshold: readonly number[];
}

export const DEFAULT_FIT_GRID: FitGrid = {
  zoomAtSmallCandidates: Array.from({ length: 17 }, (_, i) => 4 + i),
  zoomAtSmallShare: [0, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
  zoomThreshold: Array.from({ length: 17 }, (_, i) => Math.round((0.15 + 0.025 * i) * 1000) / 1000),
};

/**
 * The grid point with the lowest mean over `sets` of MAE ÷ the set's mean count (each set weighs the
 * same whatever its size or crowd). Settings that need unsaved tilings are skipped. Ties go to the
 * fewest model passes, then to the fewest small candidates and the lowest share of them: zoom
 * wherever the sets do not object, because small people are what the whole frame misses, and a low
 * count lets every photo with a few small figures among large people teach the share rule. Then to
 * the lowest threshold.
 */
export function fitAuto(
  sets: readonly LabelledSet[],
  grid: FitGrid = DEFAULT_FIT_GRID,
  base: AutoSettings = AUTO_DEFAULTS,
): FittedSettings {
  let best: { settings: FittedSettings; loss: number; passes: number } | undefined;
  const ascending = (values: readonly number[]) => [...values].sort((a, b) => a - b);
  for (const zoomAtSmallCandidates of ascending(grid.zoomAtSmallCandidates))
    for (const zoomAtSmallShare of ascending(grid.zoomAtSmallShare))
      for (const zoomThreshold of ascending(grid.zoomThreshold)) {
        const settings = { ...base, zoomAtSmallCandidates, zoomAtSmallShare, zoomThreshold };
        let loss = 0;
        let passes = 0;
        try {
          for (const set of sets) {
            const meanCount = set.photos.reduce((sum, photo) => sum + photo.truth, 0) / set.photos.length;
            const score = scoreSet(set, settings);
            loss += score.mae / Math.max(1, meanCount) / sets.length;
            passes += score.passesMean;
          }
        } catch (error) {
          if (error instanceof MissingTilingError) continue;
          throw error;
        }
        if (!best || loss < best.loss - 1e-12 || (loss < best.loss + 1e-12 && passes < best.passes - 1e-12))
          best = { settings: { zoomAtSmallCandidates, zoomAtSmallShare, zoomThreshold }, loss, passes };
      }
  if (!best) throw new Error('no grid point could be counted with the saved tilings');
  return best.settings;
}

/** Consecutive folds (neighbouring video frames are near-duplicates, so folds are contiguous blocks). */
export function contiguousFolds(n: number, k: number): number[][] {
  const folds = Math.max(1, Math.min(k, n));
  return Array.from({ length: folds }, (_, f) =>
    Array.from({ length: n }, (_, i) => i).filter((i) => Math.floor((i * folds) / n) === f),
  );
}

/**
 * MAE of `sets[target]` when each of its folds is counted with settings fitted on all other sets and
 * the rest of this one.
 */
export function crossValidatedAutoMae(
  sets: readonly LabelledSet[],
  target: number,
  folds: ReadonlyArray<readonly number[]>,
  grid: FitGrid = DEFAULT_FIT_GRID,
  base: AutoSettings = AUTO_DEFAULTS,
): number {
  const set = sets[target] as LabelledSet;
  const truth: number[] = [];
  const predicted: number[] = [];
  for (const fold of folds) {
    const held = new Set(fold);
    const training = sets.map((other, i) =>
      i === target ? { ...other, photos: other.photos.filter((_, p) => !held.has(p)) } : other,
    );
    const settings = { ...base, ...fitAuto(training, grid, base) };
    for (const index of fold) {
      const photo = set.photos[index] as AutoFitPhoto;
      truth.push(photo.truth);
      predicted.push(autoCountOf(photo, settings).count);
    }
  }
  return meanAbsoluteError(truth, predicted);
}

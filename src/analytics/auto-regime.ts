/**
 * The default for a camera without counting settings (`auto`). One whole-frame pass tells how large
 * the people in the view are. Many small people: a crowd, which the detector cannot resolve (detectors
 * lose most people below COCO's "medium" size, and dense crowds are heads, not bodies), so the
 * crowd-density network counts it. Otherwise the density network still checks the view, because the
 * densest crowds give the detector nothing at all (22 of the 300 ShanghaiTech-A training photos yield
 * no candidate): below `crowdAtDensityCount` people the detector's count stands; from twice that the
 * view is a crowd and density counts it; in between the two are blended, density's weight growing with
 * its count (a street photo of large people can reach 15 on the density map). Either way at most two
 * passes. A camera whose check found no crowd is not checked again for `densityCheckEveryMs`
 * (crowd-memory.ts), so a quiet camera costs one pass per photo in the steady state. Where the density
 * network cannot run (the tfjs-wasm fallback), a view of small people is cut into tiles that magnify the
 * smallest person seen to a height the detector resolves (1 + k² passes).
 *
 * Fitted numbers (docs/analytics.md): how many small candidates, and what share of all candidates, make
 * a view of small people, and the zoomed count's threshold (on Penn-Fudan and Mall); the density check's
 * crowd count (on the folds the density network trained on, never on its held-out fold). The sizes are
 * physical: the model's input, COCO's medium-object bound, and a cost cap.
 */
import type { Detection, HeatMap } from '../core/messages.js';
import type { CameraProfile } from '../core/people-counter.js';
import { countDensity, type DensityMap, heatMap } from './density.js';
import type { DetectOptions } from './detector.js';
import { type CountableFrame, countDetections, detectOptionsFor } from './postprocess.js';
import { withinRoi } from './roi.js';
import { type GridTiling, SINGLE_TILE, type Tiling, tileCount, tilingLabel } from './tiling.js';

/** The model's square input side in pixels: a region's people reach the model scaled by this ÷ the region's longer side. */
export const MODEL_INPUT_PX = 512;

export interface AutoSettings {
  /** A first-pass detection with at least this score is a candidate person. */
  candidateScore: number;
  /** Candidates shorter than this at the model's input are small people (a quarter of the input height). */
  smallPersonPx: number;
  /** At least this many small candidates make a view of small people: zoom. Fitted. */
  zoomAtSmallCandidates: number;
  /**
   * ...and at least this share of all candidates must be small: a street photo with a few large people
   * and many small background figures is not a view of small people. Fitted.
   */
  zoomAtSmallShare: number;
  /**
   * The height at the model's input from which people are resolved: COCO's "medium" objects start at
   * 32² px of area, i.e. ≈ 51 px tall for a standing person (width ≈ 0.4 × height).
   */
  resolvedPersonPx: number;
  /** At most this many tile rows and columns (cost cap: 1 + maxZoom² model runs per photo). */
  maxZoom: number;
  /** Share of a tile overlapping its neighbour, so a person cut by one tile edge is whole in the next tile. */
  overlap: number;
  /** Flat score threshold for the zoomed tiles. Fitted. */
  zoomThreshold: number;
  /**
   * At least this many candidates left uncounted make the `crowd-view` hint: more than any street photo
   * has small candidates (at most 11 in Penn-Fudan), so the hint speaks of crowds, not background figures.
   */
  hintAtUncounted: number;
  /**
   * Below this many people found by a density check, the detector's count stands; from twice this
   * many, density's count does; in between they are blended linearly. Fitted on the density network's
   * training folds: 12–15 score alike there (the highest sum on a street photo is 10.5); the top of
   * that plateau leaves the most room for street photos. The blend band (docs/analytics.md) is there
   * because a held-out street photo reached 14.7.
   */
  crowdAtDensityCount: number;
  /** A camera whose last density check found no crowd is checked again after this long. */
  densityCheckEveryMs: number;
}

export const AUTO_DEFAULTS: AutoSettings = {
  candidateScore: 0.2,
  smallPersonPx: 128,
  zoomAtSmallCandidates: 4,
  zoomAtSmallShare: 0.9,
  resolvedPersonPx: 51,
  maxZoom: 3,
  overlap: 0.25,
  zoomThreshold: 0.25,
  hintAtUncounted: 12,
  crowdAtDensityCount: 15,
  densityCheckEveryMs: 60_000,
};

/** Hint: many candidates the count left out; the view may hold more people than counted. */
export const CROWD_VIEW_HINT = 'crowd-view';

/** Does this profile leave the counting to the auto default? (ROI and flip carry over into it.) */
export function usesAutoDefault(profile: CameraProfile = {}): boolean {
  const { scoreThreshold, thresholdShift, tiling, counting, correction } = profile;
  return [scoreThreshold, thresholdShift, tiling, counting, correction].every((setting) => setting === undefined);
}

/** The first, whole-frame pass: down to the candidate score and to the default threshold's lowest value. */
export function firstPassOptions(profile: CameraProfile = {}, settings: AutoSettings = AUTO_DEFAULTS): DetectOptions {
  const { minScore, flip } = detectOptionsFor(profile);
  return { tiling: SINGLE_TILE, minScore: Math.min(minScore, settings.candidateScore), flip, wholeFrame: false };
}

const heightAtInput = (d: Detection, frame: CountableFrame) =>
  ((d.box[3] - d.box[1]) * MODEL_INPUT_PX) / Math.max(frame.width, frame.height);

/**
 * The tiling for the second pass, or undefined when the whole-frame pass is the count: zoom when at
 * least `zoomAtSmallCandidates` candidates are small, by the factor that brings the smallest of them
 * to `resolvedPersonPx` (at least 2, at most `maxZoom`).
 */
export function zoomTiling(first: CountableFrame, settings: AutoSettings = AUTO_DEFAULTS): GridTiling | undefined {
  const candidates = first.detections.filter((d) => d.score >= settings.candidateScore);
  const small = candidates.map((d) => heightAtInput(d, first)).filter((height) => height < settings.smallPersonPx);
  if (small.length < settings.zoomAtSmallCandidates || small.length < settings.zoomAtSmallShare * candidates.length) {
    return undefined;
  }
  const smallest = Math.max(1, Math.min(...small));
  const zoom = Math.min(settings.maxZoom, Math.max(2, Math.ceil(settings.resolvedPersonPx / smallest)));
  return { rows: zoom, cols: zoom, overlap: settings.overlap };
}

/** The profile the zoomed tiles are counted with (keeping the camera's ROI and flip). */
export function zoomProfile(tiling: Tiling, profile: CameraProfile, settings: AutoSettings): CameraProfile {
  return { ...profile, scoreThreshold: settings.zoomThreshold, tiling };
}

export type Regime = 'whole-frame' | 'zoom' | 'density' | 'blend';

export interface AutoCount {
  count: number;
  detections: Detection[];
  method: 'detector' | 'density';
  regime: Regime;
  tiling: string;
  /** Model runs: 1 for the whole frame, + the tiles when zoomed (× 2 with flip), + 1 for density. */
  passes: number;
  hints: string[];
  heatMap?: HeatMap;
}

/** The second pass for a crowd: the density network where it runs, else the detector over tiles. */
export interface CrowdPasses {
  tiles(tiling: GridTiling, minScore: number): Promise<CountableFrame>;
  density?: () => Promise<DensityMap>;
}

/**
 * Counts a frame under the auto default. A view of small people is counted by the density network
 * where it runs (one more pass), else by zoomed tiles (1 + k² more passes). Any other view is checked
 * by the density network when `checkDensity` (one more pass): a crowd by its sum, else the first pass's
 * count. `densityChecked` tells whether the density network ran.
 */
export async function countAuto(
  first: CountableFrame,
  crowd: CrowdPasses,
  profile: CameraProfile = {},
  settings: AutoSettings = AUTO_DEFAULTS,
  checkDensity = true,
): Promise<AutoCount & { densityChecked: boolean }> {
  const runs = profile.flip ? 2 : 1;
  const tiling = zoomTiling(first, settings);
  if (crowd.density && (tiling || checkDensity)) {
    const map = await crowd.density();
    const count = countDensity(map, profile);
    const weight = tiling ? 1 : densityWeight(count, settings);
    if (weight === 1) {
      return {
        count,
        detections: [],
        method: 'density',
        regime: 'density',
        tiling: tilingLabel(SINGLE_TILE),
        passes: runs + 1,
        hints: [],
        heatMap: heatMap(map),
        densityChecked: true,
      };
    }
    const counted = { ...wholeFrameCount(first, profile, settings), passes: runs + 1, densityChecked: true };
    // Density found no crowd: uncounted candidates are background figures, not a doubtful count.
    if (weight === 0) return { ...counted, hints: [] };
    // The two methods disagree: the count is doubtful, so the view is worth tuning.
    return {
      ...counted,
      count: Math.round((1 - weight) * counted.count + weight * count),
      method: weight >= 0.5 ? 'density' : 'detector',
      regime: 'blend',
      hints: [CROWD_VIEW_HINT],
      heatMap: heatMap(map),
    };
  }
  if (!tiling) return { ...wholeFrameCount(first, profile, settings), passes: runs, densityChecked: false };
  const zoomed = await crowd.tiles(tiling, Math.min(settings.candidateScore, settings.zoomThreshold));
  const counted = countDetections(zoomed, zoomProfile(tiling, profile, settings));
  return {
    ...counted,
    method: 'detector',
    regime: 'zoom',
    tiling: tilingLabel(tiling),
    passes: runs * (1 + tileCount(tiling)),
    hints: hintsFor(zoomed, counted.detections, profile, settings),
    densityChecked: false,
  };
}

/** Density's share of a blended count: 0 below `crowdAtDensityCount`, 1 from twice that, linear between. */
export function densityWeight(densityCount: number, settings: AutoSettings = AUTO_DEFAULTS): number {
  const from = settings.crowdAtDensityCount;
  return Math.min(1, Math.max(0, (densityCount - from) / from));
}

/** The first pass's own count (the passes are the caller's to tell). */
function wholeFrameCount(first: CountableFrame, profile: CameraProfile, settings: AutoSettings) {
  const counted = countDetections(first, profile);
  return {
    ...counted,
    method: 'detector' as const,
    regime: 'whole-frame' as const,
    tiling: tilingLabel(SINGLE_TILE),
    hints: hintsFor(first, counted.detections, profile, settings),
  };
}

/** `crowd-view` when many candidates are left uncounted: the view may hold more people than counted. */
function hintsFor(
  frame: CountableFrame,
  counted: readonly Detection[],
  profile: CameraProfile,
  settings: AutoSettings,
): string[] {
  const kept = new Set(counted);
  const uncounted = withinRoi(
    frame.detections.filter((d) => d.score >= settings.candidateScore && !kept.has(d)),
    profile.roi,
  );
  return uncounted.length >= settings.hintAtUncounted ? [CROWD_VIEW_HINT] : [];
}

/**
 * The default for a camera without counting settings (`auto`). One whole-frame pass tells how large
 * the people in the view are and how many weak candidates there are. Few or large people: that pass is
 * the count, with the size- and edge-aware threshold fitted on street photos. Many small people or many
 * candidates: a crowd, which the detector cannot resolve (detectors lose most people below COCO's
 * "medium" size, and dense crowds are heads, not bodies), so the crowd-density network counts it: two
 * passes. Where that network cannot run (the tfjs-wasm fallback), the frame is cut into tiles that
 * magnify the smallest person seen to a height the detector resolves (1 + k² passes).
 *
 * Only three numbers are fitted (on both labelled sets together, see docs/analytics.md): how many small
 * candidates, and what share of all candidates, make a view of small people, and the threshold of the
 * zoomed count. The sizes are physical: the model's input, COCO's medium-object bound, and a cost cap.
 */
import type { Detection, HeatMap } from '../core/messages.js';
import { countDensity, type DensityMap, heatMap } from './density.js';
import type { DetectOptions } from './detector.js';
import type { CameraProfile } from './people-counter.js';
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

export type Regime = 'whole-frame' | 'zoom' | 'density';

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
 * Is the first pass a crowd, to be counted by density? When it saw a view of small people (the zoom
 * signal). A mere count of candidates is not enough: 4 of the 74 Penn-Fudan street photos hold 12–17
 * candidates for 3–4 people, and density sent there raised that set's MAE from 0.31 to 0.66.
 */
export function looksLikeCrowd(first: CountableFrame, settings: AutoSettings = AUTO_DEFAULTS): boolean {
  return zoomTiling(first, settings) !== undefined;
}

/**
 * Counts a frame under the auto default. A street view is the first pass's count. A crowd is counted by
 * the density network (one more pass) where it runs, else by zoomed tiles (1 + k² more passes).
 */
export async function countAuto(
  first: CountableFrame,
  crowd: CrowdPasses,
  profile: CameraProfile = {},
  settings: AutoSettings = AUTO_DEFAULTS,
): Promise<AutoCount> {
  const runs = profile.flip ? 2 : 1;
  const tiling = zoomTiling(first, settings);
  if (crowd.density && looksLikeCrowd(first, settings)) {
    const map = await crowd.density();
    return {
      count: countDensity(map, profile),
      detections: [],
      method: 'density',
      regime: 'density',
      tiling: tilingLabel(SINGLE_TILE),
      passes: runs + 1,
      hints: [],
      heatMap: heatMap(map),
    };
  }
  if (!tiling) {
    const counted = countDetections(first, profile);
    return {
      ...counted,
      method: 'detector',
      regime: 'whole-frame',
      tiling: tilingLabel(SINGLE_TILE),
      passes: runs,
      hints: hintsFor(first, counted.detections, profile, settings),
    };
  }
  const zoomed = await crowd.tiles(tiling, Math.min(settings.candidateScore, settings.zoomThreshold));
  const counted = countDetections(zoomed, zoomProfile(tiling, profile, settings));
  return {
    ...counted,
    method: 'detector',
    regime: 'zoom',
    tiling: tilingLabel(tiling),
    passes: runs * (1 + tileCount(tiling)),
    hints: hintsFor(zoomed, counted.detections, profile, settings),
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

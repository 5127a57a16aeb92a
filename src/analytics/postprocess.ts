/** From merged raw detections to a count under a camera profile: threshold → ROI → counting mode → correction. */
import type { Detection } from '../core/messages.js';
import type { CameraProfile } from '../core/people-counter.js';
import { applyCorrection } from './correction.js';
import { countScores, needsWholeFrame } from './counting.js';
import type { DetectOptions, FrameDetections } from './detector.js';
import { withinRoi } from './roi.js';
import {
  lowestShiftedThreshold,
  placementOf,
  type ShiftedThreshold,
  shiftedThreshold,
  type ThresholdShift,
} from './threshold-shift.js';
import { SINGLE_TILE, tileCount, tilingLabel } from './tiling.js';

/**
 * Used when a profile sets no threshold: the score a whole person half the frame tall needs, shifted
 * up for smaller people and for people cut by the frame edge. Fitted on the Penn-Fudan street photos
 * by `people-counter fit-threshold ../shared/data/pennfudan-fudan` (cross-validated there; see docs/analytics.md).
 */
export const DEFAULT_SCORE_THRESHOLD = 0.4355;
export const DEFAULT_THRESHOLD_SHIFT: ThresholdShift = { perHalvingHeight: 0.3702, atFrameEdge: 0.6415 };
const NO_SHIFT: ThresholdShift = { perHalvingHeight: 0, atFrameEdge: 0 };

/** The threshold of a profile: the default (shifted) one, or its own, shifted only when it says so. */
export function thresholdOf(profile: CameraProfile = {}): ShiftedThreshold {
  return profile.scoreThreshold === undefined
    ? { scoreThreshold: DEFAULT_SCORE_THRESHOLD, shift: profile.thresholdShift ?? DEFAULT_THRESHOLD_SHIFT }
    : { scoreThreshold: profile.scoreThreshold, shift: profile.thresholdShift ?? NO_SHIFT };
}

/** What counting needs of a model run: the detections, the whole-frame pass (when asked for) and the frame size. */
export type CountableFrame = Pick<FrameDetections, 'detections' | 'wholeFrame' | 'width' | 'height'>;

export function countDetections(
  frame: CountableFrame,
  profile: CameraProfile = {},
): { count: number; detections: Detection[] } {
  const { scoreThreshold, shift } = thresholdOf(profile);
  const kept = (list: readonly Detection[]) =>
    withinRoi(
      list.filter((d) => d.score >= shiftedThreshold(scoreThreshold, shift, placementOf(d.box, frame))),
      profile.roi,
    );
  const counted = kept(frame.detections);
  return {
    count: countKeptScores(
      counted.map((d) => d.score),
      profile,
      frame.wholeFrame && kept(frame.wholeFrame).map((d) => d.score),
    ),
    detections: counted,
  };
}

/** The count of the detections a profile kept (by threshold and ROI): its counting mode, then its correction. */
export function countKeptScores(
  scores: readonly number[],
  profile: CameraProfile,
  wholeFrameScores?: readonly number[],
): number {
  return applyCorrection(countScores(scores, profile.counting, wholeFrameScores), profile.correction);
}

/** What the model must run to count under `profile`: its tiling, flip, lowest threshold and whole-frame pass. */
export function detectOptionsFor(profile: CameraProfile = {}): Required<DetectOptions> {
  const { scoreThreshold, shift } = thresholdOf(profile);
  return {
    tiling: profile.tiling ?? SINGLE_TILE,
    minScore: lowestShiftedThreshold(scoreThreshold, shift),
    flip: profile.flip ?? false,
    wholeFrame: needsWholeFrame(profile.counting),
  };
}

/** The tiling and model runs a count under these options takes (tiles, + the whole frame when asked for, × 2 with flip). */
export function passesOf(options: Required<DetectOptions>): { tiling: string; passes: number } {
  const tiles = tileCount(options.tiling);
  const passes = (tiles + (options.wholeFrame && tiles > 1 ? 1 : 0)) * (options.flip ? 2 : 1);
  return { tiling: tilingLabel(options.tiling), passes };
}

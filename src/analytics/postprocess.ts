/** From merged raw detections to a count under a camera profile: threshold → ROI → counting mode → correction. */
import type { Detection } from '../core/messages.js';
import { applyCorrection } from './correction.js';
import { countScores, needsWholeFrame } from './counting.js';
import type { DetectOptions } from './detector.js';
import type { CameraProfile } from './people-counter.js';
import { withinRoi } from './roi.js';
import { SINGLE_TILE } from './tiling.js';

/** Used when a profile sets no threshold: right on single people and empty scenes (see docs/analytics.md). */
export const DEFAULT_SCORE_THRESHOLD = 0.5;

/** `wholeFrame`: the detections of the whole-frame pass, when the profile's counting asks for one. */
export function countDetections(
  detections: readonly Detection[],
  profile: CameraProfile = {},
  wholeFrame?: readonly Detection[],
): { count: number; detections: Detection[] } {
  const threshold = profile.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
  const kept = (list: readonly Detection[]) =>
    withinRoi(
      list.filter((d) => d.score >= threshold),
      profile.roi,
    );
  const counted = kept(detections);
  return {
    count: applyCorrection(
      countScores(
        counted.map((d) => d.score),
        profile.counting,
        wholeFrame && kept(wholeFrame).map((d) => d.score),
      ),
      profile.correction,
    ),
    detections: counted,
  };
}

/** What the model must run to count under `profile`: its tiling, flip, threshold and whole-frame pass. */
export function detectOptionsFor(profile: CameraProfile = {}): Required<DetectOptions> {
  return {
    tiling: profile.tiling ?? SINGLE_TILE,
    minScore: profile.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD,
    flip: profile.flip ?? false,
    wholeFrame: needsWholeFrame(profile.counting),
  };
}

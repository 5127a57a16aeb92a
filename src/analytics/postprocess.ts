/** From merged raw detections to a count under a camera profile: threshold → ROI → counting mode → correction. */
import type { Detection } from '../core/messages.js';
import { applyCorrection } from './correction.js';
import { countScores } from './counting.js';
import type { CameraProfile } from './people-counter.js';
import { withinRoi } from './roi.js';
import { SINGLE_TILE, type Tiling } from './tiling.js';

/** Used when a profile sets no threshold: right on single people and empty scenes (see docs/analytics.md). */
export const DEFAULT_SCORE_THRESHOLD = 0.5;

export function countDetections(
  detections: readonly Detection[],
  profile: CameraProfile = {},
): { count: number; detections: Detection[] } {
  const threshold = profile.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
  const counted = withinRoi(
    detections.filter((d) => d.score >= threshold),
    profile.roi,
  );
  return {
    count: applyCorrection(
      countScores(
        counted.map((d) => d.score),
        profile.counting,
      ),
      profile.correction,
    ),
    detections: counted,
  };
}

/** What the model must run to count under `profile`: its tiling, flip and threshold. */
export function detectOptionsFor(profile: CameraProfile = {}): { tiling: Tiling; minScore: number; flip: boolean } {
  return {
    tiling: profile.tiling ?? SINGLE_TILE,
    minScore: profile.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD,
    flip: profile.flip ?? false,
  };
}

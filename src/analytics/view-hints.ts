/**
 * What a counted photo says about its camera's view (pure). `crowd-view`: many small person candidates
 * that the threshold left uncounted, the signature of a crowd or a far-away view, where the defaults
 * count a few percent of the people until the camera is tuned (docs/analytics.md).
 */
import type { Detection } from '../core/messages.js';
import type { CountableFrame } from './postprocess.js';
import { relativeHeight } from './threshold-shift.js';

export const CROWD_VIEW_HINT = 'crowd-view';
/** A candidate this much shorter than the frame is "small": a person far away or seen from high above. */
const SMALL_RELATIVE_HEIGHT = 0.25;
/** A few far-away passers-by on a street view are not a crowd. */
const MIN_UNCOUNTED_SMALL = 6;
/** Candidates are looked for down to this score (below the counting threshold: faint people are the point). */
export const HINT_SCORE_FLOOR = 0.2;

export function viewHints(frame: CountableFrame, counted: readonly Detection[]): string[] {
  const countedSet = new Set(counted);
  const uncountedSmall = frame.detections.filter(
    (d) => !countedSet.has(d) && relativeHeight(d.box, frame) < SMALL_RELATIVE_HEIGHT,
  ).length;
  return uncountedSmall >= Math.max(MIN_UNCOUNTED_SMALL, counted.length) ? [CROWD_VIEW_HINT] : [];
}

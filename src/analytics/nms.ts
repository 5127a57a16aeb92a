/** Greedy non-maximum suppression over scored boxes: the model emits duplicate peaks per person. */
import type { Detection } from '../core/messages.js';

export type Box = Detection['box'];

/** Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 for degenerate boxes. */
export function iou(a: Box, b: Box): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  const intersection = width * height;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection;
  return union > 0 ? intersection / union : 0;
}

/**
 * Keeps the highest-scoring box of every group overlapping by more than `iouThreshold`.
 * Greedy NMS commutes with a score threshold, so raw detections can be suppressed once and
 * thresholded many times (calibration relies on this).
 */
export function nonMaxSuppression(detections: readonly Detection[], iouThreshold = 0.4): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const candidate of sorted) {
    if (kept.every((keeper) => iou(keeper.box, candidate.box) <= iouThreshold)) kept.push(candidate);
  }
  return kept;
}

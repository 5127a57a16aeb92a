/**
 * Test-time horizontal flip: the model sees the photo and its mirror image; a person found in both
 * keeps the mean score, one found once keeps half. This steadies scores near the threshold.
 */
import type { Detection } from '../core/messages.js';
import { iou } from './nms.js';

/** Mirrors boxes found on a flipped image of `width` pixels back into the original's coordinates. */
export function unflip(detections: readonly Detection[], width: number): Detection[] {
  return detections.map(({ box: [x1, y1, x2, y2], score }) => ({ box: [width - x2, y1, width - x1, y2], score }));
}

/** Pairs each original detection with its best unused mirror match (IoU ≥ `matchIou`) and averages scores. */
export function fuseFlipped(
  original: readonly Detection[],
  mirrored: readonly Detection[],
  matchIou = 0.5,
): Detection[] {
  const used = new Set<number>();
  const fused: Detection[] = [];
  for (const detection of [...original].sort((a, b) => b.score - a.score)) {
    let match = -1;
    let bestIou = matchIou;
    mirrored.forEach((candidate, index) => {
      const overlap = iou(detection.box, candidate.box);
      if (!used.has(index) && overlap >= bestIou) {
        bestIou = overlap;
        match = index;
      }
    });
    const partner = mirrored[match];
    if (partner) used.add(match);
    fused.push({ box: detection.box, score: (detection.score + (partner?.score ?? 0)) / 2 });
  }
  mirrored.forEach((candidate, index) => {
    if (!used.has(index)) fused.push({ box: candidate.box, score: candidate.score / 2 });
  });
  return fused;
}

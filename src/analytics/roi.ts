/** Region of interest: count only people standing inside a polygon (their box's bottom-centre). */
import type { Detection } from '../core/messages.js';

export type Point = [number, number];

/** Where a person stands: the bottom-centre of their box. */
export function footPoint(box: Detection['box']): Point {
  return [(box[0] + box[2]) / 2, box[3]];
}

/** Even-odd ray casting; points exactly on an edge may fall either way. */
export function insidePolygon([x, y]: Point, polygon: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i] as Point;
    const [xj, yj] = polygon[j] as Point;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function withinRoi(detections: readonly Detection[], roi: readonly Point[] | undefined): Detection[] {
  return roi ? detections.filter((d) => insidePolygon(footPoint(d.box), roi)) : [...detections];
}

/** Region of interest: count only people standing inside a polygon (their box's bottom-centre). */
import { footPoint, insidePolygon, type Point } from '../core/geometry.js';
import type { Detection } from '../core/messages.js';

export function withinRoi(detections: readonly Detection[], roi: readonly Point[] | undefined): Detection[] {
  return roi ? detections.filter((d) => insidePolygon(footPoint(d.box), roi)) : [...detections];
}

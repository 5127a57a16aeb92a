/** Plane geometry in photo pixels, shared by the counter's region of interest and engage's zones. */

export type Point = [number, number];

/** Where a person stands: the bottom-centre of their box `[x1, y1, x2, y2]`. */
export function footPoint(box: readonly [number, number, number, number]): Point {
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

/** Splitting a frame into overlapping tiles (small people become larger for the model) and merging back. */
import type { Detection } from '../core/messages.js';
import { nonMaxSuppression } from './nms.js';

export interface Tiling {
  rows: number;
  cols: number;
  /** Fraction of a tile's size shared with its neighbour. */
  overlap: number;
}

/** A region of the frame in whole pixels. */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const SINGLE_TILE: Tiling = { rows: 1, cols: 1, overlap: 0 };

/** Covers `length` with `count` spans of equal size, neighbours overlapping by `overlap` of a span. */
function spans(length: number, count: number, overlap: number): Array<[number, number]> {
  if (count === 1) return [[0, length]];
  const size = Math.min(length, Math.ceil(length / (count - (count - 1) * overlap)));
  const step = (length - size) / (count - 1);
  return Array.from({ length: count }, (_, i) => {
    const start = Math.round(i * step);
    return [start, Math.min(size, length - start)];
  });
}

/** Tiles in row-major order; together they cover the whole frame. */
export function tileLayout(width: number, height: number, tiling: Tiling): Region[] {
  const rows = spans(height, tiling.rows, tiling.overlap);
  const cols = spans(width, tiling.cols, tiling.overlap);
  return rows.flatMap(([top, tileHeight]) =>
    cols.map(([left, tileWidth]) => ({ left, top, width: tileWidth, height: tileHeight })),
  );
}

/** Moves a tile's detections (tile pixels) into frame pixels. */
export function toFrame(detections: readonly Detection[], tile: Region): Detection[] {
  return detections.map(({ box, score }) => ({
    box: [box[0] + tile.left, box[1] + tile.top, box[2] + tile.left, box[3] + tile.top],
    score,
  }));
}

/**
 * Merges per-tile detections into one frame-level list. A person cut by a tile edge is found twice
 * (once per tile, often as partial boxes): cross-tile NMS keeps the best one.
 */
export function mergeTiles(
  perTile: ReadonlyArray<{ tile: Region; detections: readonly Detection[] }>,
  iouThreshold = 0.4,
): Detection[] {
  return nonMaxSuppression(
    perTile.flatMap(({ tile, detections }) => toFrame(detections, tile)),
    iouThreshold,
  );
}

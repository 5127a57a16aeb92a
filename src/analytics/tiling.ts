/** Splitting a frame into overlapping tiles (small people become larger for the model) and merging back. */
import type { Detection } from '../core/messages.js';
import type { BandTiling, GridTiling, Tiling } from '../core/people-counter.js';
import { nonMaxSuppression } from './nms.js';

/** The tiling types are declared with the profile schema in core; analytics imports them from here. */
export type { BandTiling, GridTiling, Tiling };

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

/** Vertical spans of the bands of `tiling`, each widened past its inner edges by `overlap` × its height. */
function bandSpans(height: number, tiling: BandTiling): Array<[number, number]> {
  let from = 0;
  return tiling.bands.map(({ to }, i) => {
    const grow = tiling.overlap * (to - from) * height;
    const top = i === 0 ? 0 : Math.max(0, Math.round(from * height - grow));
    const bottom = i === tiling.bands.length - 1 ? height : Math.min(height, Math.round(to * height + grow));
    from = to;
    return [top, bottom - top];
  });
}

/** Tiles in row-major order; together they cover the whole frame. */
export function tileLayout(width: number, height: number, tiling: Tiling): Region[] {
  const rows =
    'bands' in tiling
      ? bandSpans(height, tiling).map((span, i) => ({ span, cols: tiling.bands[i]?.cols ?? 1 }))
      : spans(height, tiling.rows, tiling.overlap).map((span) => ({ span, cols: tiling.cols }));
  return rows.flatMap(({ span: [top, tileHeight], cols }) =>
    spans(width, cols, tiling.overlap).map(([left, tileWidth]) => ({
      left,
      top,
      width: tileWidth,
      height: tileHeight,
    })),
  );
}

/** Model runs per frame. */
export function tileCount(tiling: Tiling): number {
  return 'bands' in tiling ? tiling.bands.reduce((sum, band) => sum + band.cols, 0) : tiling.rows * tiling.cols;
}

/** Which of these candidate tilings is the whole frame (one tile), or -1: the pass a two-scale count adds. */
export function wholeFrameIndexOf(tilings: readonly Tiling[]): number {
  return tilings.findIndex((tiling) => tileCount(tiling) === 1);
}

/** `2x2@0.2` for a grid, `0.3x4/1x2@0.2` for bands (END×COLS per band); parsed back by the CLI. */
export function tilingLabel(tiling: Tiling): string {
  const shape =
    'bands' in tiling
      ? tiling.bands.map((band) => `${band.to}x${band.cols}`).join('/')
      : `${tiling.rows}x${tiling.cols}`;
  return `${shape}@${tiling.overlap}`;
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

/**
 * The crowd-density method: a network trained in this repository (training/README.md) predicts how
 * many people stand in each 8 × 8 cell of the photo; the sum is the count. Detectors lose people who
 * are only a head a dozen pixels tall; a density map does not need to see them as objects.
 *
 * This file is the pure part: the model card (the one declaration of the input rule and output stride,
 * written by the training script), the input size, counting a map under a profile, and the heat map.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { insidePolygon } from '../core/geometry.js';
import type { HeatMap } from '../core/messages.js';
import type { CameraProfile } from '../core/people-counter.js';
import { MODELS_DIR, modelCardSchema, readModelCard } from './model-card.js';

const cardSchema = modelCardSchema.extend({
  input: z.object({
    name: z.string(),
    layout: z.literal('NHWC'),
    longSide: z.number().int().positive(),
    sideMultiple: z.number().int().positive(),
  }),
  output: z.object({ name: z.string(), stride: z.number().int().positive() }),
});
export type DensityCard = z.infer<typeof cardSchema>;

export const DENSITY_CARD_PATH = join(MODELS_DIR, 'crowd-density.json');

export function readDensityCard(path = DENSITY_CARD_PATH): DensityCard {
  return readModelCard(path, cardSchema, 'density model card');
}

/** The size the photo is resized to for the model: the longer side `longSide`, both sides multiples of `sideMultiple`. */
export function densityInputSize(width: number, height: number, card: DensityCard): { width: number; height: number } {
  const { longSide, sideMultiple } = card.input;
  const scale = longSide / Math.max(width, height);
  const side = (v: number) => Math.max(sideMultiple, Math.round((v * scale) / sideMultiple) * sideMultiple);
  return { width: side(width), height: side(height) };
}

/** A density map over a photo: `cols × rows` cells, row-major, people per cell. */
export interface DensityMap {
  cols: number;
  rows: number;
  cells: Float32Array;
  /** The photo's own size (the map covers it whole). */
  width: number;
  height: number;
}

/** The people a map holds under a profile: inside its ROI (by cell centre), times its density scale. */
export function countDensity(map: DensityMap, profile: CameraProfile = {}): number {
  return Math.max(0, Math.round(densitySum(map, profile.roi) * (profile.density?.scale ?? 1)));
}

/** The unrounded sum of a map, over the cells whose centre lies inside `roi` (photo pixels) when given. */
export function densitySum(map: DensityMap, roi?: ReadonlyArray<[number, number]>): number {
  const cellWidth = map.width / map.cols;
  const cellHeight = map.height / map.rows;
  let sum = 0;
  for (let row = 0; row < map.rows; row++) {
    for (let col = 0; col < map.cols; col++) {
      const value = map.cells[row * map.cols + col] as number;
      if (value <= 0) continue;
      if (roi && !insidePolygon([(col + 0.5) * cellWidth, (row + 0.5) * cellHeight], roi)) continue;
      sum += value;
    }
  }
  return sum;
}

/** What the dashboard draws: people per heat-map cell (2 decimals), at most `maxCols` cells across. */
export function heatMap(map: DensityMap, maxCols = 32): HeatMap {
  const factor = Math.max(1, Math.ceil(map.cols / maxCols));
  const cols = Math.ceil(map.cols / factor);
  const rows = Math.ceil(map.rows / factor);
  const sums = new Float64Array(cols * rows);
  for (let row = 0; row < map.rows; row++) {
    for (let col = 0; col < map.cols; col++) {
      const index = Math.floor(row / factor) * cols + Math.floor(col / factor);
      sums[index] = (sums[index] as number) + Math.max(0, map.cells[row * map.cols + col] as number);
    }
  }
  return { cols, rows, values: Array.from(sums, (v) => Math.round(v * 100) / 100) };
}

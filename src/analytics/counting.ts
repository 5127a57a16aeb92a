/**
 * From the scores of the detections above the threshold to a (fractional) count. Counting boxes
 * throws away how sure the model is; in crowds many people get low scores, so summing scores or
 * weighting score bins (fitted per camera) tracks the true count better.
 */
import type { CameraProfile } from '../core/people-counter.js';

export type Counting = NonNullable<CameraProfile['counting']>;

export const COUNT_BOXES: Counting = { mode: 'boxes' };

/** Index of the bin holding `score` (bin i = [edges[i], edges[i+1]), the last one open), −1 below the first edge. */
export function binIndex(score: number, edges: readonly number[]): number {
  let index = -1;
  for (const [i, edge] of edges.entries()) if (score >= edge) index = i;
  return index;
}

/** Number of scores per bin. */
export function binHistogram(scores: readonly number[], edges: readonly number[]): number[] {
  const histogram = edges.map(() => 0);
  for (const score of scores) {
    const index = binIndex(score, edges);
    if (index >= 0) histogram[index] = (histogram[index] ?? 0) + 1;
  }
  return histogram;
}

const weighted = (histogram: readonly number[], weights: readonly number[]) =>
  histogram.reduce((sum, n, i) => sum + n * (weights[i] ?? 0), 0);

/**
 * The fractional count of the detections with these scores (already thresholded). `wholeFrameScores`
 * are those of the whole-frame pass, required when the counting has `wholeFrameWeights`.
 */
export function countScores(
  scores: readonly number[],
  counting: Counting = COUNT_BOXES,
  wholeFrameScores?: readonly number[],
): number {
  switch (counting.mode) {
    case 'boxes':
      return scores.length;
    case 'score-sum':
      return scores.reduce((sum, score) => sum + score, 0);
    case 'score-bins': {
      const tiles = weighted(binHistogram(scores, counting.edges), counting.weights);
      if (!counting.wholeFrameWeights) return tiles;
      if (!wholeFrameScores) throw new Error('this counting needs the detections of a whole-frame pass');
      return tiles + weighted(binHistogram(wholeFrameScores, counting.edges), counting.wholeFrameWeights);
    }
  }
}

/** Does counting under this profile need the extra whole-frame pass? */
export const needsWholeFrame = (counting: Counting | undefined): boolean =>
  counting?.mode === 'score-bins' && counting.wholeFrameWeights !== undefined;

/**
 * Non-negative least squares for truth ≈ Σ weights[i] × histogram[i] (+ offset when `withOffset`):
 * the expected number of people behind one detection in each score bin. Cyclic coordinate descent on
 * the normal equations (a handful of bins, so it converges in well under the sweep budget).
 */
export function fitScoreBins(
  histograms: ReadonlyArray<readonly number[]>,
  truth: readonly number[],
  withOffset: boolean,
): { weights: number[]; offset: number } {
  const n = Math.min(histograms.length, truth.length);
  const bins = histograms[0]?.length ?? 0;
  if (n === 0 || bins === 0) return { weights: new Array(bins).fill(1), offset: 0 };
  // With an offset, centring X and y removes it from the problem; it is recovered from the means.
  const meanX = Array.from({ length: bins }, (_, j) =>
    withOffset ? histograms.slice(0, n).reduce((s, h) => s + (h[j] ?? 0), 0) / n : 0,
  );
  const meanY = withOffset ? truth.slice(0, n).reduce((s, t) => s + t, 0) / n : 0;
  const gram = Array.from({ length: bins }, () => new Array<number>(bins).fill(0));
  const xty = new Array<number>(bins).fill(0);
  for (let k = 0; k < n; k++) {
    const x = (histograms[k] as readonly number[]).map((v, j) => v - (meanX[j] as number));
    const y = (truth[k] as number) - meanY;
    for (let i = 0; i < bins; i++) {
      xty[i] = (xty[i] as number) + (x[i] as number) * y;
      for (let j = 0; j < bins; j++)
        (gram[i] as number[])[j] = ((gram[i] as number[])[j] as number) + (x[i] as number) * (x[j] as number);
    }
  }
  const weights = new Array<number>(bins).fill(0);
  for (let sweep = 0; sweep < 2000; sweep++) {
    let change = 0;
    for (let j = 0; j < bins; j++) {
      const row = gram[j] as number[];
      const diagonal = row[j] as number;
      if (!(diagonal > 0)) continue;
      const gradient = row.reduce((s, g, i) => s + g * (weights[i] as number), 0) - (xty[j] as number);
      const next = Math.max(0, (weights[j] as number) - gradient / diagonal);
      change = Math.max(change, Math.abs(next - (weights[j] as number)));
      weights[j] = next;
    }
    if (change < 1e-10) break;
  }
  const offset = withOffset ? meanY - weights.reduce((s, w, j) => s + w * (meanX[j] as number), 0) : 0;
  return { weights, offset };
}

/** Accuracy and speed statistics of a counting run (pure). */

export interface Sample {
  truth: number;
  predicted: number;
  ms: number;
}

export interface EvaluationSummary {
  n: number;
  mae: number;
  rmse: number;
  /** Mean of predicted − truth: negative means the counter misses people. */
  bias: number;
  /** Share of photos counted exactly right, 0..1. */
  exactRate: number;
  msMedian: number;
  msP90: number;
  photosPerSecond: number;
}

/** Nearest-rank percentile of an unsorted list; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function meanAbsoluteError(truth: readonly number[], predicted: readonly number[]): number {
  if (truth.length === 0) return Number.NaN;
  return truth.reduce((sum, t, i) => sum + Math.abs((predicted[i] ?? 0) - t), 0) / truth.length;
}

export function summarise(samples: readonly Sample[], wallMs: number): EvaluationSummary {
  const n = samples.length;
  const errors = samples.map((s) => s.predicted - s.truth);
  const mean = (values: number[]) => (n === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / n);
  return {
    n,
    mae: mean(errors.map(Math.abs)),
    rmse: Math.sqrt(mean(errors.map((e) => e * e))),
    bias: mean(errors),
    exactRate: mean(errors.map((e) => (e === 0 ? 1 : 0))),
    msMedian: percentile(
      samples.map((s) => s.ms),
      50,
    ),
    msP90: percentile(
      samples.map((s) => s.ms),
      90,
    ),
    photosPerSecond: wallMs > 0 ? (n * 1000) / wallMs : Number.NaN,
  };
}

/** How a set of counts was made: photos per regime and per hint, model passes per photo. */
export function decisionMix(
  decisions: ReadonlyArray<{ regime?: string; passes?: number; hints?: readonly string[] }>,
): {
  regimes: Record<string, number>;
  hints: Record<string, number>;
  passesMean: number;
  onePassRate: number;
} {
  const regimes: Record<string, number> = {};
  const hints: Record<string, number> = {};
  for (const decision of decisions) {
    const regime = decision.regime ?? 'unknown';
    regimes[regime] = (regimes[regime] ?? 0) + 1;
    for (const hint of decision.hints ?? []) hints[hint] = (hints[hint] ?? 0) + 1;
  }
  const passes = decisions.map((decision) => decision.passes ?? 1);
  const n = decisions.length;
  return {
    regimes,
    hints,
    passesMean: n === 0 ? Number.NaN : passes.reduce((a, b) => a + b, 0) / n,
    onePassRate: n === 0 ? Number.NaN : passes.filter((p) => p === 1).length / n,
  };
}

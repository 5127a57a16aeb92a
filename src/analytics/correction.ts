/** Linear count correction per camera: the model misses a steady share of small people in a fixed view. */

export interface Correction {
  scale: number;
  offset: number;
}

export const IDENTITY_CORRECTION: Correction = { scale: 1, offset: 0 };

/** count' = max(0, round(scale × count + offset)); the count may be fractional (score counting). */
export function applyCorrection(count: number, correction: Correction = IDENTITY_CORRECTION): number {
  return Math.max(0, Math.round(correction.scale * count + correction.offset));
}

/**
 * Least-squares fit of truth ≈ scale × detected through the origin: unlike a fitted offset it does
 * not pull busier scenes towards the fit frames' mean. Identity without data.
 */
export function fitScale(detected: readonly number[], truth: readonly number[]): Correction {
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < Math.min(detected.length, truth.length); i++) {
    sxx += (detected[i] as number) ** 2;
    sxy += (detected[i] as number) * (truth[i] as number);
  }
  return sxx > 0 && sxy > 0 ? { scale: sxy / sxx, offset: 0 } : IDENTITY_CORRECTION;
}

/**
 * Least-squares fit of truth ≈ scale × detected + offset. Falls back to a pure offset when the
 * detected counts do not vary, and to the identity without data; `scale` stays positive.
 */
export function fitCorrection(detected: readonly number[], truth: readonly number[]): Correction {
  const n = Math.min(detected.length, truth.length);
  if (n === 0) return IDENTITY_CORRECTION;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += detected[i] as number;
    sy += truth[i] as number;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (detected[i] as number) - mx;
    sxx += dx * dx;
    sxy += dx * ((truth[i] as number) - my);
  }
  const scale = sxx > 0 ? sxy / sxx : 1;
  if (!(scale > 0)) return { scale: 1, offset: my - mx };
  return { scale, offset: my - scale * mx };
}

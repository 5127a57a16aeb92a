/** Bounded retry with exponential backoff, for storage, analytics and publishes during outages. */
import { type Clock, sleep, systemClock } from './clock.js';

export interface RetryPolicy {
  /** Attempts in total, including the first. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 250, maxMs: 8_000 };

export class RetryAbortedError extends Error {
  override name = 'RetryAbortedError';
}

/**
 * Runs `operation` until it succeeds, `isPermanent(error)` says retrying cannot help, the
 * attempts are used up (the last error is thrown), or `shouldStop()` becomes true.
 */
export async function withRetry<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  hooks: { isPermanent?: (error: unknown) => boolean; shouldStop?: () => boolean; onRetry?: (error: unknown) => void },
  clock: Clock = systemClock,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (hooks.shouldStop?.()) throw new RetryAbortedError('stopped');
    try {
      return await operation();
    } catch (error) {
      if (hooks.isPermanent?.(error) || attempt >= policy.attempts) throw error;
      hooks.onRetry?.(error);
      await sleep(clock, Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)));
    }
  }
}

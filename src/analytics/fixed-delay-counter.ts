/**
 * A stand-in for the model, for tests and benchmarks: waits a fixed time and returns a count
 * derived from the photo's bytes (deterministic, so duplicates are recognisable). Not a model.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CountResult, PeopleCounter } from '../core/people-counter.js';

export class FixedDelayCounter implements PeopleCounter {
  readonly model: string;

  constructor(readonly delayMs: number) {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError('delay must be a non-negative number of ms');
    this.model = `fixed-delay-${delayMs}ms (stand-in, not a model)`;
  }

  async count(jpeg: Buffer): Promise<CountResult> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    return { count: deterministicCount(jpeg), detections: [], model: this.model, ms: this.delayMs };
  }

  async close(): Promise<void> {}
}

/** 0–9, from the photo's SHA-256. */
export function deterministicCount(jpeg: Buffer): number {
  return (createHash('sha256').update(jpeg).digest()[0] ?? 0) % 10;
}

/**
 * What became of an uploaded photo, so that the upload can answer with its count: every photo ends
 * counted (a result), superseded (a newer photo of its device was counted instead) or failed (a
 * dead letter), all keyed by its filePath. A wait that starts after its outcome arrived still finds
 * it among the most recent outcomes; a wait that runs out answers "pending".
 */
import { z } from 'zod';
import {
  type DeadLetterMessage,
  deadLetterReasonSchema,
  detectionSchema,
  heatMapSchema,
  type ResultMessage,
  type SupersededMessage,
} from '../core/messages.js';

export const photoOutcomeSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('counted'),
    count: z.number(),
    /** Person boxes in the photo's pixels, when the model reports them. */
    detections: z.array(detectionSchema),
    /** From the photo's creation to its count. */
    latencyMs: z.number(),
    model: z.string(),
    /** What counted (`detector` or `density`), when the counter says. */
    method: z.enum(['detector', 'density']).optional(),
    /** Density counts: people per cell of a grid over the photo, drawn as a heat map. */
    heatMap: heatMapSchema.optional(),
  }),
  z.object({ status: z.literal('superseded'), supersededBy: z.string() }),
  z.object({ status: z.literal('failed'), reason: deadLetterReasonSchema, detail: z.string() }),
  z.object({ status: z.literal('pending').describe('not counted within the wait; the tile shows it once counted') }),
]);
export type PhotoOutcome = z.infer<typeof photoOutcomeSchema>;

export const outcomeOfResult = (result: ResultMessage): PhotoOutcome => ({
  status: 'counted',
  count: result.count,
  detections: result.detections ?? [],
  latencyMs: result.latencyMs,
  model: result.model,
  ...(result.method !== undefined ? { method: result.method } : {}),
  ...(result.heatMap !== undefined ? { heatMap: result.heatMap } : {}),
});

export const outcomeOfSuperseded = (message: SupersededMessage): PhotoOutcome => ({
  status: 'superseded',
  supersededBy: message.supersededBy,
});

export const outcomeOfDeadLetter = (message: DeadLetterMessage): PhotoOutcome => ({
  status: 'failed',
  reason: message.reason,
  detail: message.detail,
});

/** Outcomes remembered for waits that start late: far more than can arrive during one upload's answer. */
const RECENT_LIMIT = 512;

export class PhotoOutcomes {
  private readonly waiters = new Map<string, Set<(outcome: PhotoOutcome) => void>>();
  private readonly recent = new Map<string, PhotoOutcome>();

  settle(filePath: string, outcome: PhotoOutcome): void {
    this.recent.delete(filePath);
    this.recent.set(filePath, outcome);
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value as string);
    const waiting = this.waiters.get(filePath);
    this.waiters.delete(filePath);
    for (const resolve of waiting ?? []) resolve(outcome);
  }

  /** The photo's outcome, or `pending` after `timeoutMs` (or when closed). */
  wait(filePath: string, timeoutMs: number): Promise<PhotoOutcome> {
    const known = this.recent.get(filePath);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => {
      const waiting = this.waiters.get(filePath) ?? new Set();
      this.waiters.set(filePath, waiting);
      const finish = (outcome: PhotoOutcome) => {
        clearTimeout(timer);
        waiting.delete(finish);
        if (waiting.size === 0 && this.waiters.get(filePath) === waiting) this.waiters.delete(filePath);
        resolve(outcome);
      };
      const timer = setTimeout(() => finish({ status: 'pending' }), timeoutMs);
      waiting.add(finish);
    });
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** Answers every wait with `pending` (at stop, so that no request hangs). */
  close(): void {
    for (const waiting of [...this.waiters.values()]) for (const finish of [...waiting]) finish({ status: 'pending' });
  }
}

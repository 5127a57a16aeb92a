/**
 * The pending set of one instance: work items deduplicated by key, in arrival order, and the
 * decision when to claim a batch (full batch, or the oldest item has waited max-wait). Pure:
 * the caller passes the time and what is taken (owned or finished) according to the ledger.
 */
import type { WorkItem } from './work-items.js';

export interface BatchPolicy {
  batchSize: number;
  maxWaitMs: number;
}

export type BatchDecision = { kind: 'claim'; items: WorkItem[] } | { kind: 'wait'; ms: number } | { kind: 'idle' };

export class PendingSet {
  private readonly items = new Map<string, { item: WorkItem; since: number }>();

  /** Adds an item; false when its key is already pending (a duplicate delivery). */
  add(item: WorkItem, now: number): boolean {
    if (this.items.has(item.key)) return false;
    this.items.set(item.key, { item, since: now });
    return true;
  }

  get(key: string): WorkItem | undefined {
    return this.items.get(key)?.item;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  delete(key: string): void {
    this.items.delete(key);
  }

  clear(): void {
    this.items.clear();
  }

  get size(): number {
    return this.items.size;
  }

  /** Items nobody holds, oldest first. */
  claimable(isTaken: (key: string) => boolean): Array<{ item: WorkItem; since: number }> {
    return [...this.items.values()].filter(({ item }) => !isTaken(item.key));
  }

  /** Looks only as far as the first batch of free items, so it stays cheap with a long backlog. */
  decide(now: number, policy: BatchPolicy, isTaken: (key: string) => boolean): BatchDecision {
    const batch: WorkItem[] = [];
    let oldest: number | undefined;
    for (const { item, since } of this.items.values()) {
      if (isTaken(item.key)) continue;
      oldest ??= since;
      batch.push(item);
      if (batch.length >= policy.batchSize) break;
    }
    if (oldest === undefined) return { kind: 'idle' };
    const waited = now - oldest;
    if (batch.length >= policy.batchSize || waited >= policy.maxWaitMs) return { kind: 'claim', items: batch };
    return { kind: 'wait', ms: policy.maxWaitMs - waited };
  }
}

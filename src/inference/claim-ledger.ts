/**
 * The replicated state machine of the coordination protocol (docs/coordination.md). Every
 * instance applies the same totally ordered stream of coordination messages to its own ledger,
 * so every instance computes the same owner for every item. Pure: no I/O, no clocks.
 *
 * Rule: a claim wins exactly the items that are neither owned by an active claim nor finished
 * at its position in the stream; `done` finishes items, `expire`/`offline`/`release` end claims
 * and make their unfinished items claimable again. An `offline` (a connection's will) ends only
 * the claims made over that connection: replayed later, it names a session that holds none.
 */
import { BoundedSet } from '../core/bounded-set.js';
import type { ClaimMessage, CoordinationMessage, RenewMessage } from './coordination-messages.js';

export interface ActiveClaim {
  claimId: string;
  instanceId: string;
  /** The connection of `instanceId` that made the claim (coordination-messages.ts). */
  session: string;
  leaseMs: number;
  /** The items this claim won and has not finished yet. */
  items: Set<string>;
  /** Won items that an earlier claim held until its lease expired or its owner went offline. */
  reprocessed: Set<string>;
}

export type ClaimEndReason = 'done' | 'expired' | 'offline' | 'released' | 'won-nothing';

export type LedgerEvent =
  | {
      kind: 'claim-applied';
      claimId: string;
      instanceId: string;
      won: string[];
      lost: string[];
      reprocessed: string[];
    }
  | { kind: 'claim-ended'; claimId: string; instanceId: string; reason: ClaimEndReason; released: string[] }
  | { kind: 'finished'; items: string[] }
  | { kind: 'renewed'; claimId: string; instanceId: string; adopted: boolean }
  | { kind: 'ignored'; reason: 'duplicate-claim' | 'unknown-claim' | 'not-owner' };

export interface ClaimLedgerOptions {
  /** How many finished items and ended claim IDs to remember (to recognise late duplicates). */
  memory?: number;
}

export class ClaimLedger {
  private readonly active = new Map<string, ActiveClaim>();
  private readonly owner = new Map<string, ActiveClaim>();
  private readonly finished: BoundedSet<string>;
  private readonly ended: BoundedSet<string>;
  /** Items released by expire/offline: whoever wins them next may be the second to process them. */
  private readonly releasedUnsafely: BoundedSet<string>;

  constructor(options: ClaimLedgerOptions = {}) {
    const memory = options.memory ?? 100_000;
    this.finished = new BoundedSet(memory);
    this.ended = new BoundedSet(memory);
    this.releasedUnsafely = new BoundedSet(memory);
  }

  apply(message: CoordinationMessage): LedgerEvent[] {
    switch (message.type) {
      case 'claim':
        return this.applyClaim(message);
      case 'renew': {
        if (this.active.has(message.claimId)) {
          return [{ kind: 'renewed', claimId: message.claimId, instanceId: message.instanceId, adopted: false }];
        }
        if (this.ended.has(message.claimId)) return [{ kind: 'ignored', reason: 'unknown-claim' }];
        // A claim made before this instance subscribed: adopt it so that this view learns of it.
        const events = this.applyClaim(message);
        return [
          ...events,
          { kind: 'renewed', claimId: message.claimId, instanceId: message.instanceId, adopted: true },
        ];
      }
      case 'done':
        return this.applyDone(message.claimId, message.filePaths);
      case 'expire': {
        const claim = this.active.get(message.claimId);
        return claim ? [this.end(claim, 'expired')] : [{ kind: 'ignored', reason: 'unknown-claim' }];
      }
      case 'release': {
        const claim = this.active.get(message.claimId);
        if (!claim) return [{ kind: 'ignored', reason: 'unknown-claim' }];
        if (claim.instanceId !== message.instanceId) return [{ kind: 'ignored', reason: 'not-owner' }];
        return [this.end(claim, 'released')];
      }
      case 'offline':
        return [...this.active.values()]
          .filter((claim) => claim.instanceId === message.instanceId && claim.session === message.session)
          .map((claim) => this.end(claim, 'offline'));
      case 'heartbeat':
        return [];
    }
  }

  /**
   * Forgets every active claim (a view that lost its session may have missed their ends): the
   * ledger is then what a late joiner's would be, plus the finished items, which stay true.
   */
  forgetActiveClaims(): void {
    this.active.clear();
    this.owner.clear();
  }

  claim(claimId: string): ActiveClaim | undefined {
    return this.active.get(claimId);
  }

  ownerOf(item: string): ActiveClaim | undefined {
    return this.owner.get(item);
  }

  isFinished(item: string): boolean {
    return this.finished.has(item);
  }

  /** Owned by an active claim or finished: not claimable. */
  isTaken(item: string): boolean {
    return this.owner.has(item) || this.finished.has(item);
  }

  hasSeenClaim(claimId: string): boolean {
    return this.active.has(claimId) || this.ended.has(claimId);
  }

  activeClaims(): ActiveClaim[] {
    return [...this.active.values()];
  }

  private applyClaim(message: ClaimMessage | RenewMessage): LedgerEvent[] {
    const { claimId, instanceId, session, leaseMs } = message;
    if (this.hasSeenClaim(claimId)) return [{ kind: 'ignored', reason: 'duplicate-claim' }];
    const claim: ActiveClaim = { claimId, instanceId, session, leaseMs, items: new Set(), reprocessed: new Set() };
    const lost: string[] = [];
    for (const item of new Set(message.filePaths)) {
      if (this.isTaken(item)) {
        lost.push(item);
        continue;
      }
      claim.items.add(item);
      this.owner.set(item, claim);
      if (this.releasedUnsafely.has(item)) claim.reprocessed.add(item);
    }
    const applied: LedgerEvent = {
      kind: 'claim-applied',
      claimId,
      instanceId,
      won: [...claim.items],
      lost,
      reprocessed: [...claim.reprocessed],
    };
    if (claim.items.size === 0) {
      this.ended.add(claimId);
      return [applied, { kind: 'claim-ended', claimId, instanceId, reason: 'won-nothing', released: [] }];
    }
    this.active.set(claimId, claim);
    return [applied];
  }

  private applyDone(claimId: string, items: string[]): LedgerEvent[] {
    const claim = this.active.get(claimId);
    const finished: string[] = [];
    for (const item of new Set(items)) {
      const holder = this.owner.get(item);
      // A done from an ended (or, for a late joiner, unknown) claim still finishes items nobody
      // else holds: its owner published their outcomes and deleted them before saying done.
      if (holder && holder !== claim) continue;
      this.finish(item);
      claim?.items.delete(item);
      finished.push(item);
    }
    const events: LedgerEvent[] = [{ kind: 'finished', items: finished }];
    if (claim) events.push(this.end(claim, 'done'));
    return events;
  }

  private finish(item: string): void {
    this.owner.delete(item);
    this.finished.add(item);
    this.releasedUnsafely.delete(item);
  }

  /** Ends a claim; its unfinished items become claimable again. */
  private end(claim: ActiveClaim, reason: ClaimEndReason): LedgerEvent {
    const released = [...claim.items];
    for (const item of released) {
      this.owner.delete(item);
      if (reason === 'expired' || reason === 'offline') this.releasedUnsafely.add(item);
    }
    claim.items.clear();
    this.active.delete(claim.claimId);
    this.ended.add(claim.claimId);
    return { kind: 'claim-ended', claimId: claim.claimId, instanceId: claim.instanceId, reason, released };
  }
}

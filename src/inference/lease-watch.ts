/**
 * Expires foreign claims that outlive their lease, by this instance's local clock only: the time
 * it received a claim or its last renew (never compared across machines). The expire takes
 * effect at its position in the stream, in every view alike. Owns its timer.
 */
import { type Cancel, type Clock, every } from '../core/clock.js';
import type { ActiveClaim } from './claim-ledger.js';

export interface LeaseWatchDeps {
  clock: Clock;
  /** How often to look; a fraction of the shortest lease. */
  checkMs: number;
  activeClaims(): ActiveClaim[];
  /** Claims this process is running itself (it renews them). */
  isRunningHere(claimId: string): boolean;
  /** Only a subscribed view may judge (and publish). */
  ready(): boolean;
  expire(claimId: string): Promise<void>;
}

export class LeaseWatch {
  private readonly heardAt = new Map<string, number>();
  private readonly expireSent = new Set<string>();
  private cancel: Cancel = () => undefined;

  constructor(private readonly deps: LeaseWatchDeps) {}

  start(): void {
    this.cancel = every(this.deps.clock, this.deps.checkMs, () => this.check());
  }

  stop(): void {
    this.cancel();
  }

  /** A claim or its renew was received now. */
  heard(claimId: string): void {
    this.heardAt.set(claimId, this.deps.clock.now());
  }

  ended(claimId: string): void {
    this.heardAt.delete(claimId);
    this.expireSent.delete(claimId);
  }

  /** The view ended: its claims are forgotten (a new view learns them again from the stream). */
  clear(): void {
    this.heardAt.clear();
    this.expireSent.clear();
  }

  /** Publishes one expire per claim (again only if publishing failed). */
  expireNow(claimId: string): void {
    if (this.expireSent.has(claimId)) return;
    this.expireSent.add(claimId);
    this.deps.expire(claimId).catch(() => this.expireSent.delete(claimId));
  }

  private check(): void {
    if (!this.deps.ready()) return;
    const now = this.deps.clock.now();
    for (const claim of this.deps.activeClaims()) {
      if (this.deps.isRunningHere(claim.claimId)) continue;
      const since = this.heardAt.get(claim.claimId);
      if (since === undefined) this.heardAt.set(claim.claimId, now);
      else if (now - since > claim.leaseMs) this.expireNow(claim.claimId);
    }
  }
}

/**
 * How an instance wins items, behind one interface: through the ordered coordination stream
 * (the claim wins what is free at its position, learnt from its echo) or through a Redis arbiter
 * (clustered brokers; the stream is then informational). See docs/coordination.md.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { type RetryPolicy, withRetry } from '../core/retry.js';
import type { ClaimEndReason } from './claim-ledger.js';
import { COORDINATION_VERSION, type CoordinationMessage } from './coordination-messages.js';
import type { ClaimArbiter } from './redis-arbiter.js';

export interface ClaimGrant {
  won: string[];
  /** Won items that an earlier owner may have processed (flag their outcomes `reprocessed`). */
  reprocessed: string[];
  /** Items the arbiter knows as finished, whose `done` this view may never see: drop them. */
  finished?: string[];
}

export interface Claimer {
  /** True when the stream decides: a claim ended by the stream, or a lost view, stops its run. */
  readonly streamDecides: boolean;
  /** Items of own claims still being decided: nobody here claims them meanwhile. */
  isOutstanding(key: string): boolean;
  hasOutstanding(): boolean;
  /** What this instance won, or null when the claim was not decided (retry later). */
  claim(claimId: string, keys: string[]): Promise<ClaimGrant | null>;
  /** Keeps a running claim alive; false when it no longer holds its items (stop the run). */
  renew(claimId: string, unfinished: string[]): Promise<boolean>;
  /** Every outcome of `completed` is published and its photo deleted; the rest is released. */
  finish(claimId: string, completed: string[], shouldStop: () => boolean): Promise<void>;
  /**
   * Ends a claim that stops early. `uncertain`: an outcome may have reached the broker without
   * our knowing, so the next winner must flag its outcomes reprocessed (an unsafe release).
   */
  giveUp(claimId: string, completed: string[], unfinished: string[], uncertain: boolean): Promise<void>;
  /** Own claim applied in the stream; true when this claimer was waiting for it. */
  claimApplied(claimId: string, grant: ClaimGrant): boolean;
  /** The view ended: claims waiting for their echo will not get it in this view. */
  viewEnded(): void;
}

/** What both claimers publish on the stream. */
export interface ClaimerContext {
  instanceId: string;
  /** The session of the current connection, which claims and renews name (its will ends them). */
  session(): string;
  leaseMs: number;
  clock: Clock;
  retry: RetryPolicy;
  logger: Logger;
  publish(message: CoordinationMessage): Promise<void>;
}

function claimMessage(context: ClaimerContext, claimId: string, keys: string[]): CoordinationMessage {
  return {
    type: 'claim',
    version: COORDINATION_VERSION,
    claimId,
    instanceId: context.instanceId,
    session: context.session(),
    filePaths: keys,
    leaseMs: context.leaseMs,
  };
}

function renewMessage(context: ClaimerContext, claimId: string, unfinished: string[]): CoordinationMessage {
  return {
    type: 'renew',
    version: COORDINATION_VERSION,
    claimId,
    instanceId: context.instanceId,
    session: context.session(),
    filePaths: unfinished,
    leaseMs: context.leaseMs,
  };
}

function doneMessage(context: ClaimerContext, claimId: string, completed: string[]): CoordinationMessage {
  return { type: 'done', version: COORDINATION_VERSION, claimId, instanceId: context.instanceId, filePaths: completed };
}

/** Ends a claim on the stream: `done` for what is finished (the rest is released), else release/expire. */
async function endOnStream(context: ClaimerContext, claimId: string, completed: string[], uncertain: boolean) {
  const { instanceId } = context;
  const message: CoordinationMessage = uncertain
    ? { type: 'expire', version: COORDINATION_VERSION, claimId, by: instanceId }
    : completed.length > 0
      ? doneMessage(context, claimId, completed)
      : { type: 'release', version: COORDINATION_VERSION, claimId, instanceId };
  await context.publish(message).catch((error: unknown) => {
    context.logger.warn({ err: error, claimId }, `could not publish ${message.type}; the lease hands the claim on`);
  });
}

interface Waiting {
  keys: Set<string>;
  resolve(grant: ClaimGrant | null): void;
}

/** Claims through the ordered stream: a claim wins what was free at its position (claim-ledger.ts). */
export class StreamClaimer implements Claimer {
  readonly streamDecides = true;
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly context: ClaimerContext) {}

  isOutstanding(key: string): boolean {
    for (const claim of this.waiting.values()) if (claim.keys.has(key)) return true;
    return false;
  }

  hasOutstanding(): boolean {
    return this.waiting.size > 0;
  }

  async claim(claimId: string, keys: string[]): Promise<ClaimGrant | null> {
    const { context } = this;
    const decided = new Promise<ClaimGrant | null>((resolve) => {
      // A claim that never comes back (lost with a view) must not block this instance.
      const cancel = context.clock.schedule(Math.max(5_000, context.leaseMs), () => this.settle(claimId, null));
      this.waiting.set(claimId, {
        keys: new Set(keys),
        resolve: (grant) => {
          cancel();
          resolve(grant);
        },
      });
    });
    try {
      await context.publish(claimMessage(context, claimId, keys));
    } catch (error) {
      context.logger.warn({ err: error }, 'could not publish claim; will retry');
      this.settle(claimId, null);
    }
    return decided;
  }

  claimApplied(claimId: string, grant: ClaimGrant): boolean {
    if (!this.waiting.has(claimId)) return false;
    this.settle(claimId, grant);
    return true;
  }

  viewEnded(): void {
    for (const claimId of [...this.waiting.keys()]) this.settle(claimId, null);
  }

  async renew(claimId: string, unfinished: string[]): Promise<boolean> {
    // Whether the claim is still held is the stream's word (claim-ended events), not the renew's.
    await this.context.publish(renewMessage(this.context, claimId, unfinished)).catch(() => undefined);
    return true;
  }

  async finish(claimId: string, completed: string[], shouldStop: () => boolean): Promise<void> {
    await withRetry(
      () => this.context.publish(doneMessage(this.context, claimId, completed)),
      this.context.retry,
      {
        shouldStop,
      },
      this.context.clock,
    );
  }

  giveUp(claimId: string, completed: string[], _unfinished: string[], uncertain: boolean): Promise<void> {
    return endOnStream(this.context, claimId, completed, uncertain);
  }

  private settle(claimId: string, grant: ClaimGrant | null): void {
    const waiting = this.waiting.get(claimId);
    if (!waiting) return;
    this.waiting.delete(claimId);
    waiting.resolve(grant);
  }
}

/** Claims through a Redis arbiter; the claim published on the stream names only what was won. */
export class ArbiterClaimer implements Claimer {
  readonly streamDecides = false;
  private readonly deciding = new Map<string, Set<string>>();
  /**
   * Items another claim held at the arbiter, and until when they are not tried again. Without it an
   * idle instance re-claims them at once, over and over, for as long as the holder's claim is not
   * seen on the stream (e.g. the holder's node of a clustered broker is down).
   */
  private readonly heldElsewhere = new Map<string, number>();
  private readonly holdMs: number;

  constructor(
    private readonly arbiter: ClaimArbiter,
    private readonly context: ClaimerContext,
  ) {
    // The holder renews every lease/3; a crashed holder's key lapses after the lease.
    this.holdMs = Math.min(2_000, context.leaseMs / 3);
  }

  isOutstanding(key: string): boolean {
    for (const keys of this.deciding.values()) if (keys.has(key)) return true;
    const until = this.heldElsewhere.get(key);
    if (until === undefined) return false;
    if (until > this.context.clock.now()) return true;
    this.heldElsewhere.delete(key);
    return false;
  }

  hasOutstanding(): boolean {
    return this.deciding.size > 0;
  }

  async claim(claimId: string, keys: string[]): Promise<ClaimGrant | null> {
    this.deciding.set(claimId, new Set(keys));
    try {
      const grant = await this.arbiter.claim(claimId, keys, this.context.leaseMs);
      this.holdBack(keys, grant);
      if (grant.won.length > 0) {
        // Informational: other views learn what is taken and rarely try it.
        void this.context.publish(claimMessage(this.context, claimId, grant.won)).catch(() => undefined);
      }
      return grant;
    } catch (error) {
      this.context.logger.warn({ err: error }, 'arbiter unavailable; will retry the claim');
      return null;
    } finally {
      this.deciding.delete(claimId);
    }
  }

  claimApplied(): boolean {
    return false;
  }

  viewEnded(): void {}

  private holdBack(keys: string[], grant: ClaimGrant): void {
    const now = this.context.clock.now();
    for (const [key, until] of this.heldElsewhere) if (until <= now) this.heldElsewhere.delete(key);
    const decided = new Set([...grant.won, ...(grant.finished ?? [])]);
    for (const key of keys) if (!decided.has(key)) this.heldElsewhere.set(key, now + this.holdMs);
  }

  async renew(claimId: string, unfinished: string[]): Promise<boolean> {
    void this.context.publish(renewMessage(this.context, claimId, unfinished)).catch(() => undefined);
    try {
      return await this.arbiter.renew(claimId, unfinished, this.context.leaseMs);
    } catch (error) {
      this.context.logger.warn({ err: error }, 'could not renew the claim with the arbiter');
      return true;
    }
  }

  async finish(claimId: string, completed: string[], shouldStop: () => boolean): Promise<void> {
    const { context } = this;
    await withRetry(() => this.arbiter.finish(claimId, completed), context.retry, { shouldStop }, context.clock);
    await withRetry(
      () => context.publish(doneMessage(context, claimId, completed)),
      context.retry,
      { shouldStop },
      context.clock,
    );
  }

  async giveUp(claimId: string, completed: string[], unfinished: string[], uncertain: boolean): Promise<void> {
    await this.arbiter.finish(claimId, completed).catch(() => undefined);
    // An uncertain item keeps its claim key until the lease runs out, so its next winner flags it.
    if (!uncertain) await this.arbiter.release(claimId, unfinished).catch(() => undefined);
    await endOnStream(this.context, claimId, completed, uncertain);
  }
}

/** Whether a claim ended by the stream for `reason` stops the owner's run (stream claimer only). */
export function endsRun(reason: ClaimEndReason): boolean {
  return reason === 'expired' || reason === 'offline' || reason === 'released';
}

/**
 * The claim arbiter for brokers without a total order (clustered EMQX, HiveMQ, VerneMQ): Redis
 * decides who wins an item with an atomic compare-and-set, and the MQTT coordination stream
 * becomes informational. A claim wins an item iff `SET pc:claim:<item> <claimId> NX PX <lease>`
 * succeeds and the item is not marked done. See docs/coordination.md.
 */
import { Redis } from 'ioredis';

/** Decides which items a claim wins, instead of the ordered stream's echo. */
export interface ClaimArbiter {
  readonly description: string;
  /**
   * Won items, those among them that an earlier claim held (flagged reprocessed), and items
   * already finished (by anyone: never to be claimed again).
   */
  claim(
    claimId: string,
    items: string[],
    leaseMs: number,
  ): Promise<{ won: string[]; reprocessed: string[]; finished: string[] }>;
  /** Extends the lease; false when the claim no longer holds every item (stop processing). */
  renew(claimId: string, items: string[], leaseMs: number): Promise<boolean>;
  /** Marks items finished (remembered for `memoryMs`) and drops the claim on them. */
  finish(claimId: string, items: string[]): Promise<void>;
  /** Gives items back without an outcome (graceful stop). */
  release(claimId: string, items: string[]): Promise<void>;
  close(): Promise<void>;
}

// KEYS: claim, done, seen. ARGV: claimId, leaseMs, memoryMs.
// 0 held by another claim, 1 won, 2 won again after someone else, 3 already finished.
const CLAIM = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 3 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[3]) then return 1 end
if redis.call('GET', KEYS[3]) == ARGV[1] then return 1 end
return 2`;
// KEYS: claim. ARGV: claimId, leaseMs.
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;
// KEYS: claim, done. ARGV: claimId, memoryMs.
const FINISH = `
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;
// KEYS: claim, seen. ARGV: claimId.
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`;

export interface RedisArbiterOptions {
  url: string;
  /** Key prefix, default `pc:`. */
  prefix?: string;
  /** How long finished items are remembered (late duplicates), default 24 h. */
  memoryMs?: number;
}

export class RedisClaimArbiter implements ClaimArbiter {
  readonly description: string;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly memoryMs: number;

  constructor(options: RedisArbiterOptions) {
    this.redis = new Redis(options.url, { maxRetriesPerRequest: 2 });
    // Connection errors surface as failed commands (the caller retries); ioredis reconnects itself.
    this.redis.on('error', () => undefined);
    this.prefix = options.prefix ?? 'pc:';
    this.memoryMs = options.memoryMs ?? 24 * 3_600_000;
    this.description = `redis arbiter ${new URL(options.url).host}`;
  }

  async claim(claimId: string, items: string[], leaseMs: number) {
    const pipeline = this.redis.pipeline();
    for (const item of items) {
      pipeline.eval(
        CLAIM,
        3,
        this.key('claim', item),
        this.key('done', item),
        this.key('seen', item),
        claimId,
        leaseMs,
        this.memoryMs,
      );
    }
    const replies = await this.exec(pipeline);
    const won: string[] = [];
    const reprocessed: string[] = [];
    const finished: string[] = [];
    items.forEach((item, index) => {
      const reply = replies[index];
      if (reply === 1 || reply === 2) won.push(item);
      if (reply === 2) reprocessed.push(item);
      if (reply === 3) finished.push(item);
    });
    return { won, reprocessed, finished };
  }

  async renew(claimId: string, items: string[], leaseMs: number): Promise<boolean> {
    const pipeline = this.redis.pipeline();
    for (const item of items) pipeline.eval(RENEW, 1, this.key('claim', item), claimId, leaseMs);
    return (await this.exec(pipeline)).every((reply) => reply === 1);
  }

  async finish(claimId: string, items: string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const item of items)
      pipeline.eval(FINISH, 2, this.key('claim', item), this.key('done', item), claimId, this.memoryMs);
    await this.exec(pipeline);
  }

  async release(claimId: string, items: string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const item of items) pipeline.eval(RELEASE, 2, this.key('claim', item), this.key('seen', item), claimId);
    await this.exec(pipeline);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private key(kind: 'claim' | 'done' | 'seen', item: string): string {
    return `${this.prefix}${kind}:${item}`;
  }

  private async exec(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
  }
}

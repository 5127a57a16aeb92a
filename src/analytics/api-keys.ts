/** API keys and per-key usage metering of the analytics REST service. */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The keys the analytics service accepts, comma-separated (or a file: `--api-keys-file`). */
export const ANALYTICS_API_KEYS_ENV = 'PEOPLE_COUNTER_ANALYTICS_API_KEYS';

export interface Usage {
  requests: number;
  photos: number;
  computeMs: number;
}

/** Keys are never logged or returned: callers are known by a short hash of their key. */
export function keyId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/** One key per line or comma-separated; blank lines and `#` comments are ignored. */
export function parseApiKeys(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.length > 0);
}

export interface KeyRing {
  readonly open: boolean;
  /** The caller's key ID, or undefined for an unknown key. Constant-time per candidate key. */
  identify(presented: string): string | undefined;
}

export function createKeyRing(keys: readonly string[]): KeyRing {
  const digests = keys.map((key) => ({ id: keyId(key), digest: createHash('sha256').update(key).digest() }));
  return {
    open: keys.length === 0,
    identify(presented) {
      const digest = createHash('sha256').update(presented).digest();
      let found: string | undefined;
      for (const candidate of digests) if (timingSafeEqual(candidate.digest, digest)) found = candidate.id;
      return found;
    },
  };
}

export class UsageMeter {
  readonly #byKey = new Map<string, Usage>();

  #entry(id: string): Usage {
    let usage = this.#byKey.get(id);
    if (!usage) {
      usage = { requests: 0, photos: 0, computeMs: 0 };
      this.#byKey.set(id, usage);
    }
    return usage;
  }

  request(id: string): void {
    this.#entry(id).requests++;
  }

  photo(id: string, computeMs: number): void {
    const usage = this.#entry(id);
    usage.photos++;
    usage.computeMs += computeMs;
  }

  of(id: string): Usage {
    return { ...this.#entry(id) };
  }
}

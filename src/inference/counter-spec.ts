/**
 * `--analytics`: which PeopleCounter an inference instance uses. `local` (the in-process model),
 * an http(s) URL of the analytics REST service, or `fixed-delay:<ms>` (the stand-in for tests and
 * benchmarks, not a model).
 */
import { ConfigError } from '../core/config.js';

export type AnalyticsSpec =
  | { kind: 'local' }
  | { kind: 'http'; url: string }
  | { kind: 'fixed-delay'; delayMs: number };

export function parseAnalyticsSpec(text: string): AnalyticsSpec {
  if (text === 'local') return { kind: 'local' };
  const fixed = /^fixed-delay:(\d+)$/.exec(text);
  if (fixed) return { kind: 'fixed-delay', delayMs: Number(fixed[1]) };
  if (/^https?:\/\//.test(text)) {
    try {
      return { kind: 'http', url: new URL(text).toString() };
    } catch {
      throw new ConfigError(`--analytics: not a valid URL: ${text}`);
    }
  }
  throw new ConfigError(`--analytics must be "local", an http(s) URL or "fixed-delay:<ms>", not "${text}"`);
}

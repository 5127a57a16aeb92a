/**
 * `--analytics`: which PeopleCounter an inference instance uses. `local` (the in-process model),
 * an http(s) URL of the analytics REST service, or `fixed-delay:<ms>` (the stand-in for tests and
 * benchmarks, not a model).
 */

import { ConfigError } from '../core/config.js';
import type { PeopleCounter } from '../core/people-counter.js';
import { createPeopleCounter } from './factory.js';
import { FixedDelayCounter } from './fixed-delay-counter.js';
import type { Precision, Runtime } from './runtime.js';

export type AnalyticsSpec =
  | { kind: 'local' }
  | { kind: 'http'; url: string }
  | { kind: 'fixed-delay'; delayMs: number };

/** The in-process model. */
export const DEFAULT_ANALYTICS_SPEC = 'local';

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

export interface LocalModelOptions {
  workers?: number | undefined;
  queueLimit?: number | undefined;
  runtime?: Runtime | undefined;
  precision?: Precision | undefined;
}

/** The PeopleCounter for a spec: the model in this process, the REST service, or the stand-in. */
export async function createCounterFor(
  spec: AnalyticsSpec,
  apiKey: string | undefined,
  local: LocalModelOptions = {},
): Promise<PeopleCounter> {
  switch (spec.kind) {
    case 'fixed-delay':
      return new FixedDelayCounter(spec.delayMs);
    case 'local':
      return createPeopleCounter({
        kind: 'local',
        ...(local.workers !== undefined ? { workers: local.workers } : {}),
        ...(local.queueLimit !== undefined ? { queueLimit: local.queueLimit } : {}),
        ...(local.runtime !== undefined ? { runtime: local.runtime } : {}),
        ...(local.precision !== undefined ? { precision: local.precision } : {}),
      });
    case 'http':
      return createPeopleCounter({ kind: 'http', url: spec.url, ...(apiKey !== undefined ? { apiKey } : {}) });
  }
}

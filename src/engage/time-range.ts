/** Query parameters of the history endpoints: instants, ranges and bucket sizes. Pure. */

export const bucketNames = ['raw', '1m', '1h', '1d'] as const;
export type Bucket = (typeof bucketNames)[number];
export const BUCKET_SECONDS: Record<Exclude<Bucket, 'raw'>, number> = { '1m': 60, '1h': 3600, '1d': 86_400 };

/** Default range when `from` is missing: the last day. */
export const DEFAULT_RANGE_SECONDS = 86_400;
/** Most buckets one request may ask for; beyond it a coarser bucket is needed. */
export const MAX_BUCKETS = 20_000;

export class RangeError400 extends Error {
  override name = 'RangeError400';
}

/** An ISO 8601 date-time or unix seconds, as unix seconds. */
export function parseInstant(name: string, text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed);
    if (seconds >= 1e11) throw new RangeError400(`${name} looks like milliseconds; use unix seconds or ISO 8601`);
    return seconds;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  throw new RangeError400(`${name} is not a time: "${text}" (use ISO 8601 like 2026-01-31T12:00:00Z, or unix seconds)`);
}

/** The bucket `auto` picks: raw up to an hour, minutes up to two days, hours up to 90 days, then days. */
export function autoBucket(rangeSeconds: number): Bucket {
  if (rangeSeconds <= 3600) return 'raw';
  if (rangeSeconds <= 2 * 86_400) return '1m';
  if (rangeSeconds <= 90 * 86_400) return '1h';
  return '1d';
}

export interface TimeQuery {
  from?: string | undefined;
  to?: string | undefined;
  bucket?: Bucket | 'auto' | undefined;
}

export interface ResolvedRange {
  from: number;
  to: number;
  bucket: Bucket;
}

export function resolveRange(query: TimeQuery, nowSeconds: number): ResolvedRange {
  const to = query.to === undefined ? nowSeconds : parseInstant('to', query.to);
  const from = query.from === undefined ? to - DEFAULT_RANGE_SECONDS : parseInstant('from', query.from);
  if (from >= to) throw new RangeError400('from must be earlier than to');
  const bucket = query.bucket === undefined || query.bucket === 'auto' ? autoBucket(to - from) : query.bucket;
  if (bucket !== 'raw' && (to - from) / BUCKET_SECONDS[bucket] > MAX_BUCKETS) {
    throw new RangeError400(`range holds more than ${MAX_BUCKETS} buckets of ${bucket}; use a coarser bucket`);
  }
  return { from, to, bucket };
}

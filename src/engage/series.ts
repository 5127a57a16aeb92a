/** History series shapes and their pure transforms: a site's totals and their buckets, CSV rendering and naming. */

/** One point of a series: a bucket's aggregates, or one counted photo (avg = min = max = count, n = 1). */
export interface SeriesPoint {
  /** Bucket start or photo time, unix seconds. */
  t: number;
  avg: number;
  min: number;
  max: number;
  /** Counted photos behind this point. */
  n: number;
}

export interface CountSample {
  deviceId: string;
  t: number;
  count: number;
}

/** A site's total after one counted photo. */
export interface SiteTotal {
  t: number;
  total: number;
}

/**
 * A site's occupancy over time from its devices' individual counts: after every counted photo the
 * site holds the sum of each device's latest count. `before` are the devices' last counts before
 * the range, so the series starts from the right level.
 */
export function* siteTotals(before: CountSample[], samples: Iterable<CountSample>): Generator<SiteTotal> {
  const latest = new Map<string, number>();
  let total = 0;
  for (const sample of before) latest.set(sample.deviceId, sample.count);
  for (const count of latest.values()) total += count;
  for (const sample of samples) {
    total += sample.count - (latest.get(sample.deviceId) ?? 0);
    latest.set(sample.deviceId, sample.count);
    yield { t: sample.t, total };
  }
}

/** The site's raw step series: one point per counted photo. */
export function siteStepSeries(before: CountSample[], samples: Iterable<CountSample>): SeriesPoint[] {
  return Array.from(siteTotals(before, samples), ({ t, total }) => ({ t, avg: total, min: total, max: total, n: 1 }));
}

/**
 * Per bucket of `size` seconds, the average, least and greatest of the site's totals in it: the
 * site's real peak, not the sum of its devices' peaks (which need not happen together).
 */
export function bucketTotals(totals: Iterable<SiteTotal>, size: number): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  let current: (SeriesPoint & { sum: number }) | undefined;
  for (const { t, total } of totals) {
    const start = Math.floor(t / size) * size;
    if (current?.t !== start) {
      if (current) points.push(finish(current));
      current = { t: start, avg: 0, min: total, max: total, n: 0, sum: 0 };
    }
    current.sum += total;
    current.n += 1;
    current.min = Math.min(current.min, total);
    current.max = Math.max(current.max, total);
  }
  if (current) points.push(finish(current));
  return points;
}

const finish = ({ sum, ...point }: SeriesPoint & { sum: number }): SeriesPoint => ({ ...point, avg: sum / point.n });

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * `time,unix_seconds,<subject column>,avg,min,max,samples` — one line per point; `zone` adds a
 * `zone` column after the subject (a zone's history).
 */
export function seriesCsv(
  subjectColumn: string,
  subject: string,
  points: SeriesPoint[],
  zone?: { zone: string },
): string {
  const zoneColumns = zone ? ['zone'] : [];
  const lines = [['time', 'unix_seconds', subjectColumn, ...zoneColumns, 'avg', 'min', 'max', 'samples'].join(',')];
  for (const point of points) {
    lines.push(
      [
        new Date(point.t * 1000).toISOString(),
        point.t,
        subject,
        ...(zone ? [zone.zone] : []),
        Math.round(point.avg * 1000) / 1000,
        point.min,
        point.max,
        point.n,
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** `Main-entrance_2026-11-29T10-00Z_2026-11-29T11-00Z.csv`: says what and when, safe as a file name. Pure. */
export function csvFileName(label: string, from: number, to: number): string {
  const stamp = (t: number) => new Date(Math.round(t) * 1000).toISOString().slice(0, 16).replace(':', '-').concat('Z');
  const name = label
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\w.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${name || 'counts'}_${stamp(from)}_${stamp(to)}.csv`;
}

/** History series shapes and their pure transforms: a site's raw step series, CSV rendering. */

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

/**
 * A site's occupancy over time from its devices' individual counts: after every counted photo the
 * site holds the sum of each device's latest count. `before` are the devices' last counts before
 * the range, so the series starts from the right level.
 */
export function siteStepSeries(before: CountSample[], samples: CountSample[]): SeriesPoint[] {
  const latest = new Map<string, number>();
  for (const sample of before) latest.set(sample.deviceId, sample.count);
  const points: SeriesPoint[] = [];
  for (const sample of samples) {
    latest.set(sample.deviceId, sample.count);
    let sum = 0;
    for (const count of latest.values()) sum += count;
    points.push({ t: sample.t, avg: sum, min: sum, max: sum, n: 1 });
  }
  return points;
}

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** `time,unix_seconds,<subject column>,avg,min,max,samples` — one line per point. */
export function seriesCsv(subjectColumn: string, subject: string, points: SeriesPoint[]): string {
  const lines = [['time', 'unix_seconds', subjectColumn, 'avg', 'min', 'max', 'samples'].join(',')];
  for (const point of points) {
    lines.push(
      [
        new Date(point.t * 1000).toISOString(),
        point.t,
        subject,
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

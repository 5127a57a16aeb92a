// @ts-check
// The history chart (uPlot): a camera's or a site's counts over a chosen range.
// A subject is typed, { kind: 'device' | 'site', id }: a device ID may look like anything.
// @ts-expect-error -- web-assets.ts serves node_modules/uplot here; the type comes from the package below.
import uPlotModule from '/vendor/uplot/uPlot.esm.js';
import { api, withToken } from './api.js';
import { byId, messageOf } from './dom.js';

/** @type {typeof import('uplot')} */
const uPlot = uPlotModule;

/**
 * @typedef {{ kind: 'device' | 'site', id: string }} Subject
 * @typedef {{ seconds: number, from?: undefined, to?: undefined } | { from: number, to: number, seconds?: undefined }} Range
 * @typedef {import('../api.js').CountSeries} CountSeries
 */

const HEIGHT = 280;
const SHORTEST = 3600;
const LONGEST = 604800;
/** The preset ranges, smallest first: without a choice the chart shows the smallest that holds the data. */
export const RANGES = [SHORTEST, 86400, LONGEST];
/** Shown while no camera or site has a count to choose. */
const NOTHING_COUNTED =
  'No counts yet. Count a photo under "Try it: count a photo", or point a camera at the ingest service: its counts appear here.';
/** @param {string} name */
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** @param {Subject | null | undefined} subject */
export const subjectKey = (subject) => (subject ? `${subject.kind}\u0000${subject.id}` : '');
/**
 * @param {Subject | null | undefined} a
 * @param {Subject | null | undefined} b
 */
export const sameSubject = (a, b) => subjectKey(a) === subjectKey(b);

export class HistoryChart {
  /**
   * `onRange(range)` is told the range shown, so the range buttons can follow.
   * @param {{ onRange: (range: Range) => void, label: (subject: Subject) => string }} options
   */
  constructor({ onRange, label }) {
    this.container = byId('history-chart');
    /** @type {Subject | null} */
    this.subject = null;
    /** @type {Range} `auto` until the user picks one. */
    this.range = { seconds: SHORTEST };
    this.auto = true;
    this.onRange = onRange;
    this.label = label;
    /** @type {import('uplot') | null} */
    this.plot = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.pending = null;
    byId('history-csv').addEventListener('click', () => {
      const path = this.path();
      if (path) location.href = withToken(`${path}.csv?${this.query()}`);
    });
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT })).observe(this.container);
  }

  width() {
    return Math.max(240, this.container.clientWidth);
  }

  path() {
    if (!this.subject) return null;
    const base = this.subject.kind === 'site' ? '/api/sites/' : '/api/devices/';
    return `${base}${encodeURIComponent(this.subject.id)}/counts`;
  }

  /** The range in whole seconds: an hour is exactly 3600 s, so the server answers with raw points. */
  bounds() {
    const range = this.range;
    const to = Math.ceil(range.to ?? Date.now() / 1000);
    const from = Math.floor(range.seconds === undefined ? range.from : to - range.seconds);
    return { from, to };
  }

  query() {
    const { from, to } = this.bounds();
    return `from=${from}&to=${to}`;
  }

  /**
   * Shows `subject`; a `range` is the user's choice and stays until the next choice.
   * @param {Subject | null} subject
   * @param {Range} [range]
   */
  show(subject, range) {
    if (!sameSubject(subject, this.subject) && this.auto) this.range = { seconds: SHORTEST };
    this.subject = subject;
    if (range) {
      this.range = range;
      this.auto = false;
    }
    return this.load();
  }

  /** Reloads soon, at most once per second (called on live events). */
  refreshSoon() {
    if (this.pending || this.range.to !== undefined) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.load();
    }, 1000);
  }

  async load() {
    const path = this.path();
    const note = byId('history-note');
    if (!path) {
      this.plot?.destroy();
      this.plot = null;
      note.textContent = '';
      this.showEmpty(NOTHING_COUNTED);
      return;
    }
    /** @type {CountSeries} */
    let series;
    try {
      series = /** @type {CountSeries} */ (await api(`${path}?${this.query()}`));
      const firstAt = series.firstAt;
      if (this.auto && firstAt !== null) {
        const { to } = this.bounds();
        const fitting = RANGES.find((seconds) => to - seconds <= firstAt) ?? LONGEST;
        if (fitting !== this.range.seconds) {
          this.range = { seconds: fitting };
          series = /** @type {CountSeries} */ (await api(`${path}?${this.query()}`));
        }
      }
    } catch (error) {
      note.textContent = `Could not load history: ${messageOf(error)}`;
      return;
    }
    const subject = /** @type {Subject} */ (this.subject);
    this.onRange(this.range);
    const points = series.points;
    const raw = series.bucket === 'raw';
    this.showEmpty(
      points.length > 0
        ? null
        : series.firstAt === null
          ? `No counts yet for ${this.label(subject)}. They appear here as its photos are counted: upload one under "Try it: count a photo".`
          : `No counts for ${this.label(subject)} in this range. Choose a longer range.`,
    );
    /** @type {import('uplot').AlignedData} */
    const data = raw
      ? [points.map((p) => p.t), points.map((p) => p.avg)]
      : [points.map((p) => p.t), points.map((p) => p.max), points.map((p) => p.avg), points.map((p) => p.min)];
    note.textContent = `${points.length} ${raw ? 'counted photos' : `buckets of ${series.bucket} (line: average, band: min–max)`}${series.truncated ? ' — truncated, choose a shorter range' : ''}`;
    note.dataset.bucket = series.bucket;
    this.plot?.destroy();
    this.plot = new uPlot(this.options(raw), data, this.container);
  }

  /**
   * The message over the chart when it has nothing to show; null hides it.
   * @param {string | null} message
   */
  showEmpty(message) {
    const empty = byId('history-empty');
    empty.hidden = message === null;
    empty.textContent = message ?? '';
  }

  /**
   * @param {boolean} raw
   * @returns {import('uplot').Options}
   */
  options(raw) {
    const accent = css('--accent') || '#4f46e5';
    const band = css('--accent-soft') || 'rgba(79,70,229,0.15)';
    const grid = { stroke: css('--grid') || '#e5e7eb', width: 1 };
    const axis = { stroke: css('--muted') || '#6b7280', grid, ticks: grid };
    const { from, to } = this.bounds();
    const series = raw
      ? [
          {},
          {
            label: 'People',
            stroke: accent,
            width: 2,
            fill: band,
            paths: uPlot.paths.stepped?.({ align: 1 }),
            points: { show: true, size: 5, fill: accent },
          },
        ]
      : [
          {},
          { label: 'Max', stroke: 'transparent', points: { show: false } },
          { label: 'Average', stroke: accent, width: 2, fill: band },
          { label: 'Min', stroke: 'transparent', points: { show: false } },
        ];
    return {
      width: this.width(),
      height: HEIGHT,
      series,
      bands: raw ? [] : [{ series: [1, 3], fill: band }],
      scales: {
        x: { time: true, range: [from, to] },
        y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
      },
      axes: [axis, { ...axis, size: 40 }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      hooks: {
        // Drag across the chart to zoom into that range.
        setSelect: [
          (u) => {
            if (u.select.width < 5) return;
            const start = u.posToVal(u.select.left, 'x');
            const end = u.posToVal(u.select.left + u.select.width, 'x');
            this.show(this.subject, { from: start, to: end });
          },
        ],
      },
    };
  }
}

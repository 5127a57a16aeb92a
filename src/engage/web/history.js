// The history chart (uPlot): a camera's or a site's counts over a chosen range.
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api, withToken } from './api.js';
import { byId } from './dom.js';

const HEIGHT = 280;
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class HistoryChart {
  constructor() {
    this.container = byId('history-chart');
    this.subject = null; // 'device-id' or 'site:name'
    this.range = { seconds: 86400 };
    this.plot = null;
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
    return this.subject.startsWith('site:')
      ? `/api/sites/${encodeURIComponent(this.subject.slice(5))}/counts`
      : `/api/devices/${encodeURIComponent(this.subject)}/counts`;
  }

  query() {
    const to = this.range.to ?? Date.now() / 1000;
    const from = this.range.from ?? to - this.range.seconds;
    return `from=${Math.floor(from)}&to=${Math.ceil(to)}`;
  }

  show(subject, range = this.range) {
    this.subject = subject;
    this.range = range;
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
    if (!path) return;
    let series;
    try {
      series = await api(`${path}?${this.query()}`);
    } catch (error) {
      note.textContent = `Could not load history: ${error.message}`;
      return;
    }
    const points = series.points;
    const raw = series.bucket === 'raw';
    const data = raw
      ? [points.map((p) => p.t), points.map((p) => p.avg)]
      : [points.map((p) => p.t), points.map((p) => p.max), points.map((p) => p.avg), points.map((p) => p.min)];
    note.textContent = `${points.length} ${raw ? 'counted photos' : `buckets of ${series.bucket} (line: average, band: min–max)`}${series.truncated ? ' — truncated, choose a shorter range' : ''}`;
    this.plot?.destroy();
    this.plot = new uPlot(this.options(raw), data, this.container);
  }

  options(raw) {
    const accent = css('--accent') || '#4f46e5';
    const band = css('--accent-soft') || 'rgba(79,70,229,0.15)';
    const grid = { stroke: css('--grid') || '#e5e7eb', width: 1 };
    const axis = { stroke: css('--muted') || '#6b7280', grid, ticks: grid };
    const to = this.range.to ?? Date.now() / 1000;
    const from = this.range.from ?? to - this.range.seconds;
    const series = raw
      ? [{}, { label: 'People', stroke: accent, width: 2, fill: band, paths: uPlot.paths.stepped({ align: 1 }) }]
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
            document.dispatchEvent(new CustomEvent('history-range', { detail: { from: start, to: end } }));
          },
        ],
      },
    };
  }
}

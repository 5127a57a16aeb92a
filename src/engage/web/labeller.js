// @ts-check
// The tuning dialog's photo (docs/engage.md#tuning-a-camera): marks on people's heads, prefilled from the
// model's detections, zoom and pan, and undo. Marks are kept in image pixels; the view only transforms them.
import { h } from './dom.js';

/**
 * @typedef {import('../../core/messages.js').Detection} Detection
 * @typedef {import('../../core/tuning.js').TuningCandidate} TuningCandidate
 * @typedef {[number, number]} Mark
 * @typedef {{ kind: 'add' | 'remove', mark: Mark, index: number }} Edit one undoable change of the marks
 * @typedef {{ scale: number, x: number, y: number }} View zoom, and the pan in stage pixels
 * @typedef {{
 *   marks: Mark[],
 *   history: Edit[],
 *   suggested: boolean,
 *   view: View,
 * }} MarkState a frame's marks as being edited: `suggested` while they are the model's, untouched
 */

export const MAX_ZOOM = 4;
/** How near (screen pixels) a Shift-click or right-click must be to a mark to remove it. */
const HIT_RADIUS = 12;
/** A press that moves farther than this (screen pixels) pans instead of adding a mark. */
const DRAG_SLOP = 4;

/** Where in a box a head is expected: this share of its height below the top (as the marks-based fit expects). */
const HEAD_DEPTH = 0.1;

/**
 * The model's suggestion: a mark on the head of every candidate the default counter counts.
 * @param {readonly TuningCandidate[]} candidates
 * @returns {Mark[]}
 */
export function suggestedMarks(candidates) {
  return candidates
    .filter((c) => c.counted === true)
    .map(({ box: [x1, y1, x2, y2] }) => [Math.round((x1 + x2) / 2), Math.round(y1 + HEAD_DEPTH * (y2 - y1))]);
}

/** @returns {MarkState} */
export const markState = (/** @type {Mark[]} */ marks) => ({
  marks,
  history: [],
  suggested: false,
  view: { scale: 1, x: 0, y: 0 },
});

/**
 * @param {MarkState} state
 * @param {Edit} edit
 */
function apply(state, edit) {
  if (edit.kind === 'add') state.marks.splice(edit.index, 0, edit.mark);
  else state.marks.splice(edit.index, 1);
  state.history.push(edit);
  state.suggested = false;
}

/** @param {MarkState} state @param {Mark} mark */
export const addMark = (state, mark) => apply(state, { kind: 'add', mark, index: state.marks.length });

/** @param {MarkState} state @param {number} index */
export function removeMark(state, index) {
  const mark = state.marks[index];
  if (mark) apply(state, { kind: 'remove', mark, index });
}

/**
 * Undoes the last add or remove; false when there is nothing to undo.
 * @param {MarkState} state
 * @param {boolean} prefilled whether the marks started as the model's suggestion (they are again once every edit is undone)
 */
export function undo(state, prefilled) {
  const edit = state.history.pop();
  if (!edit) return false;
  if (edit.kind === 'add') state.marks.splice(edit.index, 1);
  else state.marks.splice(edit.index, 0, edit.mark);
  state.suggested = prefilled && state.history.length === 0;
  return true;
}

/**
 * The photo with its candidate boxes and marks. A click adds a mark (also on a mark); Shift-click or
 * right-click removes the mark under the pointer; the wheel (or a pinch) zooms about the pointer, a drag
 * pans while zoomed. `changed` is called after every edit of the marks.
 * @param {{
 *   state: MarkState,
 *   src: string,
 *   candidates: readonly Detection[],
 *   changed: () => void,
 *   loaded: () => void,
 * }} options
 */
export function markStage({ state, src, candidates, changed, loaded }) {
  const image = h('img', { src, alt: 'tuning frame', draggable: 'false' });
  const canvas = h('div', { class: 'tuning-canvas' }, image);
  const stage = h('div', { class: 'tuning-stage', id: 'tuning-stage' }, canvas);
  const zoomLabel = h('output', { id: 'tuning-zoom', 'aria-live': 'polite' }, '100%');

  const draw = () => {
    for (const old of canvas.querySelectorAll('.box, .mark')) old.remove();
    const w = image.naturalWidth || 1;
    const ht = image.naturalHeight || 1;
    for (const c of candidates) {
      const [x1, y1, x2, y2] = c.box;
      canvas.append(
        h('span', {
          class: 'box',
          title: `score ${c.score.toFixed(2)}`,
          style: `left:${(100 * x1) / w}%;top:${(100 * y1) / ht}%;width:${(100 * (x2 - x1)) / w}%;height:${(100 * (y2 - y1)) / ht}%;opacity:${Math.min(1, 0.3 + c.score)}`,
        }),
      );
    }
    for (const [x, y] of state.marks)
      canvas.append(
        h('span', {
          class: state.suggested ? 'mark suggested' : 'mark',
          dataset: { x, y },
          style: `left:${(100 * x) / w}%;top:${(100 * y) / ht}%`,
        }),
      );
  };

  const place = () => {
    const { scale, x, y } = state.view;
    canvas.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    canvas.style.setProperty('--zoom', String(scale));
    stage.classList.toggle('zoomed', scale > 1);
    zoomLabel.textContent = `${Math.round(scale * 100)}%`;
  };

  /**
   * Zooms to `scale` keeping the stage point (px, py) where it is (default: the centre); the photo always fills the stage.
   * @param {number} scale
   * @param {number} [px]
   * @param {number} [py]
   */
  const zoomTo = (scale, px = stage.clientWidth / 2, py = stage.clientHeight / 2) => {
    const view = state.view;
    const next = Math.min(MAX_ZOOM, Math.max(1, scale));
    view.x = px - (next * (px - view.x)) / view.scale;
    view.y = py - (next * (py - view.y)) / view.scale;
    view.scale = next;
    pan(0, 0);
  };

  /** @param {number} dx @param {number} dy */
  const pan = (dx, dy) => {
    const view = state.view;
    const clamp = (/** @type {number} */ v, /** @type {number} */ size) =>
      Math.min(0, Math.max(size * (1 - view.scale), v));
    view.x = clamp(view.x + dx, stage.clientWidth);
    view.y = clamp(view.y + dy, stage.clientHeight);
    place();
  };

  /** The image pixel under a pointer. @param {MouseEvent} event @returns {Mark} */
  const imagePoint = (event) => {
    const rect = image.getBoundingClientRect();
    return [
      Math.round(((event.clientX - rect.left) / rect.width) * image.naturalWidth),
      Math.round(((event.clientY - rect.top) / rect.height) * image.naturalHeight),
    ];
  };

  /** The index of the mark within HIT_RADIUS screen pixels of a pointer, nearest first; -1 when none. @param {MouseEvent} event */
  const markAt = (event) => {
    const rect = image.getBoundingClientRect();
    const sx = rect.width / (image.naturalWidth || 1);
    const sy = rect.height / (image.naturalHeight || 1);
    let best = -1;
    let nearest = HIT_RADIUS;
    state.marks.forEach(([x, y], i) => {
      const d = Math.hypot(rect.left + x * sx - event.clientX, rect.top + y * sy - event.clientY);
      if (d <= nearest) {
        nearest = d;
        best = i;
      }
    });
    return best;
  };

  const edited = () => {
    draw();
    changed();
  };

  /** @type {{ x: number, y: number, moved: boolean } | undefined} */
  let press;
  let dragged = false;
  stage.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    press = { x: event.clientX, y: event.clientY, moved: false };
    dragged = false;
  });
  stage.addEventListener('pointermove', (event) => {
    if (!press || !(event.buttons & 1) || state.view.scale <= 1) return;
    const dx = event.clientX - press.x;
    const dy = event.clientY - press.y;
    if (!press.moved && Math.hypot(dx, dy) < DRAG_SLOP) return;
    if (!press.moved) stage.setPointerCapture(event.pointerId);
    press.moved = true;
    press.x = event.clientX;
    press.y = event.clientY;
    pan(dx, dy);
  });
  stage.addEventListener('pointerup', () => {
    dragged = press?.moved ?? false;
    press = undefined;
  });
  stage.addEventListener('click', (event) => {
    if (dragged) {
      dragged = false;
      return;
    }
    if (event.shiftKey) {
      const index = markAt(event);
      if (index >= 0) removeMark(state, index);
      else return;
    } else addMark(state, imagePoint(event));
    edited();
  });
  stage.addEventListener('contextmenu', (event) => {
    event.preventDefault();
    const index = markAt(event);
    if (index < 0) return;
    removeMark(state, index);
    edited();
  });
  stage.addEventListener(
    'wheel',
    (event) => {
      // A pinch on a touchpad arrives as a wheel with ctrlKey and small deltas.
      const scale = state.view.scale * Math.exp(-event.deltaY * (event.ctrlKey ? 0.01 : 0.002));
      // Scrolling down over the photo at 1× (or up at 4×) changes nothing here: the dialog scrolls instead.
      if (!event.ctrlKey && Math.min(MAX_ZOOM, Math.max(1, scale)) === state.view.scale) return;
      event.preventDefault();
      const rect = stage.getBoundingClientRect();
      zoomTo(scale, event.clientX - rect.left, event.clientY - rect.top);
    },
    { passive: false },
  );
  image.addEventListener('load', () => {
    loaded();
    draw();
    pan(0, 0);
  });
  place();

  const zoomButton = (/** @type {string} */ label, /** @type {string} */ text, /** @type {() => void} */ onclick) =>
    h('button', { type: 'button', class: 'ghost', title: label, 'aria-label': label, onclick }, text);
  const zoomIn = () => zoomTo(state.view.scale * 1.5);
  const zoomOut = () => zoomTo(state.view.scale / 1.5);
  const resetZoom = () => zoomTo(1);
  const tools = h(
    'span',
    { class: 'tuning-zoom' },
    zoomButton('Zoom out (−)', '−', zoomOut),
    zoomLabel,
    zoomButton('Zoom in (+)', '+', zoomIn),
    zoomButton('Reset zoom (0)', 'Reset', resetZoom),
  );
  return { stage, tools, draw, zoomIn, zoomOut, resetZoom };
}

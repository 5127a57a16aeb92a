// @ts-check
// "Tune counting": per camera, the latest heat map, the tuned badge or the crowd-view hint, and the dialog that collects,
// labels, fits and applies a profile over /api/tuning (docs/engage.md#tuning-a-camera).
import { api, withToken } from './api.js';
import { cameraLabel } from './cameras.js';
import { byId, h, messageOf } from './dom.js';
import { heatThumbnail } from './heat-map.js';
import { markStage, markState, removeMark, suggestedMarks, undo } from './labeller.js';

/**
 * @typedef {import('../events.js').DeviceTuningStatus} DeviceTuningStatus
 * @typedef {import('../events.js').SessionView} SessionView
 * @typedef {import('../tuning/sessions.js').FrameView} FrameView
 * @typedef {import('../tuning/sessions.js').FitState} FitState
 * @typedef {DeviceTuningStatus & { session: SessionView | null }} TuningEvent
 * @typedef {{ retentionSeconds: number, devices: DeviceTuningStatus[] }} TuningOverview
 * @typedef {import('./labeller.js').MarkState} MarkState
 * @typedef {{
 *   deviceId: string,
 *   session: SessionView | null,
 *   index: number,
 *   labels: MarkState,
 *   prefilled: boolean,
 *   key?: string,
 *   count?: number | null,
 * }} OpenTuning the camera whose tuning dialog is open, and the frame being labelled: its marks (`prefilled`
 * when they started as the model's suggestion) and count
 * @typedef {OpenTuning & { session: SessionView }} OpenSession
 */

/** @type {Map<string, DeviceTuningStatus>} */
const status = new Map();
let available = false;
let retentionHours = 24;
/** @type {OpenTuning | undefined} */
let open;
/** @type {ReturnType<typeof markStage> | undefined} the photo being labelled: its zoom, for the keys */
let stage;

/** @param {string} deviceId */
const slotOf = (deviceId) => document.querySelector(`[data-tuning="${CSS.escape(deviceId)}"]`);

/**
 * The open tuning with its session: the actions that need one are only offered with a session.
 * @returns {OpenSession}
 */
function openSession() {
  if (!open?.session) throw new Error('no tuning session is open');
  return /** @type {OpenSession} */ (open);
}

/**
 * @param {string} path
 * @param {{ method?: string, body?: unknown, contentType?: string }} [request]
 */
const sessionApi = async (path, request) => /** @type {SessionView} */ (await api(path, request));

/**
 * The tile's tuning status (heat map, tuned badge, crowd-view hint); re-rendered in place when the camera's
 * tuning status changes. Empty, and not shown, while there is nothing to say.
 * @param {string} deviceId
 */
export function tuningStatus(deviceId) {
  const slot = h('span', { class: 'tuning-slot', dataset: { tuning: deviceId } });
  fill(slot, deviceId);
  return slot;
}

/**
 * @param {Element} slot
 * @param {string} deviceId
 */
function fill(slot, deviceId) {
  if (!available) return slot.replaceChildren();
  const state = status.get(deviceId);
  const tuned = state?.profile?.tuning;
  const crowd = !tuned && state?.hints?.includes('crowd-view');
  // replaceChildren would show a null as the text "null": only the parts that apply.
  const parts = [
    state?.heatMap ? heatThumbnail(state.heatMap, cameraLabel(deviceId)) : null,
    tuned
      ? h(
          'span',
          {
            class: 'tuned-badge',
            title: `was ${tuned.maeBefore?.toFixed(1) ?? '?'} people per frame off on ${tuned.frames} labelled frames`,
          },
          `tuned · ±${tuned.maeAfter.toFixed(1)}`,
        )
      : null,
    crowd
      ? h(
          'button',
          { type: 'button', class: 'link warn crowd-hint', onclick: () => openTuning(deviceId) },
          'counts may be low — tune this camera',
        )
      : null,
  ];
  slot.replaceChildren(...parts.filter((part) => part !== null));
}

/**
 * The tile's action that opens the tuning dialog; none where this engage has no tuning storage.
 * @param {string} deviceId
 * @param {string} label the camera's name as the tile shows it
 */
export function tuneButton(deviceId, label) {
  if (!available) return null;
  return h(
    'button',
    {
      type: 'button',
      class: 'link',
      dataset: { action: 'tune' },
      title: 'Tune counting',
      'aria-label': `Tune counting of ${label}`,
      onclick: () => openTuning(deviceId),
    },
    'Tune',
  );
}

export async function startTuning() {
  try {
    const answer = /** @type {TuningOverview} */ (await api('/api/tuning'));
    available = true;
    retentionHours = answer.retentionSeconds / 3600;
    for (const device of answer.devices) status.set(device.deviceId, device);
    for (const slot of document.querySelectorAll('[data-tuning]')) {
      if (slot instanceof HTMLElement) fill(slot, slot.dataset.tuning ?? '');
    }
  } catch {
    available = false; // this engage has no tuning storage
  }
  byId('tuning-close').addEventListener('click', () => byId('tuning-dialog', HTMLDialogElement).close());
  document.addEventListener('keydown', onKey);
}

/**
 * A `tuning` live event: the camera's status and its session.
 * @param {TuningEvent} event
 */
export function onTuningEvent(event) {
  status.set(event.deviceId, event);
  const slot = slotOf(event.deviceId);
  if (slot) fill(slot, event.deviceId);
  if (open?.deviceId === event.deviceId) {
    open.session = event.session;
    render();
  }
}

/** @param {string} deviceId */
async function openTuning(deviceId) {
  const state = status.get(deviceId);
  open = { deviceId, session: null, index: 0, labels: markState([]), prefilled: false };
  if (state?.sessionId) open.session = await sessionApi(`/api/tuning/sessions/${state.sessionId}`);
  render();
  byId('tuning-dialog', HTMLDialogElement).showModal();
}

/** @param {string} text */
const say = (text) => {
  byId('tuning-status').textContent = text;
};

/** @param {() => Promise<unknown>} call */
async function act(call) {
  try {
    say('');
    await call();
  } catch (error) {
    say(messageOf(error));
  }
}

function render() {
  if (!open) return;
  byId('tuning-title').textContent = `Tune counting · ${cameraLabel(open.deviceId)}`;
  const body = byId('tuning-body');
  const { session } = open;
  const state = status.get(open.deviceId);
  if (!session) {
    const input = h('input', {
      type: 'number',
      min: 0,
      max: 50,
      value: 12,
      id: 'tuning-frames',
      'aria-label': 'photos to keep',
    });
    body.replaceChildren(
      h(
        'p',
        {},
        'Keep the next ',
        input,
        ' photos of this camera (at most 50) to label them, or add photos by upload once started.',
      ),
      h(
        'p',
        { class: 'muted small', id: 'tuning-retention' },
        `The photos are kept in storage, apart from the photos that are deleted after counting, for ${retentionHours} h at most; they are deleted when the tuning is applied or cancelled.`,
      ),
      h(
        'div',
        { class: 'dialog-buttons' },
        state?.profile
          ? h(
              'button',
              { type: 'button', class: 'ghost', onclick: () => act(revert) },
              'Revert to the previous profile',
            )
          : null,
        h(
          'button',
          { type: 'button', id: 'tuning-start', onclick: () => act(() => startSession(Number(input.value))) },
          'Start collecting',
        ),
      ),
    );
    return;
  }
  const frames = session.frames;
  const camera = frames.filter((f) => f.source === 'camera').length;
  const labelled = frames.filter((f) => f.count !== null && !f.problem).length;
  const frame = frames[Math.min(open.index, frames.length - 1)];
  const fit = session.fit;
  body.replaceChildren(
    h(
      'p',
      { id: 'tuning-progress' },
      session.collecting ? `Collecting: ${camera} of ${session.target} photos. ` : `${frames.length} photos. `,
      h('strong', { id: 'tuning-labelled' }, `${labelled} of ${frames.length} labelled`),
    ),
    h(
      'p',
      { class: 'muted small' },
      `Kept until ${new Date(session.expiresAt * 1000).toLocaleString()} unless applied or cancelled. Click each person's head to mark them (marking every frame fits far better than typing counts); the model's detections start as dashed marks to correct. Shift-click or right-click removes a mark. Keys: ← → frame, type the count, Enter saves, Backspace removes the last mark, Ctrl+Z undoes, + − 0 zoom (drag to pan).`,
    ),
    h(
      'label',
      { class: 'small' },
      'Add photos ',
      h('input', {
        type: 'file',
        accept: 'image/jpeg',
        multiple: true,
        onchange: (/** @type {Event & { target: HTMLInputElement }} */ event) =>
          act(() => upload(event.target.files ?? [])),
      }),
    ),
    frame ? labeller(frame, frames.length) : h('p', { class: 'muted' }, 'Waiting for the camera’s next photo…'),
    fitPanel(fit, labelled),
    h(
      'div',
      { class: 'dialog-buttons' },
      h(
        'button',
        { type: 'button', class: 'ghost', id: 'tuning-cancel', onclick: () => act(cancelSession) },
        'Cancel tuning',
      ),
      fit?.state === 'done'
        ? h('button', { type: 'button', id: 'tuning-apply', onclick: () => act(apply) }, 'Apply')
        : null,
    ),
  );
}

/**
 * @param {FrameView} frame
 * @param {number} total
 */
function labeller(frame, total) {
  const open = openSession();
  const key = frame.key;
  if (open.key !== key) {
    open.key = key;
    open.labels = markState(frame.marks ? [...frame.marks] : []);
    open.prefilled = false;
    open.count = frame.count;
  }
  const labels = open.labels;
  const undoButton = h(
    'button',
    {
      type: 'button',
      class: 'ghost',
      id: 'tuning-undo',
      title: 'Undo the last added or removed mark (Ctrl+Z)',
      onclick: () => {
        if (undo(labels, open.prefilled)) marked();
      },
    },
    'Undo',
  );
  const accept = h('button', { type: 'button', id: 'tuning-accept', onclick: () => act(saveLabel) }, 'Looks right');
  const note = h('p', { class: 'small', id: 'tuning-suggested', 'aria-live': 'polite' });
  const count = h('input', {
    type: 'number',
    min: 0,
    max: 10000,
    step: 1,
    id: 'tuning-count',
    value: open.count ?? '',
    'aria-label': 'people in this frame',
    oninput: (/** @type {Event & { target: HTMLInputElement }} */ event) => {
      open.count = event.target.value === '' ? null : Number(event.target.value);
    },
  });
  /** The controls that follow the marks: undo, "Looks right" while they are the model's, the note. */
  const sync = () => {
    undoButton.disabled = labels.history.length === 0;
    accept.hidden = !labels.suggested;
    note.textContent = labels.suggested
      ? `${labels.marks.length} suggested by the model (dashed): add the people it missed, remove the wrong ones, or accept them.`
      : '';
  };
  /** After an edit of the marks: the count follows them. */
  const marked = () => {
    setCount(labels.marks.length);
    stage?.draw();
    sync();
  };
  stage = markStage({
    state: labels,
    src: withToken(`/api/tuning/sessions/${open.session.id}/frames/${encodeURIComponent(key)}/image`),
    candidates: frame.candidates ?? [],
    changed: marked,
    loaded: () => {
      // An unlabelled frame starts from the model's detections (once it has looked at the frame): the
      // user corrects them rather than starting from zero. Checked on load: an earlier render's photo may have prefilled.
      const untouched = !open.prefilled && labels.history.length === 0 && labels.marks.length === 0;
      if (untouched && frame.count === null && frame.candidates && open.labels === labels) {
        labels.marks = suggestedMarks(frame.candidates);
        labels.suggested = true;
        open.prefilled = true;
        if (open.count === null || open.count === undefined) setCount(labels.marks.length);
      }
      sync();
    },
  });
  sync();
  const index = open.session.frames.findIndex((f) => f.key === key);
  return h(
    'div',
    { class: 'tuning-labeller' },
    h(
      'p',
      {},
      `Frame ${index + 1} of ${total}`,
      frame.problem
        ? h('span', { class: 'warn' }, ` — ${frame.problem}`)
        : frame.count !== null
          ? ` — labelled ${frame.count}`
          : '',
    ),
    h('div', { class: 'tuning-row' }, stage.tools, undoButton),
    stage.stage,
    note,
    h(
      'div',
      { class: 'tuning-row' },
      h('button', { type: 'button', class: 'ghost', 'aria-label': 'previous frame', onclick: () => move(-1) }, '←'),
      h('label', {}, 'People ', count),
      accept,
      h('button', { type: 'button', id: 'tuning-save', onclick: () => act(saveLabel) }, 'Save & next'),
      h('button', { type: 'button', class: 'ghost', 'aria-label': 'next frame', onclick: () => move(1) }, '→'),
    ),
  );
}

/**
 * @param {FitState | null} fit
 * @param {number} labelled
 */
function fitPanel(fit, labelled) {
  const running = fit?.state === 'running';
  return h(
    'div',
    { class: 'tuning-fit', id: 'tuning-fit' },
    running
      ? h(
          'p',
          {},
          h('progress', { max: fit.total || 1, value: fit.done }),
          ` fitting… ${fit.done} of ${fit.total} model runs `,
          h('button', { type: 'button', class: 'ghost', onclick: () => act(cancelFit) }, 'Cancel fit'),
        )
      : h(
          'button',
          { type: 'button', id: 'tuning-fit-button', disabled: labelled < 4, onclick: () => act(startFit) },
          labelled < 4 ? `Fit (needs ${4 - labelled} more labelled)` : 'Fit',
        ),
    fit?.state === 'done' && fit.result
      ? h(
          'p',
          { id: 'tuning-result' },
          `Error per frame, cross-validated on ${fit.result.frames} frames: now ${fit.result.maeBefore?.toFixed(1) ?? '?'}, tuned ${fit.result.maeAfter.toFixed(1)} people (${fittedFrom(fit.result)}).${costOf(fit.result)}`,
        )
      : null,
    fit && fit.state !== 'running' && fit.message && fit.state !== 'done'
      ? h('p', { class: 'warn' }, fit.message)
      : null,
  );
}

/**
 * @param {{ counter?: string, method?: string, profile: { density?: { scale: number } } }} result
 */
function fittedFrom({ counter, method, profile }) {
  if (counter === 'density')
    return `the crowd-density count scaled ×${profile.density?.scale ?? 1}, fitted on the counts`;
  return method === 'counts' ? 'fitted on counts: some frames have no marks' : 'fitted on the marked people';
}

/**
 * What the tuned profile costs each photo of this camera: a finer tiling counts small people better
 * and runs the model more often.
 * @param {{ counter?: string, passes?: number, tiling?: string, wholeFrame?: boolean }} result
 */
function costOf({ counter, passes, tiling, wholeFrame }) {
  if (passes === undefined) return '';
  if (counter === 'density')
    return ` It runs ${passes === 1 ? 'the density network once' : 'the whole frame, then the density network'} per photo.`;
  if (passes === 1) return ' It runs the model once per photo (the whole frame).';
  return ` It runs the model ${passes} times per photo (tiles ${tiling}${wholeFrame ? ' and the whole frame' : ''}).`;
}

/** @param {number} n */
function setCount(n) {
  if (open) open.count = n;
  const input = document.getElementById('tuning-count');
  if (input instanceof HTMLInputElement) input.value = String(n);
}

/** @param {number} step */
function move(step) {
  if (!open) return;
  const n = open.session?.frames.length ?? 0;
  if (n === 0) return;
  open.index = (Math.min(open.index, n - 1) + step + n) % n;
  render();
}

async function saveLabel() {
  const open = openSession();
  const frame = open.session.frames[Math.min(open.index, open.session.frames.length - 1)];
  if (!frame) return;
  if (open.count === null || open.count === undefined || Number.isNaN(open.count))
    return say('type the number of people first');
  const body = {
    count: open.count,
    ...(open.labels.marks.length === open.count && open.count > 0 ? { marks: open.labels.marks } : {}),
  };
  await api(`/api/tuning/sessions/${open.session.id}/frames/${encodeURIComponent(frame.key)}/label`, {
    method: 'PUT',
    body,
  });
  const next = open.session.frames.findIndex((f, i) => i > open.index && f.count === null);
  open.session = await sessionApi(`/api/tuning/sessions/${open.session.id}`);
  if (next >= 0) open.index = next;
  render();
}

/** @param {number} frames */
async function startSession(frames) {
  if (!open) return;
  open.session = await sessionApi('/api/tuning/sessions', {
    method: 'POST',
    body: { deviceId: open.deviceId, frames },
  });
  render();
}

/** @param {Iterable<File>} files */
async function upload(files) {
  const open = openSession();
  for (const file of files)
    await api(`/api/tuning/sessions/${open.session.id}/frames`, {
      method: 'POST',
      body: file,
      contentType: 'image/jpeg',
    });
  open.session = await sessionApi(`/api/tuning/sessions/${open.session.id}`);
  render();
}

const startFit = async () => {
  const open = openSession();
  open.session = await sessionApi(`/api/tuning/sessions/${open.session.id}/fit`, { method: 'POST' });
  render();
};
const cancelFit = async () => {
  const open = openSession();
  open.session = await sessionApi(`/api/tuning/sessions/${open.session.id}/fit`, { method: 'DELETE' });
  render();
};

async function apply() {
  const revision = await api(`/api/tuning/sessions/${openSession().session.id}/apply`, { method: 'POST' });
  byId('tuning-dialog', HTMLDialogElement).close();
  open = undefined;
  return revision;
}

async function cancelSession() {
  const current = openSession();
  await api(`/api/tuning/sessions/${current.session.id}`, { method: 'DELETE' });
  /** @type {OpenTuning} */
  const closed = current;
  closed.session = null;
  render();
}

async function revert() {
  if (!open) return;
  await api(`/api/devices/${encodeURIComponent(open.deviceId)}/profile/revert`, { method: 'POST' });
  say('The previous profile is back.');
}

/** @param {KeyboardEvent} event */
function onKey(event) {
  if (!open?.session || !byId('tuning-dialog', HTMLDialogElement).open) return;
  const typing = event.target instanceof HTMLInputElement && event.target.type !== 'number';
  if (typing) return;
  if (event.key === 'ArrowRight') move(1);
  else if (event.key === 'ArrowLeft') move(-1);
  else if (event.key === 'Enter' && !(event.target instanceof HTMLButtonElement)) {
    event.preventDefault();
    act(saveLabel);
  } else if (event.target instanceof HTMLInputElement) {
    // the count field keeps its own keys
  } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'z') {
    event.preventDefault();
    document.getElementById('tuning-undo')?.click();
  } else if (event.key === 'Backspace') {
    removeMark(open.labels, open.labels.marks.length - 1);
    setCount(open.labels.marks.length);
    render();
  } else if (event.key === '+' || event.key === '=') stage?.zoomIn();
  else if (event.key === '-') stage?.zoomOut();
  else if (event.key === '0') stage?.resetZoom();
  else if (/^\d$/.test(event.key)) byId('tuning-count')?.focus();
}

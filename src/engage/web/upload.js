// @ts-check
// "Try it": upload a photo for a camera (or a new one) and show its count, with the detected people
// boxed on the photo still in the browser (the server deletes it once counted).
import { api } from './api.js';
import { deviceLabel } from './cameras.js';
import { byId, h, messageOf } from './dom.js';
import { heatCells, SVG } from './heat-map.js';

/**
 * @typedef {import('../photo-outcomes.js').PhotoOutcome} PhotoOutcome
 * @typedef {import('../../core/messages.js').Detection} Detection
 */

const NEW_DEVICE = '__new__';
const HEIC = /\.(heic|heif)$/i;

/**
 * "1.5 MB", "800 kB": sizes as people read them.
 * @param {number} bytes
 */
const sizeText = (bytes) =>
  bytes >= 1_000_000 ? `${Math.round(bytes / 100_000) / 10} MB` : `${Math.round(bytes / 1000)} kB`;

/**
 * What to tell the user about an upload's answer.
 * @param {PhotoOutcome} outcome
 */
export function outcomeText(outcome) {
  switch (outcome.status) {
    case 'counted': {
      const people = outcome.count === 1 ? '1 person' : `${outcome.count} people`;
      return `${people} · ${(outcome.latencyMs / 1000).toFixed(1)} s`;
    }
    case 'superseded':
      return 'Not counted: a newer photo of this camera arrived first and was counted instead.';
    case 'failed':
      return `Not counted: ${outcome.detail}`;
    default:
      return 'Uploaded; counting takes longer than usual. The count appears on the camera’s tile.';
  }
}

export class UploadPanel {
  /** @param {{ onUploaded: (deviceId: string) => void, maxBytes: number | undefined }} options */
  constructor({ onUploaded, maxBytes }) {
    this.select = byId('upload-device', HTMLSelectElement);
    this.file = byId('upload-file', HTMLInputElement);
    this.button = byId('upload-submit', HTMLButtonElement);
    this.status = byId('upload-status');
    this.newId = crypto.randomUUID();
    this.onUploaded = onUploaded;
    this.maxBytes = maxBytes;
    this.busy = false;
    this.select.addEventListener('change', () => this.showNewId());
    this.file.addEventListener('change', () => this.preview());
    const zone = byId('drop-zone');
    zone.addEventListener('dragover', (event) => {
      event.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (event) => {
      event.preventDefault();
      zone.classList.remove('over');
      if (event.dataTransfer && event.dataTransfer.files.length > 0) {
        this.file.files = event.dataTransfer.files;
        this.preview();
      }
    });
    byId('upload-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.upload();
    });
  }

  /** @param {Array<{ id: string, name: string | null }>} devices */
  setDevices(devices) {
    const chosen = this.select.value;
    this.select.replaceChildren(
      ...devices.map((device) => h('option', { value: device.id }, deviceLabel(device))),
      h('option', { value: NEW_DEVICE }, 'New camera (generate an ID)'),
    );
    this.select.value = [...this.select.options].some((o) => o.value === chosen)
      ? chosen
      : (this.select.options[0]?.value ?? '');
    this.showNewId();
  }

  showNewId() {
    const line = byId('upload-new-id');
    line.hidden = this.select.value !== NEW_DEVICE;
    line.textContent = `New camera ID: ${this.newId}`;
  }

  preview() {
    const file = this.file.files?.[0];
    byId('drop-text').textContent = file ? file.name : 'Drop a photo here (JPEG, PNG or WebP) or choose a file';
    byId('upload-boxes').replaceChildren();
    byId('upload-result').textContent = '';
    this.say('');
    const figure = byId('upload-figure');
    figure.hidden = !file || HEIC.test(file.name);
    if (!file || figure.hidden) return;
    const image = byId('upload-preview', HTMLImageElement);
    if (image.src) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(file);
  }

  async upload() {
    if (this.busy) return; // a double click sends one photo
    const file = this.file.files?.[0];
    if (!file) return this.say('Choose a photo first.', 'error');
    if (HEIC.test(file.name) || /^image\/hei[cf]/.test(file.type)) {
      return this.say('HEIC photos are not supported: send JPEG, PNG or WebP (on an iPhone, export as JPEG).', 'error');
    }
    if (this.maxBytes && file.size > this.maxBytes) {
      return this.say(
        `The photo is ${sizeText(file.size)}; the limit is ${sizeText(this.maxBytes)} per photo.`,
        'error',
      );
    }
    const deviceId = this.select.value === NEW_DEVICE ? this.newId : this.select.value;
    this.setBusy(true);
    byId('upload-boxes').replaceChildren();
    byId('upload-result').textContent = '';
    this.say('Uploading and counting…');
    try {
      const answer = /** @type {{ outcome: PhotoOutcome }} */ (
        await api(`/api/devices/${encodeURIComponent(deviceId)}/images`, {
          method: 'POST',
          body: file,
          contentType: 'application/octet-stream',
        })
      );
      const { outcome } = answer;
      byId('upload-result').textContent = outcomeText(outcome);
      byId('upload-result').dataset.status = outcome.status;
      if (outcome.status === 'counted') this.drawOverlay(outcome.detections, outcome.heatMap);
      this.say(outcome.status === 'counted' ? 'Counted. The photo has been deleted on the server.' : '', 'ok');
      if (this.select.value === NEW_DEVICE) this.newId = crypto.randomUUID();
      this.onUploaded(deviceId);
    } catch (error) {
      this.say(messageOf(error), 'error');
    } finally {
      this.setBusy(false);
    }
  }

  /** @param {boolean} busy */
  setBusy(busy) {
    this.busy = busy;
    this.button.disabled = busy;
    this.button.textContent = busy ? 'Counting…' : 'Upload and count';
  }

  /**
   * What was counted, in an SVG whose viewBox is the photo's size: the boxes found, or for a density count
   * its heat map (cells more opaque where more people stand).
   * @param {Detection[]} detections
   * @param {{ cols: number, rows: number, values: number[] } | undefined} heat
   */
  drawOverlay(detections, heat) {
    const image = byId('upload-preview', HTMLImageElement);
    const svg = byId('upload-boxes', SVGSVGElement);
    const draw = () => {
      svg.setAttribute('viewBox', `0 0 ${image.naturalWidth} ${image.naturalHeight}`);
      const stroke = Math.max(2, Math.round(image.naturalWidth / 200));
      svg.replaceChildren(
        ...(heat ? heatCells(heat, image.naturalWidth, image.naturalHeight) : []),
        ...detections.map(({ box: [x1, y1, x2, y2] }) => {
          const rect = document.createElementNS(SVG, 'rect');
          for (const [name, value] of Object.entries({ x: x1, y: y1, width: x2 - x1, height: y2 - y1 })) {
            rect.setAttribute(name, String(value));
          }
          rect.setAttribute('stroke-width', String(stroke));
          return rect;
        }),
      );
    };
    if (image.complete && image.naturalWidth > 0) draw();
    else image.addEventListener('load', draw, { once: true });
  }

  /**
   * @param {string} text
   * @param {'' | 'ok' | 'error'} [kind]
   */
  say(text, kind = '') {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }
}

// "Try it": upload a JPEG for a camera (or a new one) through engage to ingestion.
import { api } from './api.js';
import { byId, h } from './dom.js';

const NEW_DEVICE = '__new__';

export class UploadPanel {
  constructor({ onUploaded }) {
    this.select = byId('upload-device');
    this.file = byId('upload-file');
    this.status = byId('upload-status');
    this.newId = crypto.randomUUID();
    this.onUploaded = onUploaded;
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
      if (event.dataTransfer.files.length > 0) {
        this.file.files = event.dataTransfer.files;
        this.preview();
      }
    });
    byId('upload-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.upload();
    });
  }

  setDevices(devices) {
    const chosen = this.select.value;
    this.select.replaceChildren(
      ...devices.map((device) => h('option', { value: device.id }, device.name ?? device.id)),
      h('option', { value: NEW_DEVICE }, 'New camera (generate an ID)'),
    );
    this.select.value = [...this.select.options].some((o) => o.value === chosen)
      ? chosen
      : this.select.options[0].value;
    this.showNewId();
  }

  showNewId() {
    const line = byId('upload-new-id');
    line.hidden = this.select.value !== NEW_DEVICE;
    line.textContent = `New camera ID: ${this.newId}`;
  }

  preview() {
    const file = this.file.files[0];
    const image = byId('upload-preview');
    byId('drop-text').textContent = file ? file.name : 'Drop a JPEG here or choose a file';
    if (!file) return;
    image.src = URL.createObjectURL(file);
    image.hidden = false;
  }

  async upload() {
    const file = this.file.files[0];
    if (!file) return this.say('Choose a JPEG first.', 'error');
    const deviceId = this.select.value === NEW_DEVICE ? this.newId : this.select.value;
    this.say('Uploading…');
    try {
      const metadata = await api(`/api/devices/${encodeURIComponent(deviceId)}/images`, {
        method: 'POST',
        body: file,
        contentType: 'image/jpeg',
      });
      this.say(
        `Uploaded as ${metadata.filePath ?? 'a new photo'}. The count appears on the camera's tile once it is counted.`,
        'ok',
      );
      if (this.select.value === NEW_DEVICE) this.newId = crypto.randomUUID();
      this.onUploaded(deviceId);
    } catch (error) {
      this.say(error.message, 'error');
    }
  }

  say(text, kind = '') {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }
}

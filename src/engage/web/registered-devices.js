// @ts-check
// Registered cameras (/api/devices/credentials): list, register one (its secret is shown once) and revoke.
import { api } from './api.js';
import { cameraLabel } from './cameras.js';
import { byId, control, h, messageOf } from './dom.js';

/** @typedef {{ deviceId: string, createdAt: number }} RegisteredDevice */

/** @type {RegisteredDevice[]} as last listed by the server */
let registered = [];

async function refresh() {
  registered = /** @type {RegisteredDevice[]} */ (await api('/api/devices/credentials'));
  renderRegistered();
}

/** The list, each camera by its name (and its ID, which is its MQTT user); again when a camera is renamed. */
export function renderRegistered() {
  byId('registered-empty').hidden = registered.length > 0;
  byId('registered-list').replaceChildren(
    ...registered.map((device) => {
      const label = cameraLabel(device.deviceId);
      return h(
        'li',
        {},
        label === device.deviceId ? null : h('strong', {}, label, ' '),
        h('span', { class: 'mono' }, device.deviceId),
        ' ',
        h('span', { class: 'muted small' }, new Date(device.createdAt * 1000).toLocaleDateString()),
        ' ',
        h(
          'button',
          { type: 'button', class: 'ghost', 'aria-label': `Revoke ${label}`, onclick: () => revoke(device.deviceId) },
          'Revoke',
        ),
      );
    }),
  );
}

/** @param {string} deviceId */
async function revoke(deviceId) {
  const label = cameraLabel(deviceId);
  const named = label === deviceId ? deviceId : `${label} (${deviceId})`;
  if (!window.confirm(`Revoke camera ${named}? It is disconnected and refused from now on.`)) return;
  const status = byId('registered-status');
  try {
    await api(`/api/devices/credentials/${encodeURIComponent(deviceId)}`, { method: 'DELETE' });
    status.textContent = `Revoked ${named}.`;
    byId('registered-secret').hidden = true;
    await refresh();
  } catch (error) {
    status.textContent = messageOf(error);
  }
}

/** Shows the section when this server manages a device registry. */
export async function startRegisteredDevices() {
  byId('registered-panel').hidden = false;
  const form = byId('registered-form', HTMLFormElement);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = control(form, 'deviceId');
    const status = byId('registered-status');
    try {
      const added = /** @type {RegisteredDevice & { secret: string }} */ (
        await api('/api/devices/credentials', { method: 'POST', body: { deviceId: input.value.trim() } })
      );
      byId('registered-secret-value').textContent = added.secret;
      byId('registered-secret').hidden = false;
      status.textContent = `Registered ${added.deviceId}.`;
      input.value = '';
      await refresh();
    } catch (error) {
      status.textContent = messageOf(error);
    }
  });
  byId('registered-new-id').addEventListener('click', () => {
    control(form, 'deviceId').value = crypto.randomUUID();
  });
  await refresh();
}

// @ts-check
// Registered cameras (/api/devices/credentials): list, register one (its secret is shown once) and revoke.
import { api } from './api.js';
import { byId, control, h, messageOf } from './dom.js';

/** @typedef {{ deviceId: string, createdAt: number }} RegisteredDevice */

async function refresh() {
  const list = byId('registered-list');
  const devices = /** @type {RegisteredDevice[]} */ (await api('/api/devices/credentials'));
  byId('registered-empty').hidden = devices.length > 0;
  list.replaceChildren(
    ...devices.map((device) =>
      h(
        'li',
        {},
        h('span', { class: 'mono' }, device.deviceId),
        ' ',
        h('span', { class: 'muted small' }, new Date(device.createdAt * 1000).toLocaleDateString()),
        ' ',
        h('button', { type: 'button', class: 'ghost', onclick: () => revoke(device.deviceId) }, 'Revoke'),
      ),
    ),
  );
}

/** @param {string} deviceId */
async function revoke(deviceId) {
  if (!window.confirm(`Revoke camera ${deviceId}? It is disconnected and refused from now on.`)) return;
  const status = byId('registered-status');
  try {
    await api(`/api/devices/credentials/${encodeURIComponent(deviceId)}`, { method: 'DELETE' });
    status.textContent = `Revoked ${deviceId}.`;
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

// The dashboard: live tiles from the event stream, the history chart, alerts, device settings and uploads.

import { renderAlerts } from './alerts.js';
import { api, liveEvents, token } from './api.js';
import { byId, h, startRelativeClock } from './dom.js';
import { HistoryChart } from './history.js';
import { deviceTile, placeTile, siteTile } from './tiles.js';
import { onTuningEvent, startTuning } from './tuning.js';
import { UploadPanel } from './upload.js';

const devices = new Map();
const sites = new Map();
let alerts = [];
let config = { writes: 'token', protectReads: false };

const history = new HistoryChart();
const upload = new UploadPanel({ onUploaded: (id) => highlight(id) });
const names = () => new Map([...devices.values()].map((d) => [d.id, d.name ?? d.id]));

function renderDevice(device) {
  devices.set(device.id, device);
  const tile = deviceTile(device, { onEdit: openEditor, onSelect: selectSubject });
  tile.dataset.sortKey = `${device.site ?? '~'}\u0000${device.name ?? device.id}`;
  placeTile(byId('device-tiles'), device.id, 'device', tile);
}

function renderSite(site) {
  sites.set(site.site, site);
  const tile = siteTile(site, { onSelect: selectSubject });
  tile.dataset.sortKey = site.site;
  placeTile(byId('site-tiles'), site.site, 'site', tile);
}

function removeSite(name) {
  sites.delete(name);
  byId('site-tiles')
    .querySelector(`[data-site="${CSS.escape(name)}"]`)
    ?.remove();
}

function renderSummaries() {
  const all = [...devices.values()];
  const live = all.filter((d) => d.state === 'live').length;
  byId('devices-summary').textContent = all.length ? `${live} of ${all.length} live` : '';
  const total = [...sites.values()].reduce((sum, s) => sum + s.count, 0);
  byId('sites-summary').textContent = sites.size ? `${total} people across ${sites.size} site(s)` : '';
  byId('devices-empty').hidden = all.length > 0;
  byId('sites-empty').hidden = sites.size > 0;
  renderSubjects();
  upload.setDevices(all);
}

function renderSubjects() {
  const select = byId('history-subject');
  const wanted = [
    ...[...sites.keys()].map((name) => [`site:${name}`, `Site · ${name}`]),
    ...[...devices.values()].map((d) => [d.id, d.name ?? d.id]),
  ];
  const current = [...select.options].map((o) => `${o.value}=${o.textContent}`).join('|');
  if (current === wanted.map(([v, t]) => `${v}=${t}`).join('|')) return;
  const chosen = history.subject;
  select.replaceChildren(...wanted.map(([value, text]) => h('option', { value }, text)));
  if (chosen && wanted.some(([value]) => value === chosen)) select.value = chosen;
  else if (wanted.length > 0) selectSubject(wanted[0][0]);
}

function selectSubject(subject) {
  byId('history-subject').value = subject;
  history.show(subject);
  if (document.activeElement?.closest?.('.tile')) byId('history-title').scrollIntoView({ behavior: 'smooth' });
}

function highlight(deviceId) {
  const tile = byId('device-tiles').querySelector(`[data-device="${CSS.escape(deviceId)}"]`);
  tile?.classList.add('flash');
}

function openEditor(device) {
  const dialog = byId('device-dialog');
  const form = byId('device-form');
  byId('device-form-id').textContent = device.id;
  form.elements.name.value = device.name ?? '';
  form.elements.site.value = device.site ?? '';
  form.elements.capacity.value = device.capacity ?? '';
  byId('device-form-status').textContent = '';
  form.onsubmit = async (event) => {
    event.preventDefault();
    const capacity = form.elements.capacity.value;
    try {
      await api(`/api/devices/${encodeURIComponent(device.id)}`, {
        method: 'PUT',
        body: {
          name: form.elements.name.value.trim() || null,
          site: form.elements.site.value.trim() || null,
          capacity: capacity ? Number(capacity) : null,
        },
      });
      dialog.close();
    } catch (error) {
      byId('device-form-status').textContent = error.message;
    }
  };
  dialog.showModal();
}

function setupHistoryControls() {
  const buttons = document.querySelectorAll('[data-range]');
  const custom = byId('custom-range');
  const activate = (active) => {
    for (const button of buttons) button.classList.toggle('active', button === active);
  };
  for (const button of buttons) {
    button.addEventListener('click', () => {
      activate(button);
      custom.hidden = button.dataset.range !== 'custom';
      if (button.dataset.range !== 'custom') history.show(history.subject, { seconds: Number(button.dataset.range) });
    });
  }
  custom.addEventListener('submit', (event) => {
    event.preventDefault();
    const from = new Date(custom.elements.from.value).getTime() / 1000;
    const to = new Date(custom.elements.to.value).getTime() / 1000;
    if (!(from < to)) return;
    history.show(history.subject, { from, to });
  });
  document.addEventListener('history-range', () => activate(document.querySelector('[data-range="custom"]')));
  byId('history-subject').addEventListener('change', (event) => history.show(event.target.value));
}

function setupToken() {
  const button = byId('token-button');
  button.hidden = config.writes === 'open' && !config.protectReads;
  button.textContent = token.get() ? 'API token ✓' : 'API token';
  const dialog = byId('token-dialog');
  button.addEventListener('click', () => {
    byId('token-form').elements.token.value = token.get();
    dialog.showModal();
  });
  byId('token-cancel').addEventListener('click', () => dialog.close());
  byId('device-cancel').addEventListener('click', () => byId('device-dialog').close());
  byId('token-form').addEventListener('submit', () => {
    token.set(byId('token-form').elements.token.value.trim());
    location.reload();
  });
}

function setConnection(state) {
  const element = byId('connection');
  element.dataset.state = state;
  element.textContent = { live: 'Live', reconnecting: 'Reconnecting…', closed: 'Disconnected' }[state] ?? state;
}

async function start() {
  try {
    config = await api('/api/config');
  } catch (error) {
    setConnection('closed');
    if (error.status === 401) byId('token-button').hidden = false;
  }
  setupToken();
  setupHistoryControls();
  startRelativeClock();
  await startTuning();
  liveEvents(
    {
      snapshot: (snapshot) => {
        byId('device-tiles').replaceChildren();
        byId('site-tiles').replaceChildren();
        devices.clear();
        sites.clear();
        snapshot.devices.forEach(renderDevice);
        snapshot.sites.forEach(renderSite);
        alerts = snapshot.alerts;
        renderAlerts(alerts, names());
        renderSummaries();
      },
      device: (device) => {
        renderDevice(device);
        renderSummaries();
        if (history.subject === device.id || history.subject === `site:${device.site}`) history.refreshSoon();
      },
      site: (site) => {
        renderSite(site);
        renderSummaries();
      },
      'site-removed': ({ site }) => {
        removeSite(site);
        renderSummaries();
      },
      alert: (alert) => {
        alerts = [alert, ...alerts];
        renderAlerts(alerts, names());
      },
      tuning: onTuningEvent,
    },
    setConnection,
  );
}

start();

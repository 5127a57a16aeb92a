// The dashboard: live tiles from the event stream, the history chart, alerts, device settings and uploads.

import { RuleEditor, renderAlerts, renderRules } from './alerts.js';
import { api, liveEvents, token } from './api.js';
import { byId, h, startRelativeClock } from './dom.js';
import { HistoryChart, sameSubject, subjectKey } from './history.js';
import { deviceLabel, deviceTile, placeTile, siteTile } from './tiles.js';
import { onTuningEvent, startTuning } from './tuning.js';
import { UploadPanel } from './upload.js';

const devices = new Map();
const sites = new Map();
let alerts = [];
let rules = [];
let config = { writes: 'token', protectReads: false };

const names = () => new Map([...devices.values()].map((d) => [d.id, deviceLabel(d)]));
const subjectLabel = (subject) =>
  subject.kind === 'site' ? `Site ${subject.id}` : deviceLabel(devices.get(subject.id) ?? { id: subject.id });
const history = new HistoryChart({ onRange: showRange, label: subjectLabel });
let upload;
const ruleEditor = new RuleEditor({
  targets: (scope) =>
    scope === 'site'
      ? [...sites.keys()].map((name) => ({ value: name, label: name }))
      : [...devices.values()].map((d) => ({ value: d.id, label: deviceLabel(d) })),
});
const rulesOf = (scope, target) => rules.filter((rule) => rule.scope === scope && rule.target === target);

function renderDevice(device) {
  devices.set(device.id, device);
  const tile = deviceTile(device, { onEdit: openEditor, onSelect: selectSubject, rules: rulesOf('device', device.id) });
  tile.dataset.sortKey = `${device.site ?? '~'}\u0000${deviceLabel(device)}`;
  placeTile(byId('device-tiles'), device.id, 'device', tile);
}

function renderSite(site) {
  sites.set(site.site, site);
  const tile = siteTile(site, { onSelect: selectSubject, rules: rulesOf('site', site.site) });
  tile.dataset.sortKey = site.site;
  placeTile(byId('site-tiles'), site.site, 'site', tile);
}

function setRules(next) {
  rules = next;
  renderRules(rules, names(), {
    onEdit: (rule) => ruleEditor.open(rule),
    onDelete: (rule) => api(`/api/alert-rules/${encodeURIComponent(rule.id)}`, { method: 'DELETE' }).catch(showError),
  });
  for (const device of devices.values()) renderDevice(device);
  for (const site of sites.values()) renderSite(site);
}

function showError(error) {
  byId('connection').textContent = error.message;
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
  const known = [...sites.values()].filter((s) => s.liveDevices.length > 0);
  const total = known.reduce((sum, s) => sum + s.count, 0);
  byId('sites-summary').textContent = sites.size
    ? `${total} people across ${known.length} of ${sites.size} site(s)`
    : '';
  byId('devices-empty').hidden = all.length > 0;
  byId('sites-empty').hidden = sites.size > 0;
  renderSubjects();
  upload?.setDevices(all);
}

/** The history select: sites first, then cameras; each option stands for a typed subject. */
function renderSubjects() {
  const select = byId('history-subject');
  const wanted = [
    ...[...sites.keys()].map((name) => ({ subject: { kind: 'site', id: name }, text: `Site · ${name}` })),
    ...[...devices.values()].map((d) => ({ subject: { kind: 'device', id: d.id }, text: deviceLabel(d) })),
  ];
  const signature = (option) => `${subjectKey(option.subject)}=${option.text}`;
  if (select.dataset.signature === wanted.map(signature).join('|')) return;
  select.dataset.signature = wanted.map(signature).join('|');
  select.subjects = wanted.map((option) => option.subject);
  select.replaceChildren(...wanted.map((option, index) => h('option', { value: String(index) }, option.text)));
  const chosen = wanted.findIndex((option) => sameSubject(option.subject, history.subject));
  if (chosen >= 0) select.value = String(chosen);
  else if (wanted.length > 0) selectSubject(wanted[0].subject);
}

function selectSubject(subject) {
  const select = byId('history-subject');
  const index = (select.subjects ?? []).findIndex((candidate) => sameSubject(candidate, subject));
  if (index >= 0) select.value = String(index);
  history.show(subject);
  if (document.activeElement?.closest?.('.tile')) byId('history-title').scrollIntoView({ behavior: 'smooth' });
}

/** The range buttons follow the range shown (chosen, picked to fit the data, or zoomed). */
function showRange(range) {
  for (const button of document.querySelectorAll('[data-range]')) {
    const pressed =
      range.seconds !== undefined ? button.dataset.range === String(range.seconds) : button.dataset.range === 'custom';
    button.classList.toggle('active', pressed);
    button.setAttribute('aria-pressed', String(pressed));
  }
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
  const custom = byId('custom-range');
  for (const button of document.querySelectorAll('[data-range]')) {
    button.addEventListener('click', () => {
      custom.hidden = button.dataset.range !== 'custom';
      if (button.dataset.range === 'custom') showRange({});
      else history.show(history.subject, { seconds: Number(button.dataset.range) });
    });
  }
  custom.addEventListener('submit', (event) => {
    event.preventDefault();
    const from = new Date(custom.elements.from.value).getTime() / 1000;
    const to = new Date(custom.elements.to.value).getTime() / 1000;
    if (!(from < to)) return;
    history.show(history.subject, { from, to });
  });
  byId('history-subject').addEventListener('change', (event) => {
    const subject = event.target.subjects?.[Number(event.target.value)];
    if (subject) history.show(subject);
  });
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
  upload = new UploadPanel({ onUploaded: (id) => highlight(id), maxBytes: config.maxUploadBytes });
  setupToken();
  setupHistoryControls();
  byId('rule-new').addEventListener('click', () => ruleEditor.open());
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
        setRules(snapshot.rules ?? []);
        renderSummaries();
      },
      device: (device) => {
        renderDevice(device);
        renderSummaries();
        const shown = history.subject;
        if (
          sameSubject(shown, { kind: 'device', id: device.id }) ||
          sameSubject(shown, { kind: 'site', id: device.site })
        )
          history.refreshSoon();
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
      rules: setRules,
      tuning: onTuningEvent,
    },
    setConnection,
  );
}

start();

// @ts-check
// The dashboard: live tiles from the event stream, the history chart, alerts, device settings and uploads.

import { RuleEditor, renderAlerts, renderRules } from './alerts.js';
import { ApiError, api, liveEvents, token } from './api.js';
import { cameraLabel, deviceLabel, devices } from './cameras.js';
import { byId, control, h, messageOf, startRelativeClock } from './dom.js';
import { HistoryChart, sameSubject, subjectKey } from './history.js';
import { renderRegistered, startRegisteredDevices } from './registered-devices.js';
import { deviceTile, placeTile, siteTile, zonesByDevice } from './tiles.js';
import { onTuningEvent, startTuning } from './tuning.js';
import { UploadPanel } from './upload.js';

/**
 * @typedef {import('../occupancy.js').DeviceView} DeviceView
 * @typedef {import('../occupancy.js').SiteOccupancy} SiteOccupancy
 * @typedef {import('../events.js').RuleView} RuleView
 * @typedef {import('../../core/messages.js').AlertMessage} AlertMessage
 * @typedef {import('../api.js').DashboardConfig} DashboardConfig
 * @typedef {import('./history.js').Subject} Subject
 * @typedef {import('./history.js').Range} Range
 */

/** @type {Map<string, SiteOccupancy>} */
const sites = new Map();
/** @type {AlertMessage[]} */
let alerts = [];
/** @type {RuleView[]} */
let rules = [];
/** @type {Pick<DashboardConfig, 'writes' | 'protectReads'> & Partial<DashboardConfig>} */
let config = { writes: 'token', protectReads: false };
/** @type {Subject[]} the subject behind each option of the history select, by the option's index */
let subjectOptions = [];

/** @param {string} id @returns {Subject} */
const siteSubject = (id) => ({ kind: 'site', id });
/** @param {string} id @returns {Subject} */
const deviceSubject = (id) => ({ kind: 'device', id });
/** @param {Subject} subject */
const subjectLabel = (subject) => (subject.kind === 'site' ? `Site ${subject.id}` : cameraLabel(subject.id));
const history = new HistoryChart({ onRange: showRange, label: subjectLabel });
/** @type {UploadPanel | undefined} */
let upload;
const ruleEditor = new RuleEditor({
  targets: (scope) =>
    scope === 'site'
      ? [...sites.values()].map((site) => ({ value: site.site, label: site.site, capacity: site.capacity }))
      : [...devices.values()].map((d) => ({ value: d.id, label: deviceLabel(d), capacity: d.capacity })),
});
/**
 * @param {RuleView['scope']} scope
 * @param {string} target
 */
const rulesOf = (scope, target) => rules.filter((rule) => rule.scope === scope && rule.target === target);

/** @param {DeviceView} device */
function renderDevice(device) {
  const known = devices.get(device.id);
  devices.set(device.id, device);
  // A rename: every list that names the camera follows.
  if (known && deviceLabel(known) !== deviceLabel(device)) {
    renderAlerts(alerts);
    showRules();
    renderRegistered();
  }
  const tile = deviceTile(device, { onEdit: openEditor, onSelect: selectSubject, rules: rulesOf('device', device.id) });
  tile.dataset.sortKey = `${device.site ?? '~'}\u0000${deviceLabel(device)}`;
  placeTile(byId('device-tiles'), device.id, 'device', tile);
}

/** @param {SiteOccupancy} site */
function renderSite(site) {
  sites.set(site.site, site);
  const tile = siteTile(site, { onSelect: selectSubject, rules: rulesOf('site', site.site) });
  tile.dataset.sortKey = site.site;
  placeTile(byId('site-tiles'), site.site, 'site', tile);
}

function showRules() {
  renderRules(rules, {
    onEdit: (rule) => ruleEditor.open(rule),
    onDelete: (rule) => api(`/api/alert-rules/${encodeURIComponent(rule.id)}`, { method: 'DELETE' }).catch(showError),
  });
}

/** @param {RuleView[]} next */
function setRules(next) {
  rules = next;
  showRules();
  for (const device of devices.values()) renderDevice(device);
  for (const site of sites.values()) renderSite(site);
}

/** @param {unknown} error */
function showError(error) {
  byId('connection').textContent = messageOf(error);
}

/** @param {string} name */
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
  const select = byId('history-subject', HTMLSelectElement);
  /** @type {Array<{ subject: Subject, text: string }>} */
  const wanted = [
    ...[...sites.keys()].map((name) => ({ subject: siteSubject(name), text: `Site · ${name}` })),
    ...[...devices.values()].map((d) => ({ subject: deviceSubject(d.id), text: deviceLabel(d) })),
  ];
  /** @param {{ subject: Subject, text: string }} option */
  const signature = (option) => `${subjectKey(option.subject)}=${option.text}`;
  if (select.dataset.signature === wanted.map(signature).join('|')) return;
  select.dataset.signature = wanted.map(signature).join('|');
  subjectOptions = wanted.map((option) => option.subject);
  select.replaceChildren(...wanted.map((option, index) => h('option', { value: String(index) }, option.text)));
  const chosen = wanted.findIndex((option) => sameSubject(option.subject, history.subject));
  select.disabled = wanted.length === 0;
  if (chosen >= 0) select.value = String(chosen);
  else if (wanted[0]) selectSubject(wanted[0].subject);
  else history.show(null);
}

/** @param {Subject} subject */
function selectSubject(subject) {
  const select = byId('history-subject', HTMLSelectElement);
  const index = subjectOptions.findIndex((candidate) => sameSubject(candidate, subject));
  if (index >= 0) select.value = String(index);
  history.show(subject);
  if (document.activeElement?.closest?.('.tile')) byId('history-title').scrollIntoView({ behavior: 'smooth' });
}

/**
 * The range buttons follow the range shown (chosen, picked to fit the data, or zoomed).
 * @param {Partial<Range>} range
 */
function showRange(range) {
  for (const button of document.querySelectorAll('[data-range]')) {
    if (!(button instanceof HTMLElement)) continue;
    const pressed =
      range.seconds !== undefined ? button.dataset.range === String(range.seconds) : button.dataset.range === 'custom';
    button.classList.toggle('active', pressed);
    button.setAttribute('aria-pressed', String(pressed));
  }
}

/** @param {string} deviceId */
function highlight(deviceId) {
  const tile = byId('device-tiles').querySelector(`[data-device="${CSS.escape(deviceId)}"]`);
  tile?.classList.add('flash');
}

/** @param {DeviceView} device */
function openEditor(device) {
  const dialog = byId('device-dialog', HTMLDialogElement);
  const form = byId('device-form', HTMLFormElement);
  const name = control(form, 'name');
  const site = control(form, 'site');
  const capacity = control(form, 'capacity');
  byId('device-form-title').textContent = `Edit camera · ${deviceLabel(device)}`;
  byId('device-form-id').textContent = device.id;
  name.value = device.name ?? '';
  site.value = device.site ?? '';
  capacity.value = String(device.capacity ?? '');
  byId('device-form-status').textContent = '';
  form.onsubmit = async (event) => {
    event.preventDefault();
    try {
      await api(`/api/devices/${encodeURIComponent(device.id)}`, {
        method: 'PUT',
        body: {
          name: name.value.trim() || null,
          site: site.value.trim() || null,
          capacity: capacity.value ? Number(capacity.value) : null,
        },
      });
      dialog.close();
    } catch (error) {
      byId('device-form-status').textContent = messageOf(error);
    }
  };
  dialog.showModal();
}

function setupHistoryControls() {
  const custom = byId('custom-range', HTMLFormElement);
  for (const button of document.querySelectorAll('[data-range]')) {
    if (!(button instanceof HTMLElement)) continue;
    button.addEventListener('click', () => {
      custom.hidden = button.dataset.range !== 'custom';
      if (button.dataset.range === 'custom') showRange({});
      else history.show(history.subject, { seconds: Number(button.dataset.range) });
    });
  }
  custom.addEventListener('submit', (event) => {
    event.preventDefault();
    const from = new Date(control(custom, 'from').value).getTime() / 1000;
    const to = new Date(control(custom, 'to').value).getTime() / 1000;
    if (!(from < to)) return;
    history.show(history.subject, { from, to });
  });
  const select = byId('history-subject', HTMLSelectElement);
  select.addEventListener('change', () => {
    const subject = subjectOptions[Number(select.value)];
    if (subject) history.show(subject);
  });
}

function setupToken() {
  const button = byId('token-button');
  button.hidden = config.writes === 'open' && !config.protectReads;
  button.textContent = token.get() ? 'API token ✓' : 'API token';
  const dialog = byId('token-dialog', HTMLDialogElement);
  const form = byId('token-form', HTMLFormElement);
  button.addEventListener('click', () => {
    control(form, 'token').value = token.get();
    dialog.showModal();
  });
  byId('token-cancel').addEventListener('click', () => dialog.close());
  byId('device-cancel').addEventListener('click', () => byId('device-dialog', HTMLDialogElement).close());
  form.addEventListener('submit', () => {
    token.set(control(form, 'token').value.trim());
    location.reload();
  });
}

/** @param {import('./api.js').ConnectionState} state */
function setConnection(state) {
  const element = byId('connection');
  element.dataset.state = state;
  element.textContent = { live: 'Live', reconnecting: 'Reconnecting…', closed: 'Disconnected' }[state] ?? state;
}

async function start() {
  try {
    config = /** @type {DashboardConfig} */ (await api('/api/config'));
  } catch (error) {
    setConnection('closed');
    if (error instanceof ApiError && error.status === 401) byId('token-button').hidden = false;
  }
  upload = new UploadPanel({ onUploaded: (id) => highlight(id), maxBytes: config.maxUploadBytes });
  setupToken();
  setupHistoryControls();
  byId('rule-new').addEventListener('click', () => ruleEditor.open());
  startRelativeClock();
  await startTuning();
  if (config.deviceCredentials) await startRegisteredDevices();
  liveEvents(
    {
      snapshot: (snapshot) => {
        byId('device-tiles').replaceChildren();
        byId('site-tiles').replaceChildren();
        devices.clear();
        sites.clear();
        zonesByDevice.clear();
        for (const zone of snapshot.zones ?? []) {
          zonesByDevice.set(zone.deviceId, [...(zonesByDevice.get(zone.deviceId) ?? []), zone]);
        }
        snapshot.devices.forEach(renderDevice);
        snapshot.sites.forEach(renderSite);
        alerts = snapshot.alerts;
        renderAlerts(alerts);
        setRules(snapshot.rules ?? []);
        renderSummaries();
      },
      device: (device) => {
        renderDevice(device);
        renderSummaries();
        const shown = history.subject;
        if (
          sameSubject(shown, { kind: 'device', id: device.id }) ||
          (device.site !== null && sameSubject(shown, { kind: 'site', id: device.site }))
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
        renderAlerts(alerts);
      },
      rules: setRules,
      zones: ({ deviceId, zones }) => {
        zonesByDevice.set(deviceId, zones);
        const device = devices.get(deviceId);
        if (device) renderDevice(device);
      },
      tuning: onTuningEvent,
    },
    setConnection,
  );
}

start();

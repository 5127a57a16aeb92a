// @ts-check
// Live tiles: one per camera and one per site, replaced in place when an event changes them.
import { deviceLabel } from './cameras.js';
import { ago, duration, h } from './dom.js';
import { tuneButton, tuningStatus } from './tuning.js';

/**
 * @typedef {import('../occupancy.js').DeviceView} DeviceView
 * @typedef {import('../occupancy.js').SiteOccupancy} SiteOccupancy
 * @typedef {import('../events.js').RuleView} RuleView
 * @typedef {import('./history.js').Subject} Subject
 */

/** @type {Map<string, import('../store.js').ZoneState[]>} each camera's zones with their latest counts */
export const zonesByDevice = new Map();

/**
 * A camera's zones and their latest counts ("Checkout 2 · Aisle 3"), or nothing without zones.
 * @param {string} deviceId
 * @param {boolean} dim
 */
function zoneLine(deviceId, dim) {
  const zones = zonesByDevice.get(deviceId) ?? [];
  if (zones.length === 0) return null;
  return h(
    'ul',
    { class: `zones${dim ? ' dim' : ''}`, 'aria-label': 'People per zone', dataset: { role: 'zones' } },
    ...zones.map((zone) =>
      h(
        'li',
        { dataset: { zone: zone.id } },
        h('span', { class: 'zone-name' }, zone.name),
        ' ',
        h('span', { class: 'zone-count', dataset: { role: 'zone-count' } }, zone.latest?.count ?? '–'),
      ),
    ),
  );
}

/** @type {Record<DeviceView['state'], string>} */
const STATE_LABEL = { live: 'Live', stale: 'Stale', offline: 'Offline', 'no-data': 'No data' };

/**
 * @param {number | null} count
 * @param {number | null} capacity
 * @param {string} label
 */
function capacityBar(count, capacity, label) {
  if (!capacity) return h('div', { class: 'capacity none' }, h('span', { class: 'muted small' }, 'No capacity set'));
  if (count === null)
    return h('div', { class: 'capacity none' }, h('span', { class: 'muted small' }, `Capacity ${capacity}`));
  const percent = Math.round((count / capacity) * 100);
  const level = percent >= 100 ? 'full' : percent >= 80 ? 'high' : 'ok';
  return h(
    'div',
    { class: `capacity ${level}` },
    h(
      'div',
      {
        class: 'bar',
        role: 'meter',
        'aria-valuemin': 0,
        'aria-valuemax': capacity,
        'aria-valuenow': count,
        'aria-label': `Occupancy of ${label}`,
      },
      h('span', { style: `width:${Math.min(100, percent)}%` }),
    ),
    h('span', { class: 'percent' }, `${percent}%`),
  );
}

/**
 * `count` null: unknown (nothing live to count).
 * @param {number | null} count
 * @param {number | null} capacity
 * @param {boolean} dim
 */
function countLine(count, capacity, dim) {
  return h(
    'div',
    { class: `count${dim ? ' dim' : ''}` },
    h('span', { class: 'value', dataset: { role: 'count' } }, count ?? 'unknown'),
    h('span', { class: 'unit' }, count === null ? '' : capacity ? ` / ${capacity} people` : ' people'),
  );
}

/**
 * The rules watching this tile's subject that are raised or about to be.
 * @param {RuleView[]} rules
 */
function alertLine(rules) {
  const raised = rules.filter((rule) => rule.active);
  const holding = rules.filter((rule) => !rule.active && rule.pendingSince !== null);
  if (raised.length > 0) {
    return h(
      'p',
      { class: 'alert-badge raised', dataset: { role: 'alert-state' } },
      `Alert: ${raised.map((rule) => rule.id).join(', ')}`,
    );
  }
  if (holding.length > 0) {
    return h(
      'p',
      { class: 'alert-badge holding', dataset: { role: 'alert-state' } },
      `Past the level of ${holding.map((rule) => rule.id).join(', ')}; waiting for the hold time`,
    );
  }
  return null;
}

/**
 * A camera's status line: its state pill (the server's state, judged by the camera's own photo interval,
 * which its tooltip gives). The one place to add what else describes how the camera is counted (e.g. its
 * profile, or a hint when its counts may be low).
 * @param {DeviceView} device
 */
export function statusLine(device) {
  const interval = device.photoIntervalSeconds;
  return h(
    'span',
    { class: `pill ${device.state}`, title: interval === null ? null : `A photo about every ${duration(interval)}` },
    STATE_LABEL[device.state] ?? device.state,
  );
}

/**
 * @param {DeviceView} device
 * @param {{ onEdit: (device: DeviceView) => void, onSelect: (subject: Subject) => void, rules?: RuleView[] }} actions
 */
export function deviceTile(device, { onEdit, onSelect, rules = [] }) {
  const title = deviceLabel(device);
  return h(
    'article',
    { class: `tile state-${device.state}`, dataset: { device: device.id, state: device.state }, 'aria-label': title },
    h('header', {}, h('h3', { title }, title), statusLine(device)),
    h(
      'p',
      { class: 'meta' },
      device.site ? h('span', { class: 'site-badge' }, device.site) : h('span', { class: 'muted' }, 'no site'),
      device.name ? h('span', { class: 'mono muted', title: device.id }, device.id) : null,
    ),
    countLine(device.count, device.capacity, device.state !== 'live'),
    capacityBar(device.count, device.capacity, title),
    zoneLine(device.id, device.state !== 'live'),
    alertLine(rules),
    tuningStatus(device.id),
    h(
      'footer',
      {},
      lastPhoto(device.lastPhotoAt),
      h(
        'span',
        { class: 'tile-actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            dataset: { action: 'history' },
            'aria-label': `History of ${title}`,
            onclick: () => onSelect({ kind: 'device', id: device.id }),
          },
          'History',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            dataset: { action: 'edit' },
            'aria-label': `Edit ${title}`,
            onclick: () => onEdit(device),
          },
          'Edit',
        ),
        tuneButton(device.id, title),
      ),
    ),
  );
}

/**
 * "Photo 2 min ago" (the last photo), kept on one line; the exact time in its tooltip.
 * @param {number | null} unixSeconds
 */
function lastPhoto(unixSeconds) {
  if (unixSeconds === null) return h('span', { class: 'last-photo muted' }, 'No photo yet');
  const time = h(
    'time',
    {
      datetime: new Date(unixSeconds * 1000).toISOString(),
      title: `Last photo: ${new Date(unixSeconds * 1000).toLocaleString()}`,
      dataset: { since: unixSeconds },
    },
    ago(unixSeconds),
  );
  return h('span', { class: 'last-photo muted' }, 'Photo ', time);
}

/**
 * @param {SiteOccupancy} site
 * @param {{ onSelect: (subject: Subject) => void, rules?: RuleView[] }} actions
 */
export function siteTile(site, { onSelect, rules = [] }) {
  const liveCount = site.liveDevices.length;
  // With no live camera the site's occupancy is unknown, not 0.
  const count = liveCount === 0 ? null : site.count;
  return h(
    'article',
    { class: 'tile site', dataset: { site: site.site }, 'aria-label': `Site ${site.site}` },
    h(
      'header',
      {},
      h('h3', { title: site.site }, site.site),
      h(
        'span',
        { class: `pill ${liveCount === site.devices ? 'live' : liveCount === 0 ? 'stale' : 'partial'}` },
        `${liveCount}/${site.devices} live`,
      ),
    ),
    countLine(count, site.capacity, liveCount === 0),
    capacityBar(count, site.capacity, `site ${site.site}`),
    alertLine(rules),
    h(
      'footer',
      {},
      site.staleDevices.length > 0
        ? h('span', { class: 'warn' }, `Not counted: ${site.staleDevices.length} camera(s) not live`)
        : lastPhoto(site.lastPhotoAt),
      h(
        'button',
        {
          type: 'button',
          class: 'link',
          dataset: { action: 'history' },
          'aria-label': `History of site ${site.site}`,
          onclick: () => onSelect({ kind: 'site', id: site.site }),
        },
        'History',
      ),
    ),
  );
}

/**
 * Puts `tile` where the tile with the same key is, or appends it, keeping the grid sorted by key.
 * A live update must not take the keyboard focus away: the same button of the new tile gets it.
 * @param {HTMLElement} container
 * @param {string} key
 * @param {'device' | 'site'} attribute
 * @param {HTMLElement} tile
 */
export function placeTile(container, key, attribute, tile) {
  const tiles = /** @type {HTMLElement[]} */ ([...container.children]);
  const existing = tiles.find((child) => child.dataset[attribute] === key);
  if (existing) {
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && existing.contains(active) ? active.dataset.action : undefined;
    existing.replaceWith(tile);
    if (focused) /** @type {HTMLElement | null} */ (tile.querySelector(`[data-action="${focused}"]`))?.focus();
    return;
  }
  const after = tiles.find(
    (child) => /** @type {string} */ (child.dataset.sortKey) > /** @type {string} */ (tile.dataset.sortKey),
  );
  container.insertBefore(tile, after ?? null);
}

// Live tiles: one per camera and one per site, replaced in place when an event changes them.
import { ago, h } from './dom.js';
import { tuningControls } from './tuning.js';

const STATE_LABEL = { live: 'Live', stale: 'Stale', offline: 'Offline', 'no-data': 'No data' };

function capacityBar(count, capacity) {
  if (!capacity) return h('div', { class: 'capacity none' }, h('span', { class: 'muted small' }, 'No capacity set'));
  const percent = Math.round(((count ?? 0) / capacity) * 100);
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
        'aria-valuenow': count ?? 0,
        'aria-label': 'occupancy',
      },
      h('span', { style: `width:${Math.min(100, percent)}%` }),
    ),
    h('span', { class: 'percent' }, `${percent}%`),
  );
}

function countLine(count, capacity, dim) {
  return h(
    'div',
    { class: `count${dim ? ' dim' : ''}` },
    h('span', { class: 'value', dataset: { role: 'count' } }, count ?? '–'),
    h('span', { class: 'unit' }, capacity ? ` / ${capacity} people` : ' people'),
  );
}

export function deviceTile(device, { onEdit, onSelect }) {
  const title = device.name ?? device.id;
  const tile = h(
    'article',
    { class: `tile state-${device.state}`, dataset: { device: device.id, state: device.state } },
    h(
      'header',
      {},
      h('h3', { title }, title),
      h('span', { class: `pill ${device.state}` }, STATE_LABEL[device.state] ?? device.state),
    ),
    h(
      'p',
      { class: 'meta' },
      device.site ? h('span', { class: 'site-badge' }, device.site) : h('span', { class: 'muted' }, 'no site'),
      device.name ? h('span', { class: 'mono muted', title: device.id }, device.id) : null,
    ),
    countLine(device.count, device.capacity, device.state !== 'live'),
    capacityBar(device.count, device.capacity),
    h(
      'footer',
      {},
      h(
        'span',
        { class: 'muted small' },
        'Last photo ',
        h('time', { dataset: { since: device.lastPhotoAt ?? '' } }, ago(device.lastPhotoAt)),
      ),
      h(
        'span',
        { class: 'tile-actions' },
        h('button', { type: 'button', class: 'link', onclick: () => onSelect(device.id) }, 'History'),
        h('button', { type: 'button', class: 'link', onclick: () => onEdit(device) }, 'Edit'),
      ),
      tuningControls(device.id),
    ),
  );
  if (device.lastPhotoAt === null) tile.querySelector('time').removeAttribute('data-since');
  return tile;
}

export function siteTile(site, { onSelect }) {
  const liveCount = site.liveDevices.length;
  return h(
    'article',
    { class: 'tile site', dataset: { site: site.site } },
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
    countLine(site.count, site.capacity, liveCount === 0),
    capacityBar(site.count, site.capacity),
    h(
      'footer',
      {},
      site.staleDevices.length > 0
        ? h('span', { class: 'small warn' }, `Not counted: ${site.staleDevices.length} stale camera(s)`)
        : h(
            'span',
            { class: 'muted small' },
            'Last photo ',
            h('time', { dataset: { since: site.lastPhotoAt ?? '' } }, ago(site.lastPhotoAt)),
          ),
      h('button', { type: 'button', class: 'link', onclick: () => onSelect(`site:${site.site}`) }, 'History'),
    ),
  );
}

/** Puts `tile` where the tile with the same key is, or appends it, keeping the grid sorted by key. */
export function placeTile(container, key, attribute, tile) {
  const existing = [...container.children].find((child) => child.dataset[attribute] === key);
  if (existing) {
    existing.replaceWith(tile);
    return;
  }
  const after = [...container.children].find((child) => child.dataset.sortKey > tile.dataset.sortKey);
  container.insertBefore(tile, after ?? null);
}

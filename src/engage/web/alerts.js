// The alert list, newest first.
import { byId, clock, h } from './dom.js';

const MAX_SHOWN = 30;

export function renderAlerts(alerts, names) {
  const list = byId('alert-list');
  list.replaceChildren(...alerts.slice(0, MAX_SHOWN).map((alert) => alertItem(alert, names)));
  byId('alerts-empty').hidden = alerts.length > 0;
}

function alertItem(alert, names) {
  const target = alert.scope === 'device' ? (names.get(alert.target) ?? alert.target) : `Site ${alert.target}`;
  const raised = alert.state === 'raised';
  return h(
    'li',
    { class: `alert ${alert.state}` },
    h('span', { class: `pill ${raised ? 'offline' : 'live'}` }, raised ? 'Raised' : 'Cleared'),
    h(
      'div',
      { class: 'alert-text' },
      h('strong', {}, target),
      h(
        'span',
        { class: 'muted small' },
        raised
          ? `${alert.count} people, at or above ${round(alert.raiseAt)} (rule ${alert.ruleId})`
          : `${alert.count} people, below ${round(alert.clearBelow)} (rule ${alert.ruleId})`,
      ),
    ),
    h('time', { class: 'muted small' }, clock(alert.at)),
  );
}

const round = (value) => Math.round(value * 10) / 10;

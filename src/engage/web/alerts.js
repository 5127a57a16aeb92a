// Alerts: the rules (with their state, editable here) and the latest raised and cleared alerts.
import { api } from './api.js';
import { byId, clock, h } from './dom.js';

const MAX_SHOWN = 30;
const round = (value) => Math.round(value * 10) / 10;

export function renderAlerts(alerts, names) {
  const list = byId('alert-list');
  list.replaceChildren(...alerts.slice(0, MAX_SHOWN).map((alert) => alertItem(alert, names)));
  byId('alerts-empty').hidden = alerts.length > 0;
}

const targetName = (scope, target, names) => (scope === 'device' ? (names.get(target) ?? target) : `Site ${target}`);

function alertItem(alert, names) {
  const raised = alert.state === 'raised';
  const below = alert.direction === 'below';
  const detail = raised
    ? `${alert.count} people, ${below ? 'below' : 'at or above'} ${round(alert.raiseAt)}`
    : `${alert.count} people, ${below ? 'back at or above' : 'back below'} ${round(alert.clearBelow)}`;
  return h(
    'li',
    { class: `alert ${alert.state}` },
    h('span', { class: `pill ${raised ? 'offline' : 'live'}` }, raised ? 'Raised' : 'Cleared'),
    h(
      'div',
      { class: 'alert-text' },
      h('strong', {}, targetName(alert.scope, alert.target, names)),
      h('span', { class: 'muted small' }, `${detail} (rule ${alert.ruleId})`),
    ),
    h('time', { class: 'muted small' }, clock(alert.at)),
  );
}

/** "at or above 90 % of capacity for 2 min" */
export function describeRule(rule) {
  const level =
    rule.raiseAtCount !== undefined ? `${rule.raiseAtCount} people` : `${rule.raiseAtPercent} % of capacity`;
  const hold = rule.holdSeconds >= 60 ? `${round(rule.holdSeconds / 60)} min` : `${rule.holdSeconds} s`;
  return `${rule.direction === 'below' ? 'below' : 'at or above'} ${level}${rule.holdSeconds > 0 ? ` for ${hold}` : ''}`;
}

export function renderRules(rules, names, { onEdit, onDelete }) {
  byId('rule-list').replaceChildren(
    ...rules.map((rule) =>
      h(
        'li',
        { class: 'rule', dataset: { rule: rule.id } },
        h(
          'span',
          { class: `pill ${rule.active ? 'offline' : rule.pendingSince !== null ? 'stale' : 'idle'}` },
          rule.active ? 'Raised' : rule.pendingSince !== null ? 'Holding' : 'Clear',
        ),
        h(
          'div',
          { class: 'alert-text' },
          h('strong', {}, `${rule.id} · ${targetName(rule.scope, rule.target, names)}`),
          h('span', { class: 'muted small' }, describeRule(rule)),
        ),
        h(
          'span',
          { class: 'tile-actions' },
          h(
            'button',
            { type: 'button', class: 'link', 'aria-label': `Edit rule ${rule.id}`, onclick: () => onEdit(rule) },
            'Edit',
          ),
          h(
            'button',
            { type: 'button', class: 'link', 'aria-label': `Delete rule ${rule.id}`, onclick: () => onDelete(rule) },
            'Delete',
          ),
        ),
      ),
    ),
  );
  byId('rules-empty').hidden = rules.length > 0;
}

/** The rule dialog: site or camera, above or below a level, hold time and clear margin. */
export class RuleEditor {
  constructor({ targets }) {
    this.dialog = byId('rule-dialog');
    this.form = byId('rule-form');
    this.targets = targets;
    const { elements } = this.form;
    elements.scope.addEventListener('change', () => this.fillTargets());
    byId('rule-cancel').addEventListener('click', () => this.dialog.close());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
  }

  fillTargets(chosen) {
    const { scope, target } = this.form.elements;
    const options = this.targets(scope.value);
    target.replaceChildren(...options.map(({ value, label }) => h('option', { value }, label)));
    if (chosen !== undefined) target.value = chosen;
  }

  open(rule) {
    const { elements } = this.form;
    elements.id.value = rule?.id ?? '';
    elements.id.readOnly = rule !== undefined;
    elements.scope.value = rule?.scope ?? 'site';
    this.fillTargets(rule?.target);
    elements.direction.value = rule?.direction ?? 'above';
    elements.unit.value = rule?.raiseAtCount !== undefined ? 'count' : 'percent';
    elements.level.value = rule?.raiseAtCount ?? rule?.raiseAtPercent ?? 100;
    const hold = rule?.holdSeconds ?? 60;
    const minutes = hold > 0 && hold % 60 === 0;
    elements.holdUnit.value = minutes ? '60' : '1';
    elements.hold.value = minutes ? hold / 60 : hold;
    elements.margin.value = rule ? round(100 - rule.clearBelowPercent) : 10;
    byId('rule-form-status').textContent = '';
    this.dialog.showModal();
  }

  async save() {
    const { elements } = this.form;
    const level = Number(elements.level.value);
    const body = {
      scope: elements.scope.value,
      target: elements.target.value,
      direction: elements.direction.value,
      ...(elements.unit.value === 'count' ? { raiseAtCount: Math.round(level) } : { raiseAtPercent: level }),
      holdSeconds: Number(elements.hold.value) * Number(elements.holdUnit.value),
      clearBelowPercent: 100 - Number(elements.margin.value),
    };
    try {
      await api(`/api/alert-rules/${encodeURIComponent(elements.id.value.trim())}`, { method: 'PUT', body });
      this.dialog.close();
    } catch (error) {
      byId('rule-form-status').textContent = error.message;
    }
  }
}

// @ts-check
// Alerts: the rules (with their state, editable here) and the latest raised and cleared alerts.
import { api } from './api.js';
import { cameraLabel } from './cameras.js';
import { byId, clock, control, h, messageOf } from './dom.js';

/**
 * @typedef {import('../../core/messages.js').AlertMessage} AlertMessage
 * @typedef {import('../events.js').RuleView} RuleView
 * @typedef {'device' | 'site'} Scope
 */

const MAX_SHOWN = 30;
/** @param {number} value */
const round = (value) => Math.round(value * 10) / 10;

/** @param {AlertMessage[]} alerts */
export function renderAlerts(alerts) {
  const list = byId('alert-list');
  list.replaceChildren(...alerts.slice(0, MAX_SHOWN).map(alertItem));
  // An empty list would still take the keyboard focus (it scrolls when full): hidden until it has an alert.
  list.hidden = alerts.length === 0;
  byId('alerts-empty').hidden = alerts.length > 0;
}

/**
 * @param {Scope} scope
 * @param {string} target
 */
const targetName = (scope, target) => (scope === 'device' ? cameraLabel(target) : `Site ${target}`);

/** @param {AlertMessage} alert */
function alertItem(alert) {
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
      h('strong', {}, targetName(alert.scope, alert.target)),
      h('span', { class: 'muted small' }, `${detail} (rule ${alert.ruleId})`),
    ),
    h('time', { class: 'muted small' }, clock(alert.at)),
  );
}

/**
 * "at or above 90 % of capacity for 2 min"
 * @param {RuleView} rule
 */
export function describeRule(rule) {
  const level =
    rule.raiseAtCount !== undefined ? `${rule.raiseAtCount} people` : `${rule.raiseAtPercent} % of capacity`;
  const hold = rule.holdSeconds >= 60 ? `${round(rule.holdSeconds / 60)} min` : `${rule.holdSeconds} s`;
  return `${rule.direction === 'below' ? 'below' : 'at or above'} ${level}${rule.holdSeconds > 0 ? ` for ${hold}` : ''}`;
}

/**
 * @param {RuleView[]} rules
 * @param {{ onEdit: (rule: RuleView) => void, onDelete: (rule: RuleView) => void }} actions
 */
export function renderRules(rules, { onEdit, onDelete }) {
  const list = byId('rule-list');
  list.hidden = rules.length === 0;
  list.replaceChildren(
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
          h('strong', {}, `${rule.id} · ${targetName(rule.scope, rule.target)}`),
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

/** @typedef {{ value: string, label: string, capacity: number | null }} Target a camera or site a rule can watch */

/** The level of a new rule in % of capacity. */
const DEFAULT_PERCENT = 100;

/** The rule dialog: site or camera, above or below a level, hold time and clear margin. */
export class RuleEditor {
  /** @param {{ targets: (scope: string) => Target[] }} options */
  constructor({ targets }) {
    this.dialog = byId('rule-dialog', HTMLDialogElement);
    this.form = byId('rule-form', HTMLFormElement);
    this.targets = targets;
    /** @type {Target[]} the targets offered */
    this.offered = [];
    this.select('scope').addEventListener('change', () => {
      this.fillTargets();
      this.fitUnit();
    });
    this.select('target').addEventListener('change', () => this.fitUnit());
    byId('rule-cancel').addEventListener('click', () => this.dialog.close());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
  }

  /** @param {string} name */
  select(name) {
    return control(this.form, name, HTMLSelectElement);
  }

  /** @param {string} name */
  input(name) {
    return control(this.form, name);
  }

  /** @param {string} [chosen] */
  fillTargets(chosen) {
    const target = this.select('target');
    this.offered = this.targets(this.select('scope').value);
    target.replaceChildren(...this.offered.map(({ value, label }) => h('option', { value }, label)));
    if (chosen !== undefined) target.value = chosen;
  }

  /**
   * Offers only what can apply to the chosen target: % of capacity needs a capacity (else the level is
   * in people, and a level of 100 % is not carried over as 100 people), and a rule needs a target.
   */
  fitUnit() {
    const scope = this.select('scope').value;
    const target = this.offered.find((offered) => offered.value === this.select('target').value);
    const unit = this.select('unit');
    const hint = byId('rule-form-hint');
    const percent = /** @type {HTMLOptionElement} */ (unit.querySelector('option[value="percent"]'));
    const noCapacity = target?.capacity === null;
    percent.disabled = noCapacity;
    byId('rule-save', HTMLButtonElement).disabled = target === undefined;
    hint.hidden = target !== undefined && !noCapacity;
    if (target === undefined) {
      hint.textContent =
        this.offered.length > 0
          ? `Choose which ${scope === 'site' ? 'site' : 'camera'} to watch.`
          : scope === 'site'
            ? 'No site yet: give a camera a site (Edit on its tile) to watch the site.'
            : 'No camera yet: a camera appears once its first photo is counted.';
      return;
    }
    if (!noCapacity) return;
    hint.textContent =
      scope === 'site'
        ? `${target.label} has no capacity, so the level is in people. Give its cameras a capacity (Edit on their tiles) for a level in % of capacity.`
        : `${target.label} has no capacity, so the level is in people. Set its capacity (Edit on its tile) for a level in % of capacity.`;
    if (unit.value === 'percent') {
      unit.value = 'count';
      this.input('level').value = '';
    }
  }

  /** @param {RuleView} [rule] a rule to edit; none for a new one */
  open(rule) {
    const id = this.input('id');
    id.value = rule?.id ?? '';
    id.readOnly = rule !== undefined;
    this.select('scope').value = rule?.scope ?? 'site';
    this.fillTargets(rule?.target);
    this.select('direction').value = rule?.direction ?? 'above';
    this.select('unit').value = rule?.raiseAtCount !== undefined ? 'count' : 'percent';
    this.input('level').value = String(rule?.raiseAtCount ?? rule?.raiseAtPercent ?? DEFAULT_PERCENT);
    this.fitUnit();
    const hold = rule?.holdSeconds ?? 60;
    const minutes = hold > 0 && hold % 60 === 0;
    this.select('holdUnit').value = minutes ? '60' : '1';
    this.input('hold').value = String(minutes ? hold / 60 : hold);
    this.input('margin').value = String(rule ? round(100 - rule.clearBelowPercent) : 10);
    this.say('');
    this.dialog.showModal();
  }

  async save() {
    const level = Number(this.input('level').value);
    const body = {
      scope: this.select('scope').value,
      target: this.select('target').value,
      direction: this.select('direction').value,
      ...(this.select('unit').value === 'count' ? { raiseAtCount: Math.round(level) } : { raiseAtPercent: level }),
      holdSeconds: Number(this.input('hold').value) * Number(this.select('holdUnit').value),
      clearBelowPercent: 100 - Number(this.input('margin').value),
    };
    try {
      await api(`/api/alert-rules/${encodeURIComponent(this.input('id').value.trim())}`, { method: 'PUT', body });
      this.dialog.close();
    } catch (error) {
      this.say(messageOf(error));
    }
  }

  /** @param {string} error what the API refused, shown in the dialog; '' clears it */
  say(error) {
    const status = byId('rule-form-status');
    status.textContent = error;
    status.dataset.kind = error ? 'error' : '';
  }
}

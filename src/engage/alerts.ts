/**
 * Occupancy alerts: a threshold per device or site, above or below which an alert is raised.
 * Hysteresis (a clear level apart from the raise level) and a hold time (the condition must last,
 * like Home Assistant's `for:`) keep a noisy count at the limit from raising a storm of alerts.
 * Pure: data and the current time in, decisions out.
 */
import { z } from 'zod';

export const ruleIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'rule ID: letters, digits, . _ - (at most 64, starting alphanumeric)');

/** Longest hold time: a day. */
export const MAX_HOLD_SECONDS = 86_400;

export const alertRuleBodySchema = z
  .object({
    scope: z.enum(['device', 'site']),
    /** A device ID or a site name. */
    target: z.string().min(1).max(128),
    /** `above`: raise at or above the level (full); `below`: raise below it (empty, under-staffed). */
    direction: z.enum(['above', 'below']).default('above'),
    /** Raise at this percentage of the target's capacity (rule is idle while no capacity is set)… */
    raiseAtPercent: z.number().positive().max(1000).optional(),
    /** …or at this absolute count. */
    raiseAtCount: z.number().int().positive().optional(),
    /**
     * Hysteresis: an `above` alert clears below this percentage of the raise level; a `below`
     * alert clears at or above the raise level plus the same margin (100 − this percentage).
     */
    clearBelowPercent: z.number().positive().max(100).default(90),
    /** The condition must last this long before the alert is raised, and its end this long before it clears. */
    holdSeconds: z.number().min(0).max(MAX_HOLD_SECONDS).default(0),
  })
  .refine((rule) => (rule.raiseAtPercent === undefined) !== (rule.raiseAtCount === undefined), {
    message: 'give exactly one of raiseAtPercent or raiseAtCount',
  });
export type AlertRuleBody = z.infer<typeof alertRuleBodySchema>;
export type AlertRule = AlertRuleBody & { id: string };
/** A rule as written, before defaults are filled in. */
export type AlertRuleInput = z.input<typeof alertRuleBodySchema> & { id: string };

export interface Thresholds {
  raiseAt: number;
  /** Where the alert clears: below it (`above` rules), at or above it (`below` rules). */
  clearAt: number;
}

/** The rule's levels for a target with this capacity, or null when the rule cannot apply (no capacity). */
export function thresholdsFor(rule: AlertRuleBody, capacity: number | null): Thresholds | null {
  let raiseAt: number;
  if (rule.raiseAtCount !== undefined) raiseAt = rule.raiseAtCount;
  else if (capacity !== null && rule.raiseAtPercent !== undefined) raiseAt = (capacity * rule.raiseAtPercent) / 100;
  else return null;
  const margin = (raiseAt * (100 - rule.clearBelowPercent)) / 100;
  return { raiseAt, clearAt: rule.direction === 'above' ? raiseAt - margin : raiseAt + margin };
}

export type AlertTransition = 'raised' | 'cleared';

/** True when the count is on the other side of the level that would change an alert in state `active`. */
export function crossesLevel(
  active: boolean,
  count: number,
  thresholds: Thresholds,
  direction: AlertRuleBody['direction'],
): boolean {
  if (direction === 'above') return active ? count < thresholds.clearAt : count >= thresholds.raiseAt;
  return active ? count >= thresholds.clearAt : count < thresholds.raiseAt;
}

/** A rule's state for its target: raised or not, and since when the count has been asking for a change. */
export interface RuleState {
  active: boolean;
  /** Unix seconds since the count first crossed the level, while the hold time runs; null otherwise. */
  pendingSince: number | null;
}

/**
 * One step of a rule: a change happens once the count has stayed across the level for the hold
 * time. Going back across the level before that restarts the wait.
 */
export function nextRuleState(
  state: RuleState,
  count: number,
  thresholds: Thresholds,
  rule: Pick<AlertRuleBody, 'direction' | 'holdSeconds'>,
  now: number,
): { state: RuleState; transition: AlertTransition | null } {
  if (!crossesLevel(state.active, count, thresholds, rule.direction)) {
    return { state: { active: state.active, pendingSince: null }, transition: null };
  }
  const since = state.pendingSince ?? now;
  if (now - since >= rule.holdSeconds) {
    return { state: { active: !state.active, pendingSince: null }, transition: state.active ? 'cleared' : 'raised' };
  }
  return { state: { active: state.active, pendingSince: since }, transition: null };
}

export interface AlertSubject {
  scope: 'device' | 'site';
  target: string;
  /** Current count, or null when unknown (stale or no data): nothing changes then. */
  count: number | null;
  capacity: number | null;
}

export interface AlertDecision {
  rule: AlertRule;
  subject: AlertSubject & { count: number };
  thresholds: Thresholds;
  state: RuleState;
  transition: AlertTransition | null;
}

/** Every rule applied to its subject at `now`: each rule's next state, and the alerts to raise or clear. */
export function evaluateRules(
  rules: AlertRule[],
  subjects: AlertSubject[],
  stateOf: (rule: AlertRule) => RuleState,
  now: number,
): AlertDecision[] {
  const decisions: AlertDecision[] = [];
  for (const rule of rules) {
    const subject = subjects.find((s) => s.scope === rule.scope && s.target === rule.target);
    if (!subject || subject.count === null) continue;
    const thresholds = thresholdsFor(rule, subject.capacity);
    if (!thresholds) continue;
    const next = nextRuleState(stateOf(rule), subject.count, thresholds, rule, now);
    decisions.push({ rule, subject: { ...subject, count: subject.count }, thresholds, ...next });
  }
  return decisions;
}

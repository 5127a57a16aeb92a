/**
 * Occupancy alerts: a threshold per device or site with hysteresis, so that a count hovering at
 * the limit raises one alert rather than a storm. Pure: data in, decision out.
 */
import { z } from 'zod';

export const ruleIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'rule ID: letters, digits, . _ - (at most 64, starting alphanumeric)');

export const alertRuleBodySchema = z
  .object({
    scope: z.enum(['device', 'site']),
    /** A device ID or a site name. */
    target: z.string().min(1).max(128),
    /** Raise at this percentage of the target's capacity (rule is idle while no capacity is set)… */
    raiseAtPercent: z.number().positive().max(1000).optional(),
    /** …or at this absolute count. */
    raiseAtCount: z.number().int().positive().optional(),
    /** Clear once the count drops below this percentage of the raise level. */
    clearBelowPercent: z.number().positive().max(100).default(90),
  })
  .refine((rule) => (rule.raiseAtPercent === undefined) !== (rule.raiseAtCount === undefined), {
    message: 'give exactly one of raiseAtPercent or raiseAtCount',
  });
export type AlertRuleBody = z.infer<typeof alertRuleBodySchema>;
export type AlertRule = AlertRuleBody & { id: string };

export interface Thresholds {
  raiseAt: number;
  clearBelow: number;
}

/** The rule's levels for a target with this capacity, or null when the rule cannot apply (no capacity). */
export function thresholdsFor(rule: AlertRuleBody, capacity: number | null): Thresholds | null {
  let raiseAt: number;
  if (rule.raiseAtCount !== undefined) raiseAt = rule.raiseAtCount;
  else if (capacity !== null && rule.raiseAtPercent !== undefined) raiseAt = (capacity * rule.raiseAtPercent) / 100;
  else return null;
  return { raiseAt, clearBelow: (raiseAt * rule.clearBelowPercent) / 100 };
}

export type AlertTransition = 'raised' | 'cleared' | null;

/** Raise at or above `raiseAt`; once raised, stay raised until the count drops below `clearBelow`. */
export function nextTransition(active: boolean, count: number, thresholds: Thresholds): AlertTransition {
  if (!active && count >= thresholds.raiseAt) return 'raised';
  if (active && count < thresholds.clearBelow) return 'cleared';
  return null;
}

export interface AlertSubject {
  scope: 'device' | 'site';
  target: string;
  /** Current count, or null when unknown (stale or no data): no transition then. */
  count: number | null;
  capacity: number | null;
}

export interface AlertDecision {
  rule: AlertRule;
  subject: AlertSubject & { count: number };
  thresholds: Thresholds;
  state: Exclude<AlertTransition, null>;
}

/** Every rule applied to its subject: the alerts to raise or clear now. */
export function evaluateRules(
  rules: AlertRule[],
  subjects: AlertSubject[],
  isActive: (ruleId: string, target: string) => boolean,
): AlertDecision[] {
  const decisions: AlertDecision[] = [];
  for (const rule of rules) {
    const subject = subjects.find((s) => s.scope === rule.scope && s.target === rule.target);
    if (!subject || subject.count === null) continue;
    const thresholds = thresholdsFor(rule, subject.capacity);
    if (!thresholds) continue;
    const state = nextTransition(isActive(rule.id, rule.target), subject.count, thresholds);
    if (state) decisions.push({ rule, subject: { ...subject, count: subject.count }, thresholds, state });
  }
  return decisions;
}

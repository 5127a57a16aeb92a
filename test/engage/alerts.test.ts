import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AlertRule,
  alertRuleBodySchema,
  evaluateRules,
  nextTransition,
  thresholdsFor,
} from '../../src/engage/alerts.js';

const rule = (fields: Partial<AlertRule>): AlertRule => ({
  id: 'r1',
  scope: 'device',
  target: 'cam-1',
  clearBelowPercent: 90,
  ...fields,
});

test('thresholds come from capacity (percent) or from a count, with the clear level below', () => {
  assert.deepEqual(thresholdsFor(rule({ raiseAtPercent: 100 }), 50), { raiseAt: 50, clearBelow: 45 });
  assert.deepEqual(thresholdsFor(rule({ raiseAtPercent: 80, clearBelowPercent: 50 }), 100), {
    raiseAt: 80,
    clearBelow: 40,
  });
  assert.deepEqual(thresholdsFor(rule({ raiseAtCount: 20 }), null), { raiseAt: 20, clearBelow: 18 });
  assert.equal(thresholdsFor(rule({ raiseAtPercent: 100 }), null), null, 'a percent rule needs a capacity');
});

test('hysteresis: raise at the threshold, stay raised until below the clear level', () => {
  const levels = { raiseAt: 50, clearBelow: 45 };
  const counts = [10, 49, 50, 52, 47, 45, 50, 44, 49, 50];
  let active = false;
  const transitions: Array<string | null> = [];
  for (const count of counts) {
    const transition = nextTransition(active, count, levels);
    if (transition) active = transition === 'raised';
    transitions.push(transition);
  }
  assert.deepEqual(transitions, [null, null, 'raised', null, null, null, null, 'cleared', null, 'raised']);
});

test('rule body: exactly one of raiseAtPercent and raiseAtCount; clear defaults to 90 %', () => {
  assert.equal(alertRuleBodySchema.safeParse({ scope: 'site', target: 'a' }).success, false);
  assert.equal(
    alertRuleBodySchema.safeParse({ scope: 'site', target: 'a', raiseAtPercent: 100, raiseAtCount: 3 }).success,
    false,
  );
  const parsed = alertRuleBodySchema.parse({ scope: 'site', target: 'a', raiseAtCount: 3 });
  assert.equal(parsed.clearBelowPercent, 90);
});

test('evaluateRules skips unknown counts and subjects, and respects the current state', () => {
  const rules = [
    rule({ id: 'door', raiseAtPercent: 100 }),
    rule({ id: 'lobby', scope: 'site', target: 'lobby', raiseAtCount: 10 }),
    rule({ id: 'ghost', target: 'cam-missing', raiseAtCount: 1 }),
  ];
  const decisions = evaluateRules(
    rules,
    [
      { scope: 'device', target: 'cam-1', count: 12, capacity: 12 },
      { scope: 'site', target: 'lobby', count: null, capacity: 40 },
    ],
    () => false,
  );
  assert.deepEqual(
    decisions.map((d) => [d.rule.id, d.state, d.subject.count]),
    [['door', 'raised', 12]],
  );
  const cleared = evaluateRules(rules, [{ scope: 'device', target: 'cam-1', count: 10, capacity: 12 }], () => true);
  assert.deepEqual(
    cleared.map((d) => [d.rule.id, d.state]),
    [['door', 'cleared']],
  );
});

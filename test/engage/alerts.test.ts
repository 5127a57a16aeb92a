import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AlertRule,
  type AlertTransition,
  alertRuleBodySchema,
  evaluateRules,
  nextRuleState,
  type RuleState,
  thresholdsFor,
} from '../../src/engage/alerts.js';

const rule = (fields: Partial<AlertRule>): AlertRule => ({
  id: 'r1',
  scope: 'device',
  target: 'cam-1',
  direction: 'above',
  clearBelowPercent: 90,
  holdSeconds: 0,
  ...fields,
});

const idle: RuleState = { active: false, pendingSince: null };

/** Feeds (time, count) samples through one rule; returns the transitions and when they happened. */
function run(r: AlertRule, samples: Array<[number, number]>): Array<[number, AlertTransition]> {
  const thresholds = thresholdsFor(r, null);
  assert.ok(thresholds);
  let state = idle;
  const transitions: Array<[number, AlertTransition]> = [];
  for (const [t, count] of samples) {
    const next = nextRuleState(state, count, thresholds, r, t);
    state = next.state;
    if (next.transition) transitions.push([t, next.transition]);
  }
  return transitions;
}

test('thresholds come from capacity (percent) or from a count, with the clear level on the far side', () => {
  assert.deepEqual(thresholdsFor(rule({ raiseAtPercent: 100 }), 50), { raiseAt: 50, clearAt: 45 });
  assert.deepEqual(thresholdsFor(rule({ raiseAtPercent: 80, clearBelowPercent: 50 }), 100), {
    raiseAt: 80,
    clearAt: 40,
  });
  assert.deepEqual(thresholdsFor(rule({ raiseAtCount: 20 }), null), { raiseAt: 20, clearAt: 18 });
  assert.deepEqual(thresholdsFor(rule({ raiseAtCount: 20, direction: 'below' }), null), { raiseAt: 20, clearAt: 22 });
  assert.equal(thresholdsFor(rule({ raiseAtPercent: 100 }), null), null, 'a percent rule needs a capacity');
});

test('hysteresis: raise at the threshold, stay raised until below the clear level', () => {
  const counts = [10, 49, 50, 52, 47, 45, 50, 44, 49, 50];
  const transitions = run(
    rule({ raiseAtCount: 50 }),
    counts.map((count, i) => [i, count]),
  );
  assert.deepEqual(transitions, [
    [2, 'raised'],
    [7, 'cleared'],
    [9, 'raised'],
  ]);
});

test('below: raise under the level, clear at the level plus the margin', () => {
  const counts = [5, 3, 1, 2, 3, 2, 4];
  const transitions = run(
    rule({ raiseAtCount: 2, direction: 'below', clearBelowPercent: 50 }),
    counts.map((count, i) => [i, count]),
  );
  assert.deepEqual(transitions, [
    [2, 'raised'],
    [4, 'cleared'],
  ]);
});

test('hold time: the count must stay across the level for the hold before raising, and before clearing', () => {
  const flappy = rule({ raiseAtCount: 10, holdSeconds: 60 });
  // Noise around the limit: over for 20 s, under, over for 40 s, under… never 60 s in a row.
  const noisy: Array<[number, number]> = [
    [0, 11],
    [20, 9],
    [30, 12],
    [70, 8],
    [80, 10],
    [130, 7],
  ];
  assert.deepEqual(run(flappy, noisy), [], 'no alert while the condition never lasts the hold time');
  const sustained: Array<[number, number]> = [
    [0, 11],
    [30, 12],
    [59, 13],
    [60, 12], // 60 s over the level: raised now
    [100, 3],
    [150, 4], // 50 s under: still raised
    [155, 10], // back over (above the clear level 9): the clear wait restarts
    [170, 2],
    [229, 2],
    [230, 2], // 60 s under: cleared
  ];
  assert.deepEqual(run(flappy, sustained), [
    [60, 'raised'],
    [230, 'cleared'],
  ]);
});

test('rule body: exactly one of raiseAtPercent and raiseAtCount; clear 90 %, above, no hold by default', () => {
  assert.equal(alertRuleBodySchema.safeParse({ scope: 'site', target: 'a' }).success, false);
  assert.equal(
    alertRuleBodySchema.safeParse({ scope: 'site', target: 'a', raiseAtPercent: 100, raiseAtCount: 3 }).success,
    false,
  );
  assert.equal(
    alertRuleBodySchema.safeParse({ scope: 'site', target: 'a', raiseAtCount: 3, holdSeconds: -1 }).success,
    false,
  );
  const parsed = alertRuleBodySchema.parse({ scope: 'site', target: 'a', raiseAtCount: 3 });
  assert.equal(parsed.clearBelowPercent, 90);
  assert.equal(parsed.direction, 'above');
  assert.equal(parsed.holdSeconds, 0);
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
    () => idle,
    1000,
  );
  assert.deepEqual(
    decisions.map((d) => [d.rule.id, d.transition, d.subject.count]),
    [['door', 'raised', 12]],
  );
  const cleared = evaluateRules(
    rules,
    [{ scope: 'device', target: 'cam-1', count: 10, capacity: 12 }],
    () => ({ active: true, pendingSince: null }),
    1000,
  );
  assert.deepEqual(
    cleared.map((d) => [d.rule.id, d.transition]),
    [['door', 'cleared']],
  );
});

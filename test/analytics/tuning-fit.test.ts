/** The pure parts of tuning: folds, the fit on measured frames and the profile hash. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profileHash } from '../../src/analytics/live-profile.js';
import { SINGLE_TILE } from '../../src/analytics/tiling.js';
import { consecutiveFolds, fitMeasuredFrames, TuningInputError } from '../../src/analytics/tuning-fit.js';
import type { Detection } from '../../src/core/messages.js';

const box = (y: number, height: number, score: number): Detection => ({ box: [10, y, 30, y + height], score });

test('consecutive folds cover every frame once', () => {
  assert.deepEqual(consecutiveFolds(6, 4), [[0], [1, 2], [3], [4, 5]]);
  assert.deepEqual(consecutiveFolds(3, 4), [[0], [1], [2]]);
});

test('the fit needs 4 frames; it chooses on all and cross-validates the choice', () => {
  const frameWith = (people: number, before: number) => ({
    truth: people,
    // Every person found at 0.3, plus noise at 0.12 that a threshold should drop.
    detections: [[...Array.from({ length: people }, () => box(0, 50, 0.3)), box(0, 50, 0.12), box(0, 50, 0.12)]],
    before,
  });
  assert.throws(
    () => fitMeasuredFrames([frameWith(1, 0), frameWith(2, 0), frameWith(3, 0)], [SINGLE_TILE]),
    TuningInputError,
  );
  const frames = [3, 7, 5, 9, 4, 8].map((n) => frameWith(n, 0));
  const report = fitMeasuredFrames(frames, [SINGLE_TILE]);
  assert.equal(report.frames, 6);
  assert.equal(report.maeBefore, (3 + 7 + 5 + 9 + 4 + 8) / 6);
  assert.ok(report.maeAfter < 0.5, `cross-validated MAE ${report.maeAfter}`);
  // Dropping the noise by threshold or subtracting it by correction are both exact here.
  assert.ok(report.profile.scoreThreshold !== undefined);
});

test('the profile hash ignores field order and undefined fields', () => {
  assert.equal(
    profileHash({ scoreThreshold: 0.3, correction: { scale: 1, offset: 2 } }),
    profileHash({ correction: { offset: 2, scale: 1 }, scoreThreshold: 0.3, roi: undefined }),
  );
  assert.notEqual(profileHash({ scoreThreshold: 0.3 }), profileHash({ scoreThreshold: 0.31 }));
  assert.match(profileHash({}), /^[0-9a-f]{12}$/);
});

/** The pure parts of tuning: the crowd-view hint, folds, the fit on measured frames and the profile hash. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profileHash } from '../../src/analytics/live-profile.js';
import { SINGLE_TILE } from '../../src/analytics/tiling.js';
import { consecutiveFolds, fitMeasuredFrames, TuningInputError } from '../../src/analytics/tuning-fit.js';
import { CROWD_VIEW_HINT, viewHints } from '../../src/analytics/view-hints.js';
import type { Detection } from '../../src/core/messages.js';

const box = (y: number, height: number, score: number): Detection => ({ box: [10, y, 30, y + height], score });

test('crowd-view: many small candidates left uncounted; not for a few near people', () => {
  const frame = (detections: Detection[]) => ({ detections, width: 640, height: 480 });
  const near = [box(100, 300, 0.9), box(120, 280, 0.8)];
  assert.deepEqual(viewHints(frame(near), near), []);
  const small = Array.from({ length: 8 }, (_, i) => box(20 + i, 40, 0.25));
  assert.deepEqual(viewHints(frame([...near, ...small]), near), [CROWD_VIEW_HINT]);
  // As many counted as missed: the view is handled.
  const counted = [...near, ...small.slice(0, 4)];
  assert.deepEqual(viewHints(frame([...near, ...small]), counted), []);
});

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

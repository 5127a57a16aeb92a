/** The pure parts of tuning: folds, the fit on measured frames and the profile hash. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SINGLE_TILE, type Tiling } from '../../src/analytics/tiling.js';
import {
  consecutiveFolds,
  fitDensityFrames,
  fitDensityScale,
  fitMeasuredFrames,
} from '../../src/analytics/tuning-fit.js';
import { profileHash } from '../../src/core/live-profile.js';
import type { Detection } from '../../src/core/messages.js';
import { TuningInputError } from '../../src/core/tuning.js';

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

test('a density-counted camera is tuned by one scale, its error cross-validated', () => {
  // The map counts 80 % of the people on every frame; one frame was counted by the detector.
  const frames = [30, 42, 25, 38, 33, 47, 29, 36].map((truth) => ({
    truth,
    before: Math.round(truth * 0.8),
    densitySum: truth * 0.8,
  }));
  const sparse = { truth: 2, before: 2, densitySum: undefined };
  assert.equal(fitDensityScale([...frames, sparse]), 1.25);
  assert.equal(fitDensityScale([sparse]), 1, 'no density frame: the scale stays 1');
  const report = fitDensityFrames([...frames, sparse], {
    roi: [
      [0, 0],
      [10, 0],
      [10, 10],
    ],
  });
  assert.equal(report.counter, 'density');
  assert.deepEqual(report.profile, {
    roi: [
      [0, 0],
      [10, 0],
      [10, 10],
    ],
    density: { scale: 1.25 },
  });
  assert.ok(report.maeBefore > 5);
  assert.ok(report.maeAfter < 0.5, `cross-validated MAE ${report.maeAfter}`);
  assert.equal(report.passes, 2, 'auto: the whole frame, then density');
  assert.equal(fitDensityFrames(frames, { method: 'density' }).passes, 1);
});

test('the density scale is cross-validated: a frame unlike the others is not fitted to itself', () => {
  // Three frames at 80 %, one at 40 %: the scale fitted without it (1.25) misses it by 15.
  const frames = [
    { truth: 40, before: 32, densitySum: 32 },
    { truth: 40, before: 32, densitySum: 32 },
    { truth: 40, before: 32, densitySum: 32 },
    { truth: 40, before: 16, densitySum: 16 },
  ];
  const report = fitDensityFrames(frames);
  assert.equal(
    report.maeAfter,
    (Math.abs(40 - Math.round(16 * 1.25)) + 3 * Math.abs(40 - Math.round(32 * (120 / 80)))) / 4,
  );
});

test('the profile hash ignores field order and undefined fields', () => {
  assert.equal(
    profileHash({ scoreThreshold: 0.3, correction: { scale: 1, offset: 2 } }),
    profileHash({ correction: { offset: 2, scale: 1 }, scoreThreshold: 0.3, roi: undefined }),
  );
  assert.notEqual(profileHash({ scoreThreshold: 0.3 }), profileHash({ scoreThreshold: 0.31 }));
  assert.match(profileHash({}), /^[0-9a-f]{12}$/);
});

test('with every frame marked the fit learns from the marks; one frame only counted falls back to counts', () => {
  // n people marked at the top of their boxes; the model finds all of them at 0.6 and a false box at 0.12.
  const markedFrame = (people: number) => ({
    truth: people,
    marks: Array.from({ length: people }, (_, i) => [15 + i * 30, 52] as const),
    detections: [
      [
        ...Array.from({ length: people }, (_, i): Detection => ({ box: [i * 30, 50, i * 30 + 30, 150], score: 0.6 })),
        box(400, 50, 0.12),
      ],
    ],
    before: 0,
  });
  const frames = [3, 7, 0, 9, 4, 8].map(markedFrame);
  const report = fitMeasuredFrames(frames, [SINGLE_TILE]);
  assert.equal(report.method, 'marks');
  assert.equal(report.maeAfter, 0, 'every person found and the false box weighed 0');
  assert.equal(report.profile.counting?.mode, 'score-bins');
  assert.deepEqual([report.passes, report.tiling, report.wholeFrame], [1, '1x1@0', false], 'what it costs per photo');
  // An empty frame needs no marks; a counted frame without marks makes the fit use the counts.
  assert.equal(fitMeasuredFrames([...frames, { ...markedFrame(0), marks: null }], [SINGLE_TILE]).method, 'marks');
  assert.equal(fitMeasuredFrames([...frames, { ...markedFrame(5), marks: null }], [SINGLE_TILE]).method, 'counts');
});

test('marks fit a two-scale profile (tiles + whole frame) and cross-validate it through both passes', () => {
  const GRID: Tiling = { rows: 2, cols: 2, overlap: 0.2 };
  // n small people the tiles find, and one large person only the whole frame finds.
  const frame = (small: number) => {
    const people = Array.from(
      { length: small },
      (_, i): Detection => ({ box: [i * 30, 50, i * 30 + 30, 150], score: 0.6 }),
    );
    const large: Detection = { box: [300, 0, 500, 400], score: 0.8 };
    return {
      truth: small + 1,
      marks: [...people.map((p) => [p.box[0] + 15, 52] as const), [400, 10] as const],
      detections: [[large], people],
      before: 0,
    };
  };
  const report = fitMeasuredFrames([3, 7, 2, 9, 4, 8].map(frame), [SINGLE_TILE, GRID]);
  assert.equal(report.method, 'marks');
  assert.deepEqual([report.passes, report.tiling, report.wholeFrame], [5, '2x2@0.2', true]);
  assert.equal(report.maeAfter, 0, 'each scale counts its own people once');
});

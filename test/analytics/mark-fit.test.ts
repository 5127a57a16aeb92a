/** Fitting from marked people (mark-fit.ts): matching marks to candidate boxes, the tiling and the weights. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binIndex, countScores } from '../../src/analytics/counting.js';
import {
  fitMarkedFrames,
  type Mark,
  type MarkedFrame,
  MIN_RECALL_GAIN,
  matchMarks,
} from '../../src/analytics/mark-fit.js';
import { SINGLE_TILE, type Tiling } from '../../src/analytics/tiling.js';
import type { Detection } from '../../src/core/messages.js';

/** A 20×60 person box with its top-left corner at (x, y). */
const person = (x: number, y: number, score: number): Detection => ({ box: [x, y, x + 20, y + 60], score });
const GRID: Tiling = { rows: 2, cols: 2, overlap: 0.2 };

test('a mark goes to the best-scored box it lies in, once; heads may stick out above the box', () => {
  const strong = person(0, 100, 0.9);
  const weak = person(5, 100, 0.3);
  // Above the top by 6 px (10 % of the height): still this person's head.
  assert.deepEqual(matchMarks([weak, strong], [[10, 94]]), [false, true]);
  // Two marks: each box takes one.
  assert.deepEqual(
    matchMarks(
      [weak, strong],
      [
        [10, 106],
        [15, 110],
      ],
    ),
    [true, true],
  );
  // Outside every box, or far above it: nobody's.
  assert.deepEqual(matchMarks([strong], [[50, 120]]), [false]);
  assert.deepEqual(matchMarks([strong], [[10, 80]]), [false]);
  // A click on the body works too.
  assert.deepEqual(matchMarks([strong], [[10, 150]]), [true]);
});

test('the weights are the share of people per score bin, scaled up for the people no box found', () => {
  // Every frame: 4 people marked; the whole frame finds 3 of them at 0.6 and one false box at 0.12.
  const marks: Mark[] = [
    [10, 105],
    [60, 105],
    [110, 105],
    [160, 105],
  ];
  const frame: MarkedFrame = {
    marks,
    detections: [[person(0, 100, 0.6), person(50, 100, 0.6), person(100, 100, 0.6), person(300, 100, 0.12)]],
  };
  const fit = fitMarkedFrames([frame, frame, frame, frame], [SINGLE_TILE], 0.1);
  assert.ok(fit);
  assert.equal(fit.tilingIndex, 0);
  assert.equal(fit.wholeFrameIndex, undefined, 'no whole-frame pass');
  assert.equal(fit.recall, 0.75);
  assert.equal(fit.profile.tiling, undefined);
  assert.equal(fit.profile.scoreThreshold, 0.1);
  const counting = fit.profile.counting;
  assert.ok(counting?.mode === 'score-bins');
  const weightAt = (score: number) => counting.weights[binIndex(score, counting.edges)];
  assert.equal(weightAt(0.12), 0, 'the false box counts nothing');
  assert.equal(weightAt(0.6), 1.3333, 'each found person stands for 4/3 people');
  // 3 boxes at 0.6 → 4 people.
  assert.equal(3 * (weightAt(0.6) ?? 0), 3.9999);
});

test('a finer tiling is chosen only when it finds more of the marked people', () => {
  const marks: Mark[] = Array.from({ length: 50 }, (_, i) => [10 + i * 30, 105]);
  const found = (n: number) => Array.from({ length: n }, (_, i) => person(i * 30, 100, 0.5));
  const frameFinding = (whole: number, tiles: number): MarkedFrame => ({
    marks,
    detections: [found(whole), found(tiles)],
  });
  const chosenTiling = (whole: number, tiles: number) =>
    fitMarkedFrames([frameFinding(whole, tiles)], [SINGLE_TILE, GRID], 0.1)?.tilingIndex;
  assert.equal(chosenTiling(25, 45), 1, 'the grid finds 40 % more');
  assert.equal(chosenTiling(25, 25 + Math.floor(50 * MIN_RECALL_GAIN)), 0, 'the grid finds only 2 % more');
  assert.equal(chosenTiling(45, 25), 0);
  // The order the tilings are listed in does not matter: cost does.
  assert.equal(
    fitMarkedFrames([{ marks, detections: [found(40), found(40)] }], [GRID, SINGLE_TILE], 0.1)?.tilingIndex,
    1,
  );
});

test('the whole frame as a second scale counts only the people the tiles missed', () => {
  const marks: Mark[] = Array.from({ length: 50 }, (_, i) => [10 + i * 30, 105]);
  const people = (from: number, to: number, score: number) =>
    Array.from({ length: to - from }, (_, i) => person((from + i) * 30, 100, score));
  // The whole frame finds people 20–49; the tiles find 0–29. Both find 20–29.
  const frame: MarkedFrame = { marks, detections: [people(20, 50, 0.8), people(0, 30, 0.5)] };
  const fit = fitMarkedFrames([frame], [SINGLE_TILE, GRID], 0.1);
  assert.ok(fit);
  assert.equal(fit.tilingIndex, 1);
  assert.equal(fit.wholeFrameIndex, 0, 'the whole frame (candidate 0) as the second scale');
  assert.equal(fit.recall, 1);
  const counting = fit.profile.counting;
  assert.ok(counting?.mode === 'score-bins' && counting.wholeFrameWeights);
  assert.equal(counting.weights[binIndex(0.5, counting.edges)], 1);
  assert.equal(counting.wholeFrameWeights[binIndex(0.8, counting.edges)], 0.6667, '20 of its 30 are new');
  assert.equal(countScores(new Array(30).fill(0.5), counting, new Array(30).fill(0.8)), 50.001);
});

test('no profile when no box is any marked person', () => {
  const frame: MarkedFrame = { marks: [[500, 500]], detections: [[person(0, 100, 0.9)]] };
  assert.equal(fitMarkedFrames([frame], [SINGLE_TILE], 0.1), undefined);
  assert.equal(fitMarkedFrames([{ marks: [], detections: [[]] }], [SINGLE_TILE], 0.1), undefined);
});

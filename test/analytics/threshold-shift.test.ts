import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  countDetections,
  DEFAULT_SCORE_THRESHOLD,
  DEFAULT_THRESHOLD_SHIFT,
  detectOptionsFor,
} from '../../src/analytics/postprocess.js';
import {
  countAbove,
  crossValidatedMae,
  fitThresholdShift,
  labelledSamples,
  lowestShiftedThreshold,
  placementOf,
  type ShiftSample,
  shiftedThreshold,
} from '../../src/analytics/threshold-shift.js';
import type { Detection } from '../../src/core/messages.js';
import { cameraProfileSchema } from '../../src/core/people-counter.js';

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const frame = { width: 400, height: 400 };
const shift = { perHalvingHeight: 0.4, atFrameEdge: 0.7 };

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so the synthetic fits are reproducible. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('size- and edge-aware threshold', () => {
  it('applies the threshold as given at half the frame height, away from the edge', () => {
    const placement = placementOf([100, 100, 140, 300], frame);
    assert.deepEqual(placement, { relativeHeight: 0.5, atFrameEdge: false });
    assert.equal(shiftedThreshold(0.3, shift, placement), 0.3);
    assert.equal(shiftedThreshold(0.3, { perHalvingHeight: 0, atFrameEdge: 0 }, placementOf([0, 0, 5, 5], frame)), 0.3);
  });

  it('raises it on the logit scale per halving of the height and at the frame edge, lowers it for taller boxes', () => {
    const quarter = shiftedThreshold(0.3, shift, placementOf([100, 100, 120, 200], frame));
    assert.ok(Math.abs(logit(quarter) - (logit(0.3) + 0.4)) < 1e-9);
    const eighthAtEdge = shiftedThreshold(0.3, shift, placementOf([0, 100, 10, 150], frame));
    assert.ok(Math.abs(logit(eighthAtEdge) - (logit(0.3) + 0.8 + 0.7)) < 1e-9);
    const whole = shiftedThreshold(0.3, shift, placementOf([100, 2, 200, 398], frame));
    assert.ok(Math.abs(logit(whole) - (logit(0.3) + 0.4 * Math.log2(0.5 / 0.99))) < 1e-9);
    assert.ok(whole < 0.3);
  });

  it('tells the model the lowest score any box can be counted at', () => {
    const lowest = lowestShiftedThreshold(0.3, shift);
    assert.ok(Math.abs(logit(lowest) - (logit(0.3) - 0.4)) < 1e-9, 'a box the full frame tall');
    assert.ok(lowest <= shiftedThreshold(0.3, shift, placementOf([100, 0, 200, 400], frame)) + 1e-12);
    assert.ok(lowestShiftedThreshold(0.3, { perHalvingHeight: 0.4, atFrameEdge: -1 }) < lowest);
    assert.equal(lowestShiftedThreshold(0.3, { perHalvingHeight: 0, atFrameEdge: 0 }), 0.3);
  });

  it('is the default without a profile threshold; a profile threshold alone stays flat', () => {
    const detections: Detection[] = [
      { box: [100, 50, 140, 290], score: 0.42 }, // tall (0.6 of the frame): counted below the reference threshold
      { box: [200, 100, 210, 140], score: 0.55 }, // small (0.1): needs more than 0.55
      { box: [0, 100, 40, 300], score: 0.5 }, // half height but cut by the left edge
      { box: [300, 100, 340, 300], score: 0.5 }, // half height, whole
    ];
    const counted = countDetections({ detections, ...frame });
    assert.deepEqual(
      counted.detections.map((d) => d.score),
      [0.42, 0.5],
    );
    assert.equal(countDetections({ detections, ...frame }, { scoreThreshold: 0.5 }).count, 3);
    assert.equal(countDetections({ detections, ...frame }, { scoreThreshold: 0.4, thresholdShift: shift }).count, 2);
    const { minScore } = detectOptionsFor({});
    assert.ok(minScore < DEFAULT_SCORE_THRESHOLD && minScore > 0.3, `model asked for scores ≥ ${minScore}`);
    assert.ok(DEFAULT_THRESHOLD_SHIFT.perHalvingHeight > 0 && DEFAULT_THRESHOLD_SHIFT.atFrameEdge > 0);
    assert.equal(
      cameraProfileSchema.safeParse({ thresholdShift: { perHalvingHeight: 9, atFrameEdge: 0 } }).success,
      false,
    );
  });

  it('matches each labelled box to at most one detection, the highest-scoring with IoU ≥ 0.5', () => {
    const samples = labelledSamples(
      [
        { box: [10, 10, 50, 200], score: 0.6 },
        { box: [12, 12, 52, 202], score: 0.9 }, // the same person, higher score: takes the box
        { box: [300, 10, 340, 200], score: 0.7 }, // nobody labelled there
        { box: [100, 100, 160, 260], score: 0.4 }, // overlaps the second box only by IoU < 0.5
      ],
      [
        [10, 10, 50, 200],
        [100, 10, 140, 200],
      ],
      frame,
    );
    assert.deepEqual(
      samples.map((s) => [s.score, s.person]),
      [
        [0.9, true],
        [0.7, false],
        [0.6, false],
        [0.4, false],
      ],
    );
  });

  it('recovers a known threshold and shifts from detections drawn from them', () => {
    const next = random(7);
    const truth = { bias: 1, perLogit: 4, perHalving: -1.6, atEdge: -2.4 };
    const samples: ShiftSample[] = Array.from({ length: 20_000 }, () => {
      const score = 0.05 + 0.9 * next();
      const relativeHeight = 0.05 + 0.9 * next();
      const atFrameEdge = next() < 0.3;
      const z =
        truth.bias +
        truth.perLogit * logit(score) +
        truth.perHalving * Math.log2(0.5 / relativeHeight) +
        (atFrameEdge ? truth.atEdge : 0);
      return { score, relativeHeight, atFrameEdge, person: next() < sigmoid(z) };
    });
    const fitted = fitThresholdShift(samples, 0.01);
    assert.ok(Math.abs(logit(fitted.scoreThreshold) - -truth.bias / truth.perLogit) < 0.05, JSON.stringify(fitted));
    assert.ok(Math.abs(fitted.shift.perHalvingHeight - 0.4) < 0.05, JSON.stringify(fitted));
    assert.ok(Math.abs(fitted.shift.atFrameEdge - 0.6) < 0.08, JSON.stringify(fitted));
    assert.throws(() => fitThresholdShift(samples.map((s) => ({ ...s, person: false }))), /labelled people/);
  });

  it('cross-validates photo counts: each held-out photo is counted with a fit on the others', () => {
    // Persons score high whatever their size; small noise scores up to 0.6; big noise never appears.
    const photo = (people: number, noise: number) => ({
      truth: people,
      samples: [
        ...Array.from({ length: people }, (_, i) => ({
          score: 0.7 + 0.02 * i,
          relativeHeight: 0.5,
          atFrameEdge: false,
          person: true,
        })),
        ...Array.from({ length: noise }, (_, i) => ({
          score: 0.3 + 0.06 * i,
          relativeHeight: 0.05,
          atFrameEdge: false,
          person: false,
        })),
      ],
    });
    const photos = [photo(1, 2), photo(2, 5), photo(3, 1), photo(0, 6), photo(4, 3), photo(2, 0)];
    assert.equal(
      crossValidatedMae(
        photos,
        photos.map((_, i) => [i]),
      ),
      0,
    );
    const fitted = fitThresholdShift(photos.flatMap((p) => p.samples));
    assert.equal(countAbove(photo(2, 5).samples, fitted), 2);
  });
});

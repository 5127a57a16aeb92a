import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  binEdgesFrom,
  calibrate,
  fitMask,
  parseTilingList,
  splitIndex,
  thresholdGrid,
  validationFolds,
} from '../../src/analytics/calibration.js';
import { applyCorrection, fitCorrection, fitScale } from '../../src/analytics/correction.js';
import { binHistogram, binIndex, countScores, fitScoreBins } from '../../src/analytics/counting.js';
import { meanAbsoluteError, percentile, summarise } from '../../src/analytics/evaluation.js';
import { fuseFlipped, unflip } from '../../src/analytics/flip.js';
import { iou, nonMaxSuppression } from '../../src/analytics/nms.js';
import { countDetections, detectOptionsFor } from '../../src/analytics/postprocess.js';
import { withinRoi } from '../../src/analytics/roi.js';
import { mergeTiles, SINGLE_TILE, tileCount, tileLayout, tilingLabel, toFrame } from '../../src/analytics/tiling.js';
import { footPoint, insidePolygon } from '../../src/core/geometry.js';
import type { Detection } from '../../src/core/messages.js';
import { cameraProfileSchema } from '../../src/core/people-counter.js';

const det = (x1: number, y1: number, x2: number, y2: number, score = 0.9): Detection => ({
  box: [x1, y1, x2, y2],
  score,
});
/** A 300×80 frame: the 40 px tall boxes of these tests are half its height, the reference of the default threshold. */
const frame = (detections: Detection[], wholeFrame?: Detection[]) => ({
  detections,
  wholeFrame,
  width: 300,
  height: 80,
});

describe('NMS', () => {
  it('computes IoU of overlapping, identical and disjoint boxes', () => {
    assert.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
    assert.equal(iou([0, 0, 10, 10], [20, 20, 30, 30]), 0);
    assert.ok(Math.abs(iou([0, 0, 10, 10], [5, 0, 15, 10]) - 50 / 150) < 1e-12);
  });

  it('keeps the best of duplicate peaks and every separate person', () => {
    const kept = nonMaxSuppression([det(0, 0, 10, 20, 0.6), det(1, 0, 11, 20, 0.8), det(50, 0, 60, 20, 0.7)], 0.4);
    assert.deepEqual(
      kept.map((d) => d.score),
      [0.8, 0.7],
    );
  });

  it('commutes with a score threshold (calibration relies on it)', () => {
    const boxes = [det(0, 0, 10, 20, 0.3), det(2, 0, 12, 20, 0.5), det(4, 0, 14, 20, 0.45), det(30, 0, 40, 20, 0.2)];
    for (const t of [0.1, 0.25, 0.4, 0.46, 0.6]) {
      const before = nonMaxSuppression(boxes.filter((d) => d.score >= t));
      const after = nonMaxSuppression(boxes).filter((d) => d.score >= t);
      assert.deepEqual(after, before);
    }
  });
});

describe('tiling', () => {
  it('covers the frame with overlapping tiles of equal size', () => {
    const tiles = tileLayout(640, 480, { rows: 2, cols: 2, overlap: 0.2 });
    assert.equal(tiles.length, 4);
    const [a, b, c] = tiles;
    assert.deepEqual(a, { left: 0, top: 0, width: 356, height: 267 });
    assert.equal(b?.left, 640 - 356);
    assert.equal((b?.left ?? 0) + (b?.width ?? 0), 640);
    assert.equal((c?.top ?? 0) + (c?.height ?? 0), 480);
    // Overlap: the second tile starts before the first one ends.
    assert.ok((b?.left ?? 0) < (a?.width ?? 0));
  });

  it('zooms into the far rows with bands of their own column count', () => {
    const tiling = {
      bands: [
        { to: 0.25, cols: 4 },
        { to: 1, cols: 2 },
      ],
      overlap: 0.2,
    };
    const tiles = tileLayout(640, 480, tiling);
    assert.equal(tiles.length, 6);
    assert.equal(tileCount(tiling), 6);
    const top = tiles.slice(0, 4);
    const bottom = tiles.slice(4);
    // The top band: 120 rows, grown by 0.2 × 120 past its lower edge; 4 columns covering the width.
    for (const tile of top) assert.deepEqual([tile.top, tile.height], [0, 144]);
    assert.equal(top[0]?.left, 0);
    assert.equal((top[3]?.left ?? 0) + (top[3]?.width ?? 0), 640);
    // The bottom band starts 0.2 × its 360 rows above its nominal top (120) and reaches the bottom.
    for (const tile of bottom) assert.deepEqual([tile.top, tile.top + tile.height], [48, 480]);
    // Top tiles are narrower, so the model sees their people larger.
    assert.ok((top[0]?.width ?? 0) < (bottom[0]?.width ?? 0));
    assert.equal(tilingLabel(tiling), '0.25x4/1x2@0.2');
  });

  it('parses grid and band tilings on the command line and refuses bad ones', () => {
    assert.deepEqual(parseTilingList('1x1,2x2@0.35,0.3x4/1x2@0.1'), [
      { rows: 1, cols: 1, overlap: 0 },
      { rows: 2, cols: 2, overlap: 0.35 },
      {
        bands: [
          { to: 0.3, cols: 4 },
          { to: 1, cols: 2 },
        ],
        overlap: 0.1,
      },
    ]);
    assert.throws(() => parseTilingList('0.3x4/0.9x2'), /not ROWSxCOLS/); // does not reach the bottom
    assert.throws(() => parseTilingList('0.5x4/0.3x2/1x1'), /not ROWSxCOLS/); // not ascending
    assert.throws(() => parseTilingList('2x2@0.9'), /not ROWSxCOLS/);
  });

  it('is the whole frame for 1×1', () => {
    assert.deepEqual(tileLayout(100, 50, { rows: 1, cols: 1, overlap: 0 }), [
      { left: 0, top: 0, width: 100, height: 50 },
    ]);
  });

  it('moves tile detections into frame pixels and merges a person seen by two tiles', () => {
    const left = { left: 0, top: 0, width: 60, height: 100 };
    const right = { left: 40, top: 0, width: 60, height: 100 };
    assert.deepEqual(toFrame([det(5, 6, 15, 26)], right)[0]?.box, [45, 6, 55, 26]);
    const merged = mergeTiles([
      { tile: left, detections: [det(42, 10, 58, 60, 0.8), det(5, 10, 20, 60, 0.9)] },
      { tile: right, detections: [det(2, 10, 18, 60, 0.7)] }, // the same person as left's first box
    ]);
    assert.equal(merged.length, 2);
    assert.deepEqual(
      merged.map((d) => d.score),
      [0.9, 0.8],
    );
  });
});

describe('ROI and correction', () => {
  const square: Array<[number, number]> = [
    [0, 0],
    [100, 0],
    [100, 100],
    [0, 100],
  ];

  it('tests the foot-point (bottom-centre) against the polygon', () => {
    assert.deepEqual(footPoint([10, 20, 30, 80]), [20, 80]);
    assert.equal(insidePolygon([50, 50], square), true);
    assert.equal(insidePolygon([150, 50], square), false);
    // Head inside, feet outside the region: not counted.
    assert.equal(withinRoi([det(40, 60, 60, 140)], square).length, 0);
    assert.equal(withinRoi([det(40, 10, 60, 90)], square).length, 1);
  });

  it('applies and fits a linear correction', () => {
    assert.equal(applyCorrection(10, { scale: 1.5, offset: 2 }), 17);
    assert.equal(applyCorrection(1, { scale: 1, offset: -5 }), 0);
    const fit = fitCorrection([10, 20, 30], [17, 32, 47]);
    assert.ok(Math.abs(fit.scale - 1.5) < 1e-9 && Math.abs(fit.offset - 2) < 1e-9);
    assert.deepEqual(fitCorrection([5, 5], [7, 9]), { scale: 1, offset: 3 });
  });

  it('counts through threshold → ROI → correction', () => {
    const detections = [det(10, 10, 20, 50, 0.9), det(30, 10, 40, 50, 0.3), det(200, 10, 210, 50, 0.9)];
    assert.equal(countDetections(frame(detections)).count, 2);
    assert.equal(countDetections(frame(detections), { scoreThreshold: 0.2 }).count, 3);
    assert.equal(countDetections(frame(detections), { scoreThreshold: 0.2, roi: square }).count, 2);
    assert.equal(countDetections(frame(detections), { roi: square, correction: { scale: 2, offset: 1 } }).count, 3);
  });
});

describe('counting modes', () => {
  it('counts boxes, sums scores or weighs score bins', () => {
    const scores = [0.9, 0.35, 0.3, 0.12];
    assert.equal(countScores(scores), 4);
    assert.ok(Math.abs(countScores(scores, { mode: 'score-sum' }) - 1.67) < 1e-9);
    const edges = [0.1, 0.3, 0.5];
    assert.equal(binIndex(0.05, edges), -1);
    assert.equal(binIndex(0.3, edges), 1);
    assert.equal(binIndex(1, edges), 2);
    assert.deepEqual(binHistogram(scores, edges), [1, 2, 1]);
    assert.equal(countScores(scores, { mode: 'score-bins', edges, weights: [0, 2, 1] }), 5);
  });

  it('adds the weighted bins of the whole-frame pass, after the same threshold and ROI', () => {
    const counting = { mode: 'score-bins' as const, edges: [0.2, 0.5], weights: [1, 0], wholeFrameWeights: [0, 1] };
    // Tiles: far people at 0.3 count, their halves of near people at 0.6 do not; the whole frame counts the near ones.
    assert.equal(countScores([0.3, 0.3, 0.6, 0.6, 0.6], counting, [0.9, 0.25]), 3);
    assert.throws(() => countScores([0.3], counting), /whole-frame pass/);
    const tiles = [det(0, 0, 10, 20, 0.3), det(200, 0, 210, 20, 0.3)];
    const whole = [det(0, 0, 10, 20, 0.9), det(200, 0, 210, 20, 0.9), det(0, 0, 10, 20, 0.1)];
    const square: Array<[number, number]> = [
      [0, 0],
      [100, 0],
      [100, 100],
      [0, 100],
    ];
    const profile = { scoreThreshold: 0.2, roi: square, counting };
    assert.equal(countDetections(frame(tiles, whole), profile).count, 2);
    assert.deepEqual(countDetections(frame(tiles, whole), profile).detections, [tiles[0]]);
    assert.equal(
      cameraProfileSchema.safeParse({ counting: { ...counting, wholeFrameWeights: [1] } }).success,
      false,
      'one whole-frame weight per bin edge',
    );
    assert.deepEqual(detectOptionsFor(profile).wholeFrame, true);
    assert.deepEqual(detectOptionsFor({}).wholeFrame, false);
  });

  it('fits non-negative bin weights, with or without an offset', () => {
    // Each frame: h[0] boxes that are noise (weight 0), h[1] boxes that hide 2 people each, h[2] single people.
    const histograms = Array.from({ length: 30 }, (_, i) => [i % 4, (i * 7) % 5, (i * 3) % 11]);
    const truth = histograms.map((h) => 2 * (h[1] ?? 0) + (h[2] ?? 0));
    const plain = fitScoreBins(histograms, truth, false);
    plain.weights.forEach((w, i) => {
      assert.ok(Math.abs(w - ([0, 2, 1][i] ?? 0)) < 1e-6, `weight ${i} = ${w}`);
    });
    assert.equal(plain.offset, 0);
    const shifted = fitScoreBins(
      histograms,
      truth.map((t) => t + 3),
      true,
    );
    assert.ok(Math.abs(shifted.offset - 3) < 1e-6);
    // A bin anti-correlated with the truth gets weight 0, never a negative one.
    const anti = fitScoreBins(
      histograms.map((h) => [10 - (h[2] ?? 0), h[2] ?? 0]),
      truth.map((_, i) => (histograms[i]?.[2] ?? 0) * 2),
      false,
    );
    assert.ok((anti.weights[0] ?? -1) >= 0);
  });

  it('fits a scale through the origin and counts fractional counts through the profile', () => {
    assert.deepEqual(fitScale([10, 20], [15, 30]), { scale: 1.5, offset: 0 });
    assert.deepEqual(fitScale([], []), { scale: 1, offset: 0 });
    const detections = [det(0, 0, 10, 20, 0.9), det(20, 0, 30, 20, 0.4), det(40, 0, 50, 20, 0.4)];
    assert.equal(countDetections(frame(detections), { scoreThreshold: 0.3, counting: { mode: 'score-sum' } }).count, 2);
    assert.equal(
      countDetections(frame(detections), {
        scoreThreshold: 0.3,
        counting: { mode: 'score-sum' },
        correction: { scale: 2, offset: 0 },
      }).count,
      3,
    );
  });
});

describe('test-time flip', () => {
  it('mirrors boxes back and averages scores of matching pairs', () => {
    assert.deepEqual(unflip([det(10, 0, 30, 50, 0.5)], 100)[0]?.box, [70, 0, 90, 50]);
    const fused = fuseFlipped([det(0, 0, 10, 40, 0.8), det(50, 0, 60, 40, 0.6)], [det(1, 0, 11, 40, 0.6)]);
    assert.deepEqual(
      fused.map((d) => Math.round(d.score * 100) / 100),
      [0.7, 0.3],
    );
  });
});

describe('evaluation and calibration', () => {
  it('summarises errors and speed', () => {
    const s = summarise(
      [
        { truth: 2, predicted: 2, ms: 100 },
        { truth: 3, predicted: 1, ms: 300 },
        { truth: 1, predicted: 2, ms: 200 },
      ],
      1500,
    );
    assert.equal(s.n, 3);
    assert.equal(s.mae, 1);
    assert.ok(Math.abs(s.rmse - Math.sqrt(5 / 3)) < 1e-12);
    assert.ok(Math.abs(s.bias + 1 / 3) < 1e-12);
    assert.ok(Math.abs(s.exactRate - 1 / 3) < 1e-12);
    assert.equal(s.msMedian, 200);
    assert.equal(s.photosPerSecond, 2);
    assert.equal(percentile([5, 1, 9, 3], 90), 9);
    assert.equal(meanAbsoluteError([1, 2], [2, 2]), 0.5);
  });

  it('fits on the first frames only and reports the held-out error', () => {
    // Synthetic camera: the model finds half of the people with score 0.6 plus a 0.3 ghost on every third frame.
    const frames = Array.from({ length: 20 }, (_, i) => {
      const truth = 10 + (i % 7) * 2;
      const found = Array.from({ length: truth / 2 }, (_, k) => det(k * 20, 0, k * 20 + 10, 30, 0.6));
      const ghosts = i % 3 === 0 ? [det(900, 0, 910, 30, 0.3)] : [];
      return { truth, detections: [[...found, ...ghosts]] };
    });
    const result = calibrate({
      tilings: [{ rows: 1, cols: 1, overlap: 0 }],
      frames,
      split: { kind: 'first', fitFraction: 0.5 },
      modes: ['boxes'],
      thresholds: thresholdGrid(0.2, 0.7, 0.1),
    });
    assert.equal(splitIndex(20, 0.5), 10);
    assert.equal(result.fitFrames, 10);
    assert.equal(result.heldOutFrames, 10);
    assert.ok((result.profile.scoreThreshold ?? 0) > 0.3);
    assert.ok(Math.abs((result.profile.correction?.scale ?? 0) - 2) < 1e-6);
    assert.equal(result.heldOutMae, 0);
  });

  it('cross-validates within the fit frames on consecutive folds that cover them once', () => {
    const fit = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const folds = validationFolds(fit);
    assert.equal(folds.length, 5);
    assert.deepEqual(folds.flat(), fit);
    assert.ok(folds.every((fold) => fold.every((v, i) => i === 0 || v === (fold[i - 1] ?? 0) + 1)));
    assert.deepEqual(validationFolds([3, 7]), [[3], [7]]);
    assert.deepEqual(validationFolds([3]), [], 'one fit frame: nothing to validate on');
  });

  it('splits into alternating blocks that are disjoint and cover every frame', () => {
    const mask = fitMask(100, { kind: 'blocks', fitFraction: 0.5, blockSize: 10 });
    assert.equal(mask.filter(Boolean).length, 50);
    // Whole blocks: frames 0–9 share a side, 10–19 the other.
    assert.equal(new Set(mask.slice(0, 10)).size, 1);
    assert.notEqual(mask[0], mask[10]);
    const third = fitMask(90, { kind: 'blocks', fitFraction: 1 / 3, blockSize: 10 });
    assert.equal(third.filter(Boolean).length, 30);
    assert.deepEqual(fitMask(4, { kind: 'first', fitFraction: 0.5 }), [true, true, false, false]);
  });

  it('chooses score-bin counting when low-score boxes hide more people than they show', () => {
    // Synthetic crowd: single people score 0.8; a 0.35 box is a group of two the model saw as one.
    const frames = Array.from({ length: 40 }, (_, i) => {
      const singles = 5 + (i % 6);
      const pairs = (i * 7) % 5;
      const boxes = [
        ...Array.from({ length: singles }, (_, k) => det(k * 20, 0, k * 20 + 10, 30, 0.8)),
        ...Array.from({ length: pairs }, (_, k) => det(k * 20, 100, k * 20 + 10, 130, 0.35)),
      ];
      return { truth: singles + 2 * pairs, detections: [boxes] };
    });
    const result = calibrate({
      tilings: [{ rows: 1, cols: 1, overlap: 0 }],
      frames,
      split: { kind: 'blocks', fitFraction: 0.5, blockSize: 5 },
      thresholds: thresholdGrid(0.1, 0.7, 0.05),
    });
    assert.equal(result.profile.counting?.mode, 'score-bins');
    assert.equal(result.heldOutMae, 0);
    assert.ok(result.perOption.some((o) => o.mode === 'boxes' && o.heldOutMae > 0));
    assert.deepEqual(binEdgesFrom(0.2), [0.2, 0.25, 0.3, 0.4, 0.5, 0.7]);
  });

  it('counts two scales when tiles cut near people apart and the whole frame misses far ones', () => {
    // Synthetic camera: far people score 0.3 in tiles and are missed by the whole frame; a near person
    // scores 0.9 in the whole frame but shows as one or two 0.6 halves in the tiles, depending on where it stands.
    const frames = Array.from({ length: 40 }, (_, i) => {
      const far = 4 + ((i * 3) % 7);
      const near = 1 + (i % 4);
      const cut = (i * 5) % (near + 1);
      const tiles = [
        ...Array.from({ length: far }, (_, k) => det(k * 20, 0, k * 20 + 10, 30, 0.3)),
        ...Array.from({ length: near + cut }, (_, k) => det(k * 20, 200, k * 20 + 10, 230, 0.6)),
      ];
      const whole = Array.from({ length: near }, (_, k) => det(k * 40, 200, k * 40 + 20, 260, 0.9));
      return { truth: far + near, detections: [whole, tiles] };
    });
    const result = calibrate({
      tilings: [SINGLE_TILE, { rows: 2, cols: 2, overlap: 0.2 }],
      frames,
      split: { kind: 'blocks', fitFraction: 0.5, blockSize: 5 },
      thresholds: thresholdGrid(0.1, 0.3, 0.1),
    });
    const counting = result.profile.counting;
    assert.equal(counting?.mode, 'score-bins');
    assert.ok(counting?.mode === 'score-bins' && counting.wholeFrameWeights, 'the profile asks for the whole frame');
    assert.deepEqual(result.profile.tiling, { rows: 2, cols: 2, overlap: 0.2 });
    assert.equal(result.heldOutMae, 0);
    const tilesOnly = result.perOption.find(
      (o) => tileCount(o.tiling) === 4 && o.mode === 'score-bins' && !o.wholeFrame,
    );
    assert.ok(tilesOnly && tilesOnly.heldOutMae > 0, 'one scale alone cannot tell cut halves from people');
    // The single-tile candidate is the whole-frame pass itself: never offered twice.
    assert.ok(!result.perOption.some((o) => o.tiling === SINGLE_TILE && o.wholeFrame));
  });
});

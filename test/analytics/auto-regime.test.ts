import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AutoFitPhoto,
  autoCountOf,
  contiguousFolds,
  crossValidatedAutoMae,
  fitAuto,
  type LabelledSet,
  MissingTilingError,
  WHOLE_FRAME_LABEL,
} from '../../src/analytics/auto-fit.js';
import {
  AUTO_DEFAULTS,
  CROWD_VIEW_HINT,
  countAuto,
  firstPassOptions,
  usesAutoDefault,
  zoomTiling,
} from '../../src/analytics/auto-regime.js';
import { decisionMix } from '../../src/analytics/evaluation.js';
import { person, SIZE } from '../helpers/detections.js';

/** `n` small people (`height` px) in a row, each with `score`. */
const crowd = (n: number, height: number, score: number) =>
  Array.from({ length: n }, (_, i) => person(20 + (i % 20) * 22, 20 + Math.floor(i / 20) * 60, height, score));

describe('auto default: when to zoom, how far', () => {
  it('a few large people: one whole-frame pass', () => {
    const first = { ...SIZE, detections: [person(50, 100, 300, 0.9), person(300, 120, 280, 0.8)] };
    assert.equal(zoomTiling(first), undefined);
  });

  it('many small candidates: tiles that bring the smallest to the height the model resolves', () => {
    const settings = { ...AUTO_DEFAULTS, zoomAtSmallCandidates: 10 };
    assert.deepEqual(zoomTiling({ ...SIZE, detections: crowd(12, 30, 0.3) }, settings), {
      rows: 2,
      cols: 2,
      overlap: AUTO_DEFAULTS.overlap,
    });
    const smaller = [...crowd(11, 40, 0.3), person(400, 400, 20, 0.25)];
    assert.equal(zoomTiling({ ...SIZE, detections: smaller }, settings)?.rows, 3, '51 / 20 px → 3');
    const tiny = [...crowd(11, 40, 0.3), person(400, 400, 5, 0.25)];
    assert.equal(zoomTiling({ ...SIZE, detections: tiny }, settings)?.rows, AUTO_DEFAULTS.maxZoom, 'capped');
    assert.equal(zoomTiling({ ...SIZE, detections: crowd(9, 30, 0.3) }, settings), undefined, 'too few');
    assert.equal(zoomTiling({ ...SIZE, detections: crowd(12, 30, 0.1) }, settings), undefined, 'below candidates');
  });

  it('a street photo with small figures behind large people is not a view of small people (share of small)', () => {
    const nearAndFar = [
      ...crowd(12, 30, 0.3),
      person(50, 100, 300, 0.9),
      person(300, 120, 280, 0.8),
      person(500, 90, 320, 0.7),
    ];
    const settings = { ...AUTO_DEFAULTS, zoomAtSmallCandidates: 10 };
    assert.equal(
      zoomTiling({ ...SIZE, detections: nearAndFar }, { ...settings, zoomAtSmallShare: 0.9 }),
      undefined,
      '12 of 15',
    );
    assert.equal(zoomTiling({ ...SIZE, detections: nearAndFar }, { ...settings, zoomAtSmallShare: 0.8 })?.rows, 2);
  });

  it('only a profile without counting settings uses it; ROI and flip carry over', () => {
    assert.equal(usesAutoDefault({}), true);
    assert.equal(
      usesAutoDefault({
        roi: [
          [0, 0],
          [1, 0],
          [1, 1],
        ],
        flip: true,
      }),
      true,
    );
    assert.equal(usesAutoDefault({ scoreThreshold: 0.3 }), false);
    assert.equal(usesAutoDefault({ thresholdShift: { perHalvingHeight: 0, atFrameEdge: 0 } }), false);
    assert.equal(usesAutoDefault({ tiling: { rows: 2, cols: 2, overlap: 0.2 } }), false);
    const options = firstPassOptions({ flip: true });
    assert.equal(options.minScore, AUTO_DEFAULTS.candidateScore, 'the first pass returns every candidate');
    assert.equal(options.flip, true);
  });
});

describe('auto default: counting', () => {
  it('street photo of a camera checked lately: counts the whole-frame pass alone, never asks for tiles', async () => {
    const first = { ...SIZE, detections: [person(50, 100, 300, 0.9), person(300, 120, 280, 0.3)] };
    const counted = await countAuto(
      first,
      {
        tiles: () => assert.fail('no second pass for a street photo'),
        density: () => assert.fail('no density pass for a quiet camera checked lately'),
      },
      {},
      AUTO_DEFAULTS,
      false,
    );
    assert.deepEqual(
      { count: counted.count, regime: counted.regime, tiling: counted.tiling, passes: counted.passes },
      { count: 1, regime: 'whole-frame', tiling: '1x1@0', passes: 1 },
    );
    assert.deepEqual(counted.hints, []);
  });

  it('small people without the density network: zoomed tiles with the zoom threshold; flip doubles the passes', async () => {
    const settings = { ...AUTO_DEFAULTS, zoomAtSmallCandidates: 10, zoomThreshold: 0.3 };
    const asked: Array<{ rows: number; minScore: number }> = [];
    const zoomed = [...crowd(15, 60, 0.5), ...crowd(5, 60, 0.25)];
    const counted = await countAuto(
      { ...SIZE, detections: crowd(12, 30, 0.3) },
      {
        tiles: async (tiling, minScore) => {
          asked.push({ rows: tiling.rows, minScore });
          return { ...SIZE, detections: zoomed };
        },
      },
      { flip: true },
      settings,
    );
    assert.deepEqual(asked, [{ rows: 2, minScore: 0.2 }]);
    assert.deepEqual(
      { count: counted.count, regime: counted.regime, tiling: counted.tiling, passes: counted.passes },
      { count: 15, regime: 'zoom', tiling: '2x2@0.25', passes: 10 },
    );
    assert.deepEqual(counted.hints, [], 'five weak candidates left are not many');
  });

  it('without the density network, hints crowd-view when many candidates stay uncounted', async () => {
    const settings = { ...AUTO_DEFAULTS, zoomAtSmallCandidates: 10, zoomThreshold: 0.4, hintAtUncounted: 10 };
    const counted = await countAuto(
      { ...SIZE, detections: crowd(12, 30, 0.3) },
      { tiles: async () => ({ ...SIZE, detections: [...crowd(3, 60, 0.5), ...crowd(10, 60, 0.25)] }) },
      {},
      settings,
    );
    assert.equal(counted.count, 3);
    assert.deepEqual(counted.hints, [CROWD_VIEW_HINT]);
  });

  it('eval summary: photos per regime and hint, passes per photo', () => {
    assert.deepEqual(
      decisionMix([
        { regime: 'whole-frame', passes: 1 },
        { regime: 'whole-frame', passes: 1, hints: [CROWD_VIEW_HINT] },
        { regime: 'zoom', passes: 10 },
        { regime: 'whole-frame', passes: 1 },
      ]),
      { regimes: { 'whole-frame': 3, zoom: 1 }, hints: { [CROWD_VIEW_HINT]: 1 }, passesMean: 3.25, onePassRate: 0.75 },
    );
  });
});

describe('auto default: fitted on several sets, measured across them', () => {
  /** A street photo: two large people, whole frame only saved. */
  const street = (truth: number): AutoFitPhoto => ({
    truth,
    ...SIZE,
    byTiling: new Map([[WHOLE_FRAME_LABEL, crowd(truth, 300, 0.9)]]),
  });
  /** A crowd frame: many small candidates; in 2×2 tiles `truth` people at 0.35 and 10 noise boxes at 0.22. */
  const crowdFrame = (truth: number): AutoFitPhoto => ({
    truth,
    ...SIZE,
    byTiling: new Map([
      [WHOLE_FRAME_LABEL, crowd(20, 30, 0.3)],
      ['2x2@0.25', [...crowd(truth, 60, 0.35), ...crowd(10, 50, 0.22)]],
    ]),
  });
  const streets: LabelledSet = { name: 'street', photos: [1, 2, 3, 2, 1].map(street) };
  const crowds: LabelledSet = { name: 'crowd', photos: [25, 30, 35, 28].map(crowdFrame) };

  it('counts from saved detections as the counter does, and says when a tiling was not saved', () => {
    assert.deepEqual(autoCountOf(streets.photos[1] as AutoFitPhoto, AUTO_DEFAULTS), { count: 2, passes: 1 });
    const zoomed = autoCountOf(crowds.photos[0] as AutoFitPhoto, {
      ...AUTO_DEFAULTS,
      zoomAtSmallCandidates: 10,
      zoomThreshold: 0.3,
    });
    assert.deepEqual(zoomed, { count: 25, passes: 5 });
    const noTiles: AutoFitPhoto = { truth: 1, ...SIZE, byTiling: new Map([[WHOLE_FRAME_LABEL, crowd(20, 30, 0.3)]]) };
    assert.throws(() => autoCountOf(noTiles, { ...AUTO_DEFAULTS, zoomAtSmallCandidates: 10 }), MissingTilingError);
  });

  it('fits a threshold between the people and the noise, and zooms only the crowd', () => {
    const fitted = fitAuto([streets, crowds]);
    assert.ok(fitted.zoomThreshold > 0.22 && fitted.zoomThreshold <= 0.35, `threshold ${fitted.zoomThreshold}`);
    assert.ok(fitted.zoomAtSmallCandidates <= 20, 'the crowd frames have 20 small candidates');
    assert.equal(crossValidatedAutoMae([streets, crowds], 1, contiguousFolds(4, 2)), 0);
  });

  it('contiguous folds cover every index once, in blocks', () => {
    assert.deepEqual(contiguousFolds(7, 3), [
      [0, 1, 2],
      [3, 4],
      [5, 6],
    ]);
    assert.deepEqual(contiguousFolds(2, 5), [[0], [1]]);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AUTO_DEFAULTS, countAuto, densityWeight, zoomTiling } from '../../src/analytics/auto-regime.js';
import { methodOf } from '../../src/analytics/counting-methods.js';
import { CrowdMemory } from '../../src/analytics/crowd-memory.js';
import {
  countDensity,
  DENSITY_CARD_PATH,
  type DensityMap,
  densityInputSize,
  heatMap,
  readDensityCard,
} from '../../src/analytics/density.js';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../../src/analytics/local-counter.js';
import { fitTuningProfile } from '../../src/analytics/tuning-fit.js';
import { person, SIZE } from '../helpers/detections.js';
import { figuresJpeg } from '../helpers/fixtures.js';
import { sharedDataset } from '../helpers/processes.js';

const map = (cols: number, rows: number, value: number): DensityMap => ({
  cols,
  rows,
  cells: new Float32Array(cols * rows).fill(value),
  width: cols * 8,
  height: rows * 8,
});

describe('density: pure parts', () => {
  const card = readDensityCard();

  it('input size: longer side from the card, sides multiples of 32', () => {
    assert.deepEqual(densityInputSize(1024, 768, card), { width: 1024, height: 768 });
    assert.deepEqual(densityInputSize(640, 480, card), { width: 1024, height: 768 });
    const portrait = densityInputSize(300, 400, card);
    assert.equal(portrait.height, card.input.longSide);
    assert.equal(portrait.width % card.input.sideMultiple, 0);
  });

  it('counts the map inside the ROI, times the profile scale; the heat map keeps the sum', () => {
    const m = map(64, 48, 0.01); // 30.72 people
    assert.equal(countDensity(m), 31);
    assert.equal(countDensity(m, { density: { scale: 2 } }), 61);
    const leftHalf: Array<[number, number]> = [
      [0, 0],
      [256, 0],
      [256, 384],
      [0, 384],
    ];
    assert.equal(countDensity(m, { roi: leftHalf }), 15);
    const heat = heatMap(m);
    assert.equal(heat.cols, 32);
    assert.equal(heat.values.length, heat.cols * heat.rows);
    assert.ok(Math.abs(heat.values.reduce((a, b) => a + b, 0) - 30.72) < 0.01);
  });

  it('regime: a few large people stay with the detector when density finds no crowd (or is not asked)', async () => {
    const street = { ...SIZE, detections: [person(50, 100, 300, 0.9), person(300, 120, 280, 0.8)] };
    assert.equal(zoomTiling(street), undefined, 'no view of small people');
    const checked = await countAuto(street, {
      tiles: () => assert.fail('no tiles'),
      density: async () => map(64, 64, 0.0005), // ≈ 2 people: no crowd
    });
    assert.deepEqual([checked.method, checked.count, checked.passes, checked.densityChecked], ['detector', 2, 2, true]);
    const unchecked = await countAuto(
      street,
      { tiles: () => assert.fail('no tiles'), density: () => assert.fail('a quiet camera is not checked') },
      {},
      AUTO_DEFAULTS,
      false,
    );
    assert.deepEqual([unchecked.method, unchecked.count, unchecked.passes], ['detector', 2, 1]);
  });

  it('regime: many small candidates go to density; so does a crowd the detector cannot see at all', async () => {
    const smallFigures = Array.from({ length: 20 }, (_, i) =>
      person(10 + (i % 10) * 48, 40 + Math.floor(i / 10) * 200, 30, 0.3),
    );
    const crowd = { ...SIZE, detections: smallFigures };
    assert.notEqual(zoomTiling(crowd, AUTO_DEFAULTS), undefined, 'a view of small people');
    const dense = await countAuto(
      crowd,
      { tiles: () => assert.fail('density, not tiles'), density: async () => map(64, 64, 0.05) },
      {},
      AUTO_DEFAULTS,
      false,
    );
    assert.deepEqual([dense.method, dense.regime, dense.count, dense.passes], ['density', 'density', 205, 2]);
    assert.ok(dense.heatMap);

    // Heads only: the detector finds nobody, the density check finds hundreds.
    const heads = await countAuto(
      { ...SIZE, detections: [] },
      {
        tiles: () => assert.fail('no tiles'),
        density: async () => map(64, 64, 0.1),
      },
    );
    assert.deepEqual([heads.method, heads.count, heads.passes], ['density', 410, 2]);
    const justBelow = AUTO_DEFAULTS.crowdAtDensityCount - 1;
    const few = await countAuto(
      { ...SIZE, detections: [] },
      {
        tiles: () => assert.fail('no tiles'),
        density: async () => map(1, 1, justBelow),
      },
    );
    assert.deepEqual([few.method, few.count], ['detector', 0]);
    // Between one and two times that: a blend, density's weight growing with its count.
    const between = AUTO_DEFAULTS.crowdAtDensityCount * 1.6;
    const blended = await countAuto(
      { ...SIZE, detections: [person(50, 100, 300, 0.9)] },
      {
        tiles: () => assert.fail('no tiles'),
        density: async () => map(1, 1, between),
      },
    );
    assert.equal(densityWeight(Math.round(between)), 0.6);
    assert.deepEqual(
      [blended.method, blended.regime, blended.count, blended.passes, blended.hints],
      ['density', 'blend', Math.round(0.4 * 1 + 0.6 * Math.round(between)), 2, ['crowd-view']],
      'a blend is a doubtful count: the crowd-view hint asks for tuning',
    );
  });

  it('memory: a quiet camera is checked once per interval, a crowd camera on every photo', () => {
    let now = 0;
    const memory = new CrowdMemory({ now: () => now }, 60_000, 2);
    assert.equal(memory.needsCheck(undefined), true, 'a photo without a camera is always checked');
    assert.equal(memory.needsCheck('quiet'), true, 'a new camera is checked');
    memory.checked('quiet', false);
    now = 59_999;
    assert.equal(memory.needsCheck('quiet'), false);
    now = 60_000;
    assert.equal(memory.needsCheck('quiet'), true);
    memory.checked('busy', true);
    assert.equal(memory.needsCheck('busy'), true);
    memory.checked('quiet', false);
    memory.checked('third', false);
    assert.equal(memory.needsCheck('busy'), true, 'beyond capacity the oldest camera is forgotten, so checked');
    assert.equal(memory.needsCheck('quiet'), false);
  });

  it('a profile names its method; detector settings imply the detector', () => {
    assert.equal(methodOf({}), 'auto');
    assert.equal(methodOf({ scoreThreshold: 0.3 }), 'detector');
    assert.equal(methodOf({ method: 'density', scoreThreshold: 0.3 }), 'density');
  });
});

describe('density: the shipped model in the worker pool', () => {
  let pool: LocalPeopleCounter;
  before(async () => {
    pool = await createLocalPeopleCounter({ workers: 1 });
  });
  after(() => pool.close());

  it('loads, maps a self-made photo and counts with method "density" when asked', async () => {
    const jpeg = await figuresJpeg(3);
    const density = await pool.density(jpeg);
    assert.ok(density.cols > 0 && density.rows > 0);
    assert.ok(density.cells.every((v) => Number.isFinite(v) && v >= 0));
    const result = await pool.count(jpeg, { method: 'density' });
    assert.equal(result.method, 'density');
    assert.match(result.model, /^crowd-density@[0-9a-f]{8}$/);
    assert.equal(result.passes, 1);
  });

  it('tuning a camera counted by density fits its scale from one density pass per frame', async () => {
    const frames = await Promise.all(
      [2, 3, 4, 5].map(async (people) => ({ id: `f${people}`, jpeg: await figuresJpeg(people), truth: people })),
    );
    const progress: number[] = [];
    const report = await fitTuningProfile(pool, frames, {
      current: { method: 'density' },
      onProgress: (done) => progress.push(done),
    });
    assert.equal(report.counter, 'density');
    assert.equal(report.profile.method, 'density');
    assert.ok(report.profile.density && report.profile.density.scale > 0);
    assert.equal(report.passes, 1);
    assert.ok(Number.isFinite(report.maeAfter));
    // The current profile once, then the density network once, per frame.
    assert.equal(progress.at(-1), frames.length * 2);
  });

  const card = JSON.parse(readFileSync(DENSITY_CARD_PATH, 'utf8')) as {
    exportCheck: { file: string; onnxruntime: number };
  };
  const shb = sharedDataset('shanghaitech-b-train');
  it('Node gives the sum Python gave at export on the same photo (a faithful export)', { skip: shb.skip }, async () => {
    const jpeg = await readFile(join(shb.dir, card.exportCheck.file));
    const sum = (await pool.density(jpeg)).cells.reduce((a, b) => a + b, 0);
    const expected = card.exportCheck.onnxruntime;
    assert.ok(Math.abs(sum - expected) <= 0.01 * expected + 0.05, `Node ${sum}, Python ${expected}`);
  });
});

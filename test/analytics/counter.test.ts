import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { annotate } from '../../src/analytics/annotate.js';
import { type LabelledPhoto, loadDataset } from '../../src/analytics/dataset.js';
import { createPeopleCounter } from '../../src/analytics/factory.js';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../../src/analytics/local-counter.js';
import { SINGLE_TILE } from '../../src/analytics/tiling.js';
import { CounterBusyError, type PeopleCounter, UnusableImageError } from '../../src/core/people-counter.js';
import { hugeHeaderJpeg, noiseJpeg, solidJpeg, truncated } from '../helpers/fixtures.js';
import { sharedDataset } from '../helpers/processes.js';

describe('local people counter (real model, 1 worker)', () => {
  let counter: LocalPeopleCounter;
  before(async () => {
    counter = await createLocalPeopleCounter({ workers: 1, queueLimit: 0 });
  });
  after(() => counter.close());

  it('runs on ONNX Runtime by default', () => {
    assert.equal(counter.backend, 'onnx');
    assert.match(counter.model, /centernet/);
  });

  it('counts no one in an empty scene', async () => {
    const result = await counter.count(await solidJpeg(640, 480));
    assert.equal(result.count, 0);
    assert.deepEqual(result.detections, []);
    assert.ok(result.ms > 0);
  });

  it('refuses corrupt and non-JPEG input with a clear error', async () => {
    await assert.rejects(counter.count(truncated(await noiseJpeg(640, 480), 0.4)), (error: Error) => {
      assert.ok(error instanceof UnusableImageError);
      assert.match(error.message, /decode/);
      return true;
    });
    await assert.rejects(counter.count(Buffer.from('GIF89a not a jpeg')), UnusableImageError);
    await assert.rejects(counter.count(await hugeHeaderJpeg()), UnusableImageError);
    // The worker survives bad input.
    assert.equal((await counter.count(await solidJpeg())).count, 0);
  });

  it('refuses work when the queue is full instead of queueing without bound', async () => {
    const photo = await noiseJpeg(640, 480);
    const results = await Promise.allSettled([counter.count(photo), counter.count(photo)]);
    assert.equal(results[0]?.status, 'fulfilled');
    assert.equal(results[1]?.status, 'rejected');
    assert.ok((results[1] as PromiseRejectedResult).reason instanceof CounterBusyError);
  });

  it('draws counted boxes onto a copy of the photo', async () => {
    const photo = await solidJpeg(320, 240);
    const drawn = await annotate(photo, [{ box: [10, 10, 60, 200], score: 0.9 }], 1);
    const meta = await sharp(drawn).metadata();
    assert.equal(meta.width, 320);
    assert.equal(meta.height, 240);
    assert.notDeepEqual(drawn, photo);
  });
});

describe('counting real photos', () => {
  const { dir: pennFudan, skip } = sharedDataset('pennfudan-fudan');
  const { dir: mall, skip: mallSkip } = sharedDataset('mall-train');
  let counter: PeopleCounter | undefined;
  before(async () => {
    if (!skip || !mallSkip) counter = await createPeopleCounter({ kind: 'local', workers: 1 });
  });
  after(() => counter?.close());

  it('counts street photos within one person of the labels; a quiet camera is checked for crowds once', {
    skip,
  }, async () => {
    const photos = (await loadDataset(pennFudan)).slice(0, 5);
    for (const [index, photo] of photos.entries()) {
      // One camera for all five: the first photo is checked by density, the rest within the minute are not.
      const result = await (counter as PeopleCounter).count(await readFile(photo.path), {}, 'street-camera');
      assert.ok(
        Math.abs(result.count - photo.count) <= 1,
        `${photo.file}: counted ${result.count}, labelled ${photo.count}`,
      );
      assert.deepEqual(
        [result.method, result.regime, result.passes],
        ['detector', 'whole-frame', index === 0 ? 2 : 1],
        `${photo.file}: the detector counts a street photo`,
      );
      const { autoOrient } = await sharp(photo.path).metadata();
      assert.deepEqual([result.width, result.height], [autoOrient.width, autoOrient.height], `${photo.file}: its size`);
    }
  });

  it('counts a crowd CCTV frame without a profile with the density network, in two passes', {
    skip: mallSkip,
  }, async () => {
    const [frame] = await loadDataset(mall, 1, 19);
    if (!frame) return assert.fail('mall-train has fewer than 20 frames');
    const result = await (counter as PeopleCounter).count(await readFile(frame.path));
    assert.deepEqual([result.method, result.regime, result.passes], ['density', 'density', 2]);
    assert.ok(result.heatMap, 'a density count carries its heat map');
    // …and the photo's size, which the heat map covers (engage places zones by it).
    const { autoOrient } = await sharp(frame.path).metadata();
    assert.deepEqual([result.width, result.height], [autoOrient.width, autoOrient.height]);
    // A smoke check (this frame trained the network; held-out figures are in docs/analytics.md).
    assert.ok(
      Math.abs(result.count - frame.count) <= frame.count / 5,
      `${frame.file}: counted ${result.count}, labelled ${frame.count}`,
    );
  });

  it('runs the whole-frame pass beside the tiles when the profile counts both scales', {
    skip,
  }, async () => {
    const [photo] = await loadDataset(pennFudan, 1);
    const jpeg = await readFile((photo as LabelledPhoto).path);
    const local = await createLocalPeopleCounter({ workers: 1 });
    try {
      const grid = { rows: 2, cols: 2, overlap: 0.2 };
      const both = await local.detect(jpeg, { tiling: grid, minScore: 0.3, wholeFrame: true });
      const tiles = await local.detect(jpeg, { tiling: grid, minScore: 0.3 });
      const whole = await local.detect(jpeg, { tiling: SINGLE_TILE, minScore: 0.3 });
      assert.equal(tiles.wholeFrame, undefined);
      assert.deepEqual(both.detections, tiles.detections);
      assert.deepEqual(both.wholeFrame, whole.detections);
      assert.ok(whole.detections.length > 0, 'the model finds the people of a Penn-Fudan photo');
      // Weight 0 on the tiles and 1 on the whole frame: the count is the whole frame's, the boxes the tiles'.
      const result = await local.count(jpeg, {
        scoreThreshold: 0.3,
        tiling: grid,
        counting: { mode: 'score-bins', edges: [0.3], weights: [0], wholeFrameWeights: [1] },
      });
      assert.equal(result.count, whole.detections.length);
      assert.deepEqual(result.detections, tiles.detections);
    } finally {
      await local.close();
    }
  });
});

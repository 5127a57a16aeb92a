import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadDataset, loadSavedDetections } from '../../src/analytics/dataset.js';

describe('labelled photo sets (labels.json)', () => {
  it('needs only file and count per photo, and says what is wrong otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'labels-'));
    try {
      await writeFile(
        join(dir, 'labels.json'),
        JSON.stringify({
          images: [
            { file: 'a.jpg', count: 3 },
            { file: 'b.jpg', count: 0, width: 640, height: 480 },
          ],
        }),
      );
      assert.deepEqual(
        (await loadDataset(dir)).map((p) => [p.file, p.count]),
        [
          ['a.jpg', 3],
          ['b.jpg', 0],
        ],
      );
      await writeFile(join(dir, 'labels.json'), JSON.stringify({ images: [{ file: 'a.jpg', count: -1 }] }));
      await assert.rejects(loadDataset(dir), /labels\.json.*count/s);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('saved raw detections (calibrate --detections)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'saved-detections-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const box = (score: number) => ({ box: [0, 0, 10, 20], score });

  it('joins files frame by frame and adds up their tilings', async () => {
    const grid = join(dir, 'grid.json');
    const bands = join(dir, 'bands.json');
    await writeFile(
      grid,
      JSON.stringify({
        tilings: [{ rows: 1, cols: 1, overlap: 0 }],
        frames: [
          { file: 'a.jpg', truth: 2, detections: [[box(0.9)]] },
          { file: 'b.jpg', truth: 1, detections: [[]] },
        ],
      }),
    );
    await writeFile(
      bands,
      JSON.stringify({
        tilings: [{ bands: [{ to: 1, cols: 2 }], overlap: 0.2 }],
        frames: [{ file: 'a.jpg', truth: 2, detections: [[box(0.4), box(0.8)]] }],
      }),
    );
    const joined = await loadSavedDetections([grid, bands]);
    assert.equal(joined.tilings.length, 2);
    // b.jpg has no band detections: dropped rather than silently counted as empty.
    assert.deepEqual(
      joined.frames.map((f) => [f.file, f.detections.map((d) => d.length)]),
      [['a.jpg', [1, 2]]],
    );
  });

  it('refuses files that are not saved detections', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ tilings: [{ rows: 0, cols: 1, overlap: 0 }], frames: [] }));
    await assert.rejects(loadSavedDetections([bad]), /not saved detections/);
    const mismatched = join(dir, 'mismatched.json');
    await writeFile(
      mismatched,
      JSON.stringify({
        tilings: [{ rows: 1, cols: 1, overlap: 0 }],
        frames: [{ file: 'a.jpg', truth: 1, detections: [[], []] }],
      }),
    );
    await assert.rejects(loadSavedDetections([mismatched]), /expected 1/);
  });
});

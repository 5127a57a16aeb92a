import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { type RoundSample, summariseRounds, syntheticPhotos } from '../../src/analytics/model-bench.js';
import { CLI } from '../helpers/processes.js';

const sample = (workers: number, photosPerSecond: number, ms: number[]): RoundSample => ({
  workers,
  photosPerSecond,
  msPerPhoto: ms,
});

describe('model bench', () => {
  it('summarises interleaved rounds: median rate, range, and the median of per-round ratios', () => {
    // The machine drifts: round 2 is slow for both pools, yet its ratio is as good as the others.
    const rounds = [
      [sample(1, 4, [250, 260]), sample(2, 7.6, [270, 280])],
      [sample(1, 2, [500, 510]), sample(2, 3.8, [520, 530])],
      [sample(1, 4, [250, 250]), sample(2, 6, [330, 340])],
    ];
    const [one, two] = summariseRounds([1, 2], rounds);
    assert.deepEqual(one?.photosPerSecond, { median: 4, min: 2, max: 4 });
    assert.equal(one?.scaling, 1);
    assert.equal(one?.msPerPhotoMedian, 250);
    assert.deepEqual(two?.photosPerSecond, { median: 6, min: 3.8, max: 7.6 });
    // Ratios 1.9, 1.9, 1.5: the median ignores the drift that a ratio of medians (6 / 4 = 1.5) would not.
    assert.ok(Math.abs((two?.scaling ?? 0) - 1.9) < 1e-9);
  });

  it('makes distinct, decodable synthetic photos', async () => {
    const [a, b] = await syntheticPhotos(2, 64, 48);
    assert.ok(a && b);
    assert.notDeepEqual(a, b);
    assert.deepEqual([...a.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  });

  it('measures the real model from the CLI and prints JSON', () => {
    const run = spawnSync(
      process.execPath,
      [CLI, 'bench', 'model', '--workers', '1', '--rounds', '1', '--limit', '2', '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      backend: string;
      photos: number;
      perWorkers: Array<{ workers: number; scaling: number; photosPerSecond: { median: number } }>;
    };
    assert.equal(result.backend, 'wasm');
    assert.equal(result.photos, 2);
    assert.equal(result.perWorkers[0]?.workers, 1);
    assert.equal(result.perWorkers[0]?.scaling, 1);
    assert.ok((result.perWorkers[0]?.photosPerSecond.median ?? 0) > 0);
    assert.match(run.stderr, /round 1\/1: 1 worker\(s\)/);
  });
});

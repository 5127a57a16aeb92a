import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Runtime } from '../../src/analytics/runtime.js';
import { poolSetups, type RoundSample, summariseRounds, syntheticPhotos } from '../../src/bench/model-bench.js';
import { CLI } from '../helpers/processes.js';

const sample = (workers: number, photosPerSecond: number, ms: number[], runtime: Runtime = 'wasm'): RoundSample => ({
  runtime,
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
    const [one, two] = summariseRounds(poolSetups(['wasm'], [1, 2]), rounds);
    assert.deepEqual(one?.photosPerSecond, { median: 4, min: 2, max: 4 });
    assert.equal(one?.scaling, 1);
    assert.equal(one?.msPerPhotoMedian, 250);
    assert.deepEqual(two?.photosPerSecond, { median: 6, min: 3.8, max: 7.6 });
    // Ratios 1.9, 1.9, 1.5: the median ignores the drift that a ratio of medians (6 / 4 = 1.5) would not.
    assert.ok(Math.abs((two?.scaling ?? 0) - 1.9) < 1e-9);
  });

  it('compares runtimes at the same worker count, and scales each runtime against its own first pool', () => {
    const setups = poolSetups(['wasm', 'onnx'], [1, 2]);
    assert.deepEqual(
      setups.map((s) => `${s.runtime}×${s.workers}`),
      ['wasm×1', 'wasm×2', 'onnx×1', 'onnx×2'],
    );
    const rounds = [
      [sample(1, 4, [250]), sample(2, 7, [280]), sample(1, 12, [80], 'onnx'), sample(2, 21, [90], 'onnx')],
      [sample(1, 2, [500]), sample(2, 4, [520]), sample(1, 7, [140], 'onnx'), sample(2, 14, [150], 'onnx')],
      [sample(1, 4, [250]), sample(2, 8, [260]), sample(1, 16, [70], 'onnx'), sample(2, 24, [80], 'onnx')],
    ];
    const [, wasm2, onnx1, onnx2] = summariseRounds(setups, rounds);
    assert.equal(wasm2?.speedup, 1);
    // onnx×1 vs wasm×1 per round: 3, 3.5, 4 → median 3.5; onnx×2 vs wasm×2: 3, 3.5, 3.
    assert.ok(Math.abs((onnx1?.speedup ?? 0) - 3.5) < 1e-9);
    assert.ok(Math.abs((onnx2?.speedup ?? 0) - 3) < 1e-9);
    // onnx×2 vs onnx×1 per round: 1.75, 2, 1.5 → 1.75.
    assert.ok(Math.abs((onnx2?.scaling ?? 0) - 1.75) < 1e-9);
    assert.equal(onnx1?.scaling, 1);
  });

  it('makes distinct, decodable synthetic photos', async () => {
    const [a, b] = await syntheticPhotos(2, 64, 48);
    assert.ok(a && b);
    assert.notDeepEqual(a, b);
    assert.deepEqual([...a.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  });

  it('measures both runtimes from the CLI and prints JSON', () => {
    const run = spawnSync(
      process.execPath,
      [CLI, 'bench', 'model', '--runtimes', 'wasm,onnx', '--workers', '1', '--rounds', '1', '--limit', '2', '--json'],
      { encoding: 'utf8', timeout: 180_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      photos: number;
      pools: Array<{
        runtime: string;
        backend: string;
        workers: number;
        scaling: number;
        speedup: number;
        rssPerWorkerMb: number;
        photosPerSecond: { median: number };
      }>;
    };
    assert.equal(result.photos, 2);
    assert.deepEqual(
      result.pools.map((p) => [p.runtime, p.backend, p.workers, p.scaling]),
      [
        ['wasm', 'wasm', 1, 1],
        ['onnx', 'onnx', 1, 1],
      ],
    );
    assert.equal(result.pools[0]?.speedup, 1);
    for (const pool of result.pools) {
      assert.ok(pool.photosPerSecond.median > 0);
      assert.ok(pool.speedup > 0);
      assert.ok(pool.rssPerWorkerMb > 0);
    }
    assert.match(run.stderr, /round 1\/1: onnx 1 worker\(s\)/);
  });
});

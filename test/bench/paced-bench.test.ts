/** `bench pipeline` at a sustained rate per device (--interval/--duration) and what it reports. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { pacedPhotoCount, pacedSendAt, runPipelineBench } from '../../src/bench/pipeline-bench.js';
import { CLI } from '../helpers/processes.js';

describe('bench pipeline, paced', () => {
  test('every device sends once per interval, the devices spread evenly over it', () => {
    assert.equal(pacedPhotoCount(50, 2_000, 60_000), 1_500);
    assert.equal(pacedPhotoCount(3, 2_000, 5_000), 6);
    assert.deepEqual(
      Array.from({ length: 8 }, (_, n) => pacedSendAt(n, 4, 1_000)),
      [0, 250, 500, 750, 1_000, 1_250, 1_500, 1_750],
    );
  });

  test('reports the age of counts, model runs per photo, and lost / duplicated / left', async () => {
    const result = await runPipelineBench(
      {
        devices: 4,
        photos: pacedPhotoCount(4, 100, 400),
        intervalMs: 100,
        instances: 1,
        analyzerMs: 0,
        batchSize: 10,
        maxWaitMs: 50,
        burst: false,
        lanes: 4,
        timeoutMs: 30_000,
      },
      () => Promise.reject(new Error('the stand-in is used')),
    );
    assert.equal(result.lost, 0);
    assert.equal(result.duplicated, 0);
    assert.equal(result.photosLeftInStorage, 0);
    assert.ok(result.analysesPerPhoto > 0 && result.analysesPerPhoto <= 1, `${result.analysesPerPhoto}`);
    const age = result.countAgeMs;
    assert.ok(age.p50 >= 0 && age.p50 <= age.p90 && age.p90 <= age.p99 && age.p99 <= age.max, JSON.stringify(age));
    assert.ok(result.paceLagMs !== undefined && result.paceLagMs >= 0);
    // Every claim's round trip falls in exactly one phase: while ingesting or after it.
    const { ingesting, afterIngest } = result.coordinationByPhaseMs;
    assert.ok(result.claims > 0);
    assert.equal(ingesting.claims + afterIngest.claims, result.claims);
  });

  test('--interval needs --duration, and excludes --photos and --burst', () => {
    const bench = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, 'bench', 'pipeline', '--analyzer-ms', '0', ...args], { encoding: 'utf8' });
    const cases: Array<[string[], RegExp]> = [
      [['--interval', '2s'], /--interval: --interval and --duration go together/],
      [['--interval', '2s', '--duration', '10s', '--photos', '5'], /--photos: not with --interval/],
      [['--interval', '2s', '--duration', '10s', '--burst'], /--burst: not with --interval/],
      [['--interval', '2s', '--duration', '1s'], /--duration: must be at least --interval/],
    ];
    for (const [args, message] of cases) {
      const result = bench(...args);
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, message);
    }
  });
});

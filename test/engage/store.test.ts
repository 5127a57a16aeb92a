import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LATEST_SCHEMA_VERSION, migrate } from '../../src/engage/migrations.js';
import { openSqlite, readPragma, SQLITE_DRIVERS, type SqliteDriver } from '../../src/engage/sqlite.js';
import { EngageStore } from '../../src/engage/store.js';
import { result } from './fixtures.js';

const HOUR = 1_800_000_000; // a whole hour in unix seconds

/** Why `driver` cannot be tested on this Node (e.g. no node:sqlite before 22.13), or false. */
function unavailable(driver: SqliteDriver): string | false {
  try {
    openSqlite(':memory:', driver).close();
    return false;
  } catch (error) {
    return `${driver} is not available here: ${(error as Error).message}`;
  }
}

// One store, each driver: the same behaviour whichever SQLite a Node version gets.
for (const driver of SQLITE_DRIVERS) {
  describe(`history store on ${driver}`, { skip: unavailable(driver) }, () => {
    test('a re-delivered result is stored once; an older late result does not replace the latest count', () => {
      const store = new EngageStore(':memory:', driver);
      const first = result('cam-1', 4, HOUR + 10, 'r-1');
      assert.equal(store.recordResult(first, HOUR + 11), 'stored');
      assert.equal(store.recordResult(first, HOUR + 12), 'duplicate');
      assert.equal(store.recordResult({ ...first, count: 99 }, HOUR + 13), 'duplicate', 'same resultId, same row');
      assert.equal(store.recordResult(result('cam-1', 7, HOUR + 5, 'r-0'), HOUR + 14), 'stored');
      const device = store.getDevice('cam-1');
      assert.equal(device?.count, 4);
      assert.equal(device?.lastPhotoAt, HOUR + 10);
      const rows = store.db.prepare('SELECT COUNT(*) AS n FROM counts').get() as { n: number };
      assert.equal(rows.n, 2);
      store.close();
    });

    test('device settings: PUT semantics keep omitted fields and clear nulls', () => {
      const store = new EngageStore(':memory:', driver);
      store.upsertDevice('cam-1', { name: 'Door', site: 'lobby', capacity: 10 }, HOUR);
      store.upsertDevice('cam-1', { capacity: 12 }, HOUR);
      assert.deepEqual(store.getDevice('cam-1'), {
        id: 'cam-1',
        name: 'Door',
        site: 'lobby',
        capacity: 12,
        count: null,
        lastPhotoAt: null,
        photoIntervalSeconds: null,
      });
      store.recordResult(result('cam-1', 3, HOUR), HOUR);
      store.upsertDevice('cam-1', { site: null }, HOUR);
      const device = store.getDevice('cam-1');
      assert.equal(device?.site, null);
      assert.equal(device?.count, 3, 'settings do not touch the count');
      assert.equal(device?.photoIntervalSeconds, null, 'one photo: no interval yet');
      store.recordResult(result('cam-1', 4, HOUR + 30), HOUR + 30);
      assert.equal(store.getDevice('cam-1')?.photoIntervalSeconds, 30);
      store.close();
    });

    test('buckets aggregate avg/min/max per minute and hour; raw returns each count', () => {
      const store = new EngageStore(':memory:', driver);
      // [seconds after the hour, count]: three in the first minute, one in the second, one an hour later.
      const samples = [
        [0, 2],
        [20, 4],
        [40, 6],
        [60, 10],
        [3600, 20],
      ] as const;
      for (const [offset, count] of samples) store.recordResult(result('cam-1', count, HOUR + offset), HOUR);
      store.recordResult(result('cam-2', 100, HOUR + 30), HOUR);
      const range = { from: HOUR, to: HOUR + 7200 };
      assert.deepEqual(store.deviceSeries('cam-1', { ...range, bucket: '1m' }).points, [
        { t: HOUR, avg: 4, min: 2, max: 6, n: 3 },
        { t: HOUR + 60, avg: 10, min: 10, max: 10, n: 1 },
        { t: HOUR + 3600, avg: 20, min: 20, max: 20, n: 1 },
      ]);
      assert.deepEqual(store.deviceSeries('cam-1', { ...range, bucket: '1h' }).points, [
        { t: HOUR, avg: 5.5, min: 2, max: 10, n: 4 },
        { t: HOUR + 3600, avg: 20, min: 20, max: 20, n: 1 },
      ]);
      const raw = store.deviceSeries('cam-1', { from: HOUR + 10, to: HOUR + 60, bucket: 'raw' });
      assert.deepEqual(
        raw.points.map((p) => [p.t, p.avg]),
        [
          [HOUR + 20, 4],
          [HOUR + 40, 6],
        ],
      );
      assert.equal(raw.truncated, false);
      store.close();
    });

    test('site series: raw is the running sum from before the range; buckets aggregate those site totals', () => {
      const store = new EngageStore(':memory:', driver);
      for (const id of ['a', 'b', 'elsewhere'])
        store.upsertDevice(id, { site: id === 'elsewhere' ? 'other' : 'lobby' }, HOUR);
      store.recordResult(result('a', 3, HOUR - 30), HOUR);
      store.recordResult(result('b', 5, HOUR + 10), HOUR);
      store.recordResult(result('a', 1, HOUR + 20), HOUR);
      store.recordResult(result('elsewhere', 50, HOUR + 15), HOUR);
      const raw = store.siteSeries('lobby', { from: HOUR, to: HOUR + 60, bucket: 'raw' });
      assert.deepEqual(
        raw.points.map((p) => [p.t, p.avg]),
        [
          [HOUR + 10, 8],
          [HOUR + 20, 6],
        ],
      );
      const minute = store.siteSeries('lobby', { from: HOUR - 60, to: HOUR + 60, bucket: '1m' });
      assert.deepEqual(minute.points, [
        { t: HOUR - 60, avg: 3, min: 3, max: 3, n: 1 },
        { t: HOUR, avg: 7, min: 6, max: 8, n: 2 },
      ]);
      assert.equal(minute.firstAt, HOUR - 30, 'the first count of the site ever');
      store.close();
    });

    test('retention prunes old counts and alerts but keeps the device and its latest count', () => {
      const store = new EngageStore(':memory:', driver);
      store.recordResult(result('cam-1', 1, HOUR - 100 * 86_400), HOUR);
      store.recordResult(result('cam-1', 2, HOUR), HOUR);
      assert.equal(store.prune(HOUR - 90 * 86_400), 1);
      const series = store.deviceSeries('cam-1', { from: 0, to: HOUR + 1, bucket: 'raw' });
      assert.deepEqual(
        series.points.map((p) => p.avg),
        [2],
      );
      assert.equal(store.getDevice('cam-1')?.count, 2);
      store.close();
    });

    test('an existing older database is migrated in place, keeping its data; a newer one is refused', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'pc-engage-'));
      try {
        const path = join(dir, 'engage.db');
        const old = openSqlite(path, driver);
        migrate(old, 1);
        old
          .prepare(
            `INSERT INTO counts (result_id, device_id, count, photo_at, analysed_at, received_at, latency_ms, model, instance_id)
             VALUES ('old-1', 'cam-1', 6, ?, ?, ?, 10, 'm', 'i')`,
          )
          .run(HOUR, HOUR, HOUR);
        old
          .prepare('INSERT INTO devices (id, name, created_at, last_count, last_photo_at) VALUES (?, ?, ?, ?, ?)')
          .run('cam-1', 'Door', HOUR, 6, HOUR);
        assert.equal(readPragma(old, 'user_version'), 1);
        old.close();

        const store = new EngageStore(path, driver);
        assert.equal(store.schemaVersion, LATEST_SCHEMA_VERSION);
        assert.equal(store.getDevice('cam-1')?.name, 'Door');
        assert.equal(store.recordResult(result('cam-1', 6, HOUR, 'old-1'), HOUR), 'duplicate', 'old rows still dedupe');
        assert.equal(store.recordResult(result('cam-1', 8, HOUR + 60), HOUR), 'stored');
        store.putRule({ id: 'r', scope: 'device', target: 'cam-1', raiseAtCount: 5, clearBelowPercent: 90 }, HOUR);
        assert.equal(readPragma(store.db, 'journal_mode'), 'wal');
        store.close();

        const newer = openSqlite(path, driver);
        newer.exec(`PRAGMA user_version = ${LATEST_SCHEMA_VERSION + 1}`);
        newer.close();
        assert.throws(() => new EngageStore(path, driver), /newer than this program knows/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

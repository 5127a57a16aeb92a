import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceView, siteOccupancy } from '../../src/engage/occupancy.js';
import { bucketTotals, csvFileName, seriesCsv, siteStepSeries, siteTotals } from '../../src/engage/series.js';
import { autoBucket, parseInstant, RangeError400, resolveRange } from '../../src/engage/time-range.js';

test('instants: ISO 8601 or unix seconds; milliseconds and nonsense are refused clearly', () => {
  assert.equal(parseInstant('from', '2026-01-31T12:00:00Z'), Date.UTC(2026, 0, 31, 12) / 1000);
  assert.equal(parseInstant('from', '1769860800'), 1769860800);
  assert.equal(parseInstant('from', '1769860800.5'), 1769860800.5);
  assert.throws(() => parseInstant('from', '1769860800000'), /milliseconds/);
  assert.throws(
    () => parseInstant('to', 'yesterday'),
    (error: Error) => {
      assert.ok(error instanceof RangeError400);
      assert.match(error.message, /to is not a time/);
      return true;
    },
  );
  assert.throws(() => parseInstant('to', '2026-13-45'), /not a time/);
});

test('ranges: defaults, ordering, bucket choice and the bucket limit', () => {
  const now = 1_800_000_000;
  assert.deepEqual(resolveRange({}, now), { from: now - 86_400, to: now, bucket: '1m' });
  assert.deepEqual(resolveRange({ from: String(now - 600), to: String(now) }, now), {
    from: now - 600,
    to: now,
    bucket: 'raw',
  });
  assert.throws(() => resolveRange({ from: String(now), to: String(now - 1) }, now), /earlier/);
  assert.throws(() => resolveRange({ from: '1000000000', to: String(now), bucket: '1m' }, now), /coarser bucket/);
  assert.equal(autoBucket(7 * 86_400), '1h');
  assert.equal(autoBucket(365 * 86_400), '1d');
});

test('a site raw series is the running sum of each device latest count', () => {
  const points = siteStepSeries(
    [{ deviceId: 'a', t: 90, count: 2 }],
    [
      { deviceId: 'b', t: 100, count: 5 },
      { deviceId: 'a', t: 110, count: 4 },
      { deviceId: 'b', t: 120, count: 1 },
    ],
  );
  assert.deepEqual(
    points.map((p) => [p.t, p.avg]),
    [
      [100, 7],
      [110, 9],
      [120, 5],
    ],
  );
});

test("a site's bucket max is its real peak, not the sum of its devices' peaks", () => {
  // Two cameras peak at 6 and 9 at different moments in the same minute; the site never held 15.
  const samples = [
    { deviceId: 'a', t: 0, count: 6 },
    { deviceId: 'b', t: 10, count: 1 },
    { deviceId: 'a', t: 20, count: 1 },
    { deviceId: 'b', t: 30, count: 9 },
    { deviceId: 'a', t: 70, count: 2 },
  ];
  assert.deepEqual(bucketTotals(siteTotals([], samples), 60), [
    { t: 0, avg: (6 + 7 + 2 + 10) / 4, min: 2, max: 10, n: 4 },
    { t: 60, avg: 11, min: 11, max: 11, n: 1 },
  ]);
});

test('CSV files are named by what and when', () => {
  const from = Date.UTC(2026, 10, 29, 10) / 1000;
  assert.equal(
    csvFileName('Café east / door', from, from + 3600),
    'Cafe-east-door_2026-11-29T10-00Z_2026-11-29T11-00Z.csv',
  );
  assert.equal(csvFileName('★', from, from + 60), 'counts_2026-11-29T10-00Z_2026-11-29T10-01Z.csv');
});

test('CSV has a header, ISO and unix times, and quotes what needs quoting', () => {
  const csv = seriesCsv('site', 'a,b', [{ t: 1_800_000_000, avg: 2.3333333, min: 1, max: 4, n: 3 }]);
  assert.equal(
    csv,
    'time,unix_seconds,site,avg,min,max,samples\r\n2027-01-15T08:00:00.000Z,1800000000,"a,b",2.333,1,4,3\r\n',
  );
});

test('staleness and site occupancy: only live devices are summed, the others are named', () => {
  const now = 10_000;
  const base = { name: null, capacity: 10, site: 'lobby' };
  const live = deviceView({ ...base, id: 'a', count: 3, lastPhotoAt: now - 10 }, 'unknown', now, 300);
  const stale = deviceView({ ...base, id: 'b', count: 7, lastPhotoAt: now - 301 }, 'unknown', now, 300);
  const offline = deviceView({ ...base, id: 'c', count: 2, lastPhotoAt: now - 1 }, 'offline', now, 300);
  const never = deviceView({ ...base, id: 'd', count: null, lastPhotoAt: null }, 'online', now, 300);
  assert.deepEqual(
    [live, stale, offline, never].map((d) => [d.state, d.stale, d.online]),
    [
      ['live', false, null],
      ['stale', true, null],
      ['offline', false, false],
      ['no-data', true, true],
    ],
  );
  const site = siteOccupancy('lobby', [live, stale, offline, never]);
  assert.equal(site.count, 3);
  assert.equal(site.capacity, 40);
  assert.deepEqual(site.liveDevices, ['a']);
  assert.deepEqual(site.staleDevices, ['b', 'c', 'd']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceView, photoLiveness, siteOccupancy, usualPhotoInterval } from '../../src/engage/occupancy.js';
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

test("a camera's usual photo interval is the median gap of its last photos, in any order", () => {
  assert.equal(usualPhotoInterval([]), null);
  assert.equal(usualPhotoInterval([100]), null);
  assert.equal(usualPhotoInterval([100, 160]), 60);
  // Every 10 s with one pause of 5 min and one double shot: still 10 s.
  assert.equal(usualPhotoInterval([400, 10, 20, 30, 40, 340, 341, 350, 360].reverse()), 10);
  assert.equal(usualPhotoInterval([0, 10, 30, 60, 100]), 25, 'an even number of gaps: the mean of the middle two');
});

test("live, stale, offline: by the camera's own interval, within the bounds of --stale-after", () => {
  const staleAfter = 300;
  /** The state `age` seconds after the last photo of a camera that sends one every `interval` seconds. */
  const at = (age: number, interval: number | null) => photoLiveness(1000, interval, 1000 + age, staleAfter);
  // A demo camera every 30 s: live for a minute, stale up to 5 min, then offline.
  assert.deepEqual(
    [0, 60, 61, 300, 301].map((age) => at(age, 30)),
    ['live', 'live', 'stale', 'stale', 'offline'],
  );
  // Every second: judged as every 15 s, so inference taking a few seconds does not flicker it stale.
  assert.deepEqual(
    [25, 31, 150, 151].map((age) => at(age, 1)),
    ['live', 'stale', 'stale', 'offline'],
  );
  // Every hour: never live longer than --stale-after.
  assert.deepEqual(
    [300, 301, 1500, 1501].map((age) => at(age, 3600)),
    ['live', 'stale', 'stale', 'offline'],
  );
  // One photo so far: judged by --stale-after alone.
  assert.deepEqual(
    [300, 301, 1501].map((age) => at(age, null)),
    ['live', 'stale', 'offline'],
  );
  assert.equal(photoLiveness(null, 30, 1000, staleAfter), 'never');
});

test('device states and site occupancy: only live devices are summed, the others are named', () => {
  const now = 10_000;
  const base = { name: null, capacity: 10, site: 'lobby', photoIntervalSeconds: 30 };
  const live = deviceView({ ...base, id: 'a', count: 3, lastPhotoAt: now - 10 }, 'unknown', now, 300);
  const stale = deviceView({ ...base, id: 'b', count: 7, lastPhotoAt: now - 61 }, 'unknown', now, 300);
  const said = deviceView({ ...base, id: 'c', count: 2, lastPhotoAt: now - 1 }, 'offline', now, 300);
  const silent = deviceView({ ...base, id: 'd', count: 5, lastPhotoAt: now - 301 }, 'online', now, 300);
  const never = deviceView({ ...base, id: 'e', count: null, lastPhotoAt: null }, 'online', now, 300);
  assert.deepEqual(
    [live, stale, said, silent, never].map((d) => [d.state, d.stale, d.online]),
    [
      ['live', false, null],
      ['stale', true, null],
      ['offline', false, false],
      ['offline', true, true],
      ['no-data', true, true],
    ],
  );
  const site = siteOccupancy('lobby', [live, stale, said, silent, never]);
  assert.equal(site.count, 3);
  assert.equal(site.capacity, 50);
  assert.deepEqual(site.liveDevices, ['a']);
  assert.deepEqual(site.staleDevices, ['b', 'c', 'd', 'e']);
});

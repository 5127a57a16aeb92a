/**
 * Engage's history in SQLite (WAL): every count once (idempotent by resultId), the device registry
 * with each device's latest count, alert rules, alert state and alert history, pruned by retention.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AlertMessage, ResultMessage } from '../core/messages.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../core/private-files.js';
import { type Zone, zoneCount } from '../core/zones.js';
import { type AlertRule, type AlertRuleInput, alertRuleBodySchema } from './alerts.js';
import { migrate } from './migrations.js';
import { type DeviceRecord, INTERVAL_PHOTOS, usualPhotoInterval } from './occupancy.js';
import { bucketTotals, type CountSample, type SeriesPoint, siteStepSeries, siteTotals } from './series.js';
import { inTransaction, openSqlite, readPragma, type SqlDatabase, type SqliteDriver } from './sqlite.js';
import { BUCKET_SECONDS, type ResolvedRange } from './time-range.js';

/** Most raw points one query returns; the answer says when it was cut. */
export const MAX_RAW_POINTS = 20_000;

export interface DevicePatch {
  name?: string | null | undefined;
  site?: string | null | undefined;
  capacity?: number | null | undefined;
}

export interface Series {
  points: SeriesPoint[];
  truncated: boolean;
  /** The subject's first count ever (unix seconds), null without any: lets the page pick a range that holds the data. */
  firstAt: number | null;
}

/** A zone's latest count: from the newest counted photo of its camera that could place people in it. */
export interface ZoneCount {
  count: number;
  photoAt: number;
  resultId: string;
}

/** A zone with its camera and its latest count (null before its first). */
export interface ZoneState extends Zone {
  deviceId: string;
  latest: ZoneCount | null;
}

interface ZoneRow {
  device_id: string;
  zone_id: string;
  name: string;
  polygon: string;
  count: number | null;
  photo_at: number | null;
  result_id: string | null;
}

/** Zones with their latest count; `WHERE` filters the zones (`z`). */
const ZONE_STATES = `SELECT z.device_id, z.zone_id, z.name, z.polygon, c.count, c.photo_at, c.result_id FROM zones z
  LEFT JOIN zone_counts c ON c.rowid = (SELECT rowid FROM zone_counts WHERE device_id = z.device_id
    AND zone_id = z.zone_id ORDER BY photo_at DESC LIMIT 1)`;

const zoneState = (row: ZoneRow): ZoneState => ({
  deviceId: row.device_id,
  id: row.zone_id,
  name: row.name,
  polygon: JSON.parse(row.polygon) as Zone['polygon'],
  latest:
    row.count === null || row.photo_at === null || row.result_id === null
      ? null
      : { count: row.count, photoAt: row.photo_at, resultId: row.result_id },
});

interface DeviceRow {
  id: string;
  name: string | null;
  site: string | null;
  capacity: number | null;
  last_count: number | null;
  last_photo_at: number | null;
}

export class EngageStore {
  readonly db: SqlDatabase;
  private readonly recordResultOnce: (result: ResultMessage, receivedAt: number) => 'stored' | 'duplicate';
  private readonly recentPhotoTimes: (deviceId: string) => number[];

  /** `driver` picks one SQLite driver (tests, benchmarks); by default the first available. */
  constructor(path: string, driver?: SqliteDriver) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
      // SQLite keeps an existing file's mode and gives its -wal and -shm files the same one.
      closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
    }
    this.db = openSqlite(path, driver);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    migrate(this.db);
    this.recordResultOnce = this.prepareRecordResult();
    const recent = this.db.prepare(
      `SELECT photo_at FROM counts WHERE device_id = ? ORDER BY photo_at DESC LIMIT ${INTERVAL_PHOTOS}`,
    );
    this.recentPhotoTimes = (deviceId) => (recent.all(deviceId) as Array<{ photo_at: number }>).map((r) => r.photo_at);
  }

  /** A device's row with its usual photo interval, from its latest counts (an index lookup). */
  private readonly toRecord = (row: DeviceRow): DeviceRecord => ({
    id: row.id,
    name: row.name,
    site: row.site,
    capacity: row.capacity,
    count: row.last_count,
    lastPhotoAt: row.last_photo_at,
    photoIntervalSeconds: usualPhotoInterval(this.recentPhotoTimes(row.id)),
  });

  get schemaVersion(): number {
    return readPragma(this.db, 'user_version') as number;
  }

  /**
   * Stores a result once: a re-delivered resultId changes nothing. The device's latest count only
   * moves forward in photo time, so a late, older result does not overwrite a newer count.
   */
  recordResult(result: ResultMessage, receivedAt: number): 'stored' | 'duplicate' {
    return this.recordResultOnce(result, receivedAt);
  }

  /** Prepared once: this runs for every result. */
  private prepareRecordResult() {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO counts (result_id, device_id, count, photo_at, analysed_at, received_at,
         latency_ms, model, instance_id, superseded, reprocessed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const zonesOf = this.db.prepare('SELECT zone_id, polygon FROM zones WHERE device_id = ?');
    const insertZoneCount = this.db.prepare(
      'INSERT OR IGNORE INTO zone_counts (result_id, device_id, zone_id, photo_at, count) VALUES (?, ?, ?, ?, ?)',
    );
    const advanceLatest = this.db.prepare(
      `INSERT INTO devices (id, created_at, last_count, last_photo_at, last_result_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_count = excluded.last_count, last_photo_at = excluded.last_photo_at,
         last_result_id = excluded.last_result_id
       WHERE devices.last_photo_at IS NULL OR excluded.last_photo_at >= devices.last_photo_at`,
    );
    return (result: ResultMessage, receivedAt: number): 'stored' | 'duplicate' =>
      inTransaction(this.db, () => {
        const inserted = insert.run(
          result.resultId,
          result.deviceID,
          result.count,
          result.creationTimestamp,
          result.analysedAt,
          receivedAt,
          result.latencyMs,
          result.model,
          result.instanceId,
          result.superseded,
          result.reprocessed ? 1 : 0,
        );
        if (inserted.changes === 0) return 'duplicate';
        advanceLatest.run(result.deviceID, receivedAt, result.count, result.creationTimestamp, result.resultId);
        for (const zone of zonesOf.all(result.deviceID) as Array<{ zone_id: string; polygon: string }>) {
          const count = zoneCount(result, JSON.parse(zone.polygon) as Zone['polygon']);
          if (count === null) continue;
          insertZoneCount.run(result.resultId, result.deviceID, zone.zone_id, result.creationTimestamp, count);
        }
        return 'stored';
      });
  }

  listDevices(): DeviceRecord[] {
    return (this.db.prepare('SELECT * FROM devices ORDER BY site, name, id').all() as DeviceRow[]).map(this.toRecord);
  }

  listDevicesOfSite(site: string): DeviceRecord[] {
    const rows = this.db.prepare('SELECT * FROM devices WHERE site = ? ORDER BY name, id').all(site) as DeviceRow[];
    return rows.map(this.toRecord);
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
    return row ? this.toRecord(row) : undefined;
  }

  /** Creates or updates a device's settings; fields left undefined keep their value, null clears them. */
  upsertDevice(id: string, patch: DevicePatch, now: number): DeviceRecord {
    const current = this.getDevice(id);
    const pick = <K extends keyof DevicePatch>(key: K, existing: DevicePatch[K]) =>
      patch[key] === undefined ? (existing ?? null) : patch[key];
    this.db
      .prepare(
        `INSERT INTO devices (id, name, site, capacity, created_at) VALUES (@id, @name, @site, @capacity, @now)
         ON CONFLICT (id) DO UPDATE SET name = @name, site = @site, capacity = @capacity`,
      )
      .run({
        id,
        name: pick('name', current?.name),
        site: pick('site', current?.site),
        capacity: pick('capacity', current?.capacity),
        now,
      });
    return this.getDevice(id)!;
  }

  /** A device's history, or with `zone` that of one of its zones. */
  deviceSeries(deviceId: string, range: ResolvedRange, zone?: string): Series {
    // Both tables have device_id, photo_at and count; a zone's rows are also filtered by zone_id.
    const [table, zoneFilter] = zone === undefined ? ['counts', ''] : ['zone_counts', 'AND zone_id = @zone'];
    const subject = { deviceId, ...(zone === undefined ? {} : { zone }) };
    const { first } = this.db
      .prepare(`SELECT MIN(photo_at) AS first FROM ${table} WHERE device_id = @deviceId ${zoneFilter}`)
      .get(subject) as {
      first: number | null;
    };
    if (range.bucket === 'raw') {
      const rows = this.db
        .prepare(
          `SELECT photo_at AS t, count FROM ${table} WHERE device_id = @deviceId ${zoneFilter}
           AND photo_at >= @from AND photo_at < @to ORDER BY photo_at LIMIT @limit`,
        )
        .all({ ...subject, from: range.from, to: range.to, limit: MAX_RAW_POINTS + 1 }) as Array<{
        t: number;
        count: number;
      }>;
      return limitRaw(
        rows.map((row) => ({ t: row.t, avg: row.count, min: row.count, max: row.count, n: 1 })),
        first,
      );
    }
    const size = BUCKET_SECONDS[range.bucket];
    const points = this.db
      .prepare(
        `SELECT CAST(photo_at / @size AS INTEGER) * @size AS t, AVG(count) AS avg, MIN(count) AS min,
           MAX(count) AS max, COUNT(*) AS n
         FROM ${table} WHERE device_id = @deviceId ${zoneFilter} AND photo_at >= @from AND photo_at < @to
         GROUP BY 1 ORDER BY 1`,
      )
      .all({ size, ...subject, from: range.from, to: range.to }) as SeriesPoint[];
    return { points, truncated: false, firstAt: first };
  }

  /**
   * A site's history from its totals: after each counted photo of any of its devices, the sum of
   * every device's latest count. Raw: those totals; bucketed: their avg/min/max per bucket.
   */
  siteSeries(site: string, range: ResolvedRange): Series {
    const { first } = this.db
      .prepare('SELECT MIN(c.photo_at) AS first FROM counts c JOIN devices d ON d.id = c.device_id WHERE d.site = ?')
      .get(site) as { first: number | null };
    const before = this.db
      .prepare(
        `SELECT c.device_id AS deviceId, c.photo_at AS t, c.count AS count FROM devices d
         JOIN counts c ON c.result_id = (SELECT result_id FROM counts WHERE device_id = d.id AND photo_at < ?
           ORDER BY photo_at DESC LIMIT 1)
         WHERE d.site = ?`,
      )
      .all(range.from, site) as CountSample[];
    const samples = this.db.prepare(
      `SELECT c.device_id AS deviceId, c.photo_at AS t, c.count AS count FROM counts c
       JOIN devices d ON d.id = c.device_id
       WHERE d.site = ? AND c.photo_at >= ? AND c.photo_at < ? ORDER BY c.photo_at, c.device_id LIMIT ?`,
    );
    if (range.bucket === 'raw') {
      const rows = samples.all(site, range.from, range.to, MAX_RAW_POINTS + 1) as CountSample[];
      return limitRaw(siteStepSeries(before, rows), first);
    }
    // Streamed: a long range of a busy site holds far more samples than buckets.
    const rows = samples.iterate(site, range.from, range.to, -1) as IterableIterator<CountSample>;
    return {
      points: bucketTotals(siteTotals(before, rows), BUCKET_SECONDS[range.bucket]),
      truncated: false,
      firstAt: first,
    };
  }

  /** Deletes counts of photos and alerts older than `before` (unix seconds); returns rows deleted. */
  prune(before: number): number {
    const counts = this.db.prepare('DELETE FROM counts WHERE photo_at < ?').run(before).changes;
    const alerts = this.db.prepare('DELETE FROM alerts WHERE at < ?').run(before).changes;
    const zoneCounts = this.db.prepare('DELETE FROM zone_counts WHERE photo_at < ?').run(before).changes;
    return counts + alerts + zoneCounts;
  }

  /** Every zone of every camera with its latest count, by camera and name. */
  allZones(): ZoneState[] {
    const rows = this.db.prepare(`${ZONE_STATES} ORDER BY z.device_id, z.name, z.zone_id`).all() as ZoneRow[];
    return rows.map(zoneState);
  }

  /** A camera's zones with their latest counts, by name. */
  listZones(deviceId: string): ZoneState[] {
    const rows = this.db
      .prepare(`${ZONE_STATES} WHERE z.device_id = ? ORDER BY z.name, z.zone_id`)
      .all(deviceId) as ZoneRow[];
    return rows.map(zoneState);
  }

  getZone(deviceId: string, zoneId: string): ZoneState | undefined {
    const row = this.db.prepare(`${ZONE_STATES} WHERE z.device_id = ? AND z.zone_id = ?`).get(deviceId, zoneId) as
      | ZoneRow
      | undefined;
    return row ? zoneState(row) : undefined;
  }

  /**
   * Creates or replaces a zone. Its counts start with the next result: earlier photos are gone, and
   * a changed polygon drops the counts of the old one so that its history means one area.
   */
  putZone(deviceId: string, zone: Zone, now: number): void {
    inTransaction(this.db, () => {
      const before = this.db
        .prepare('SELECT polygon FROM zones WHERE device_id = ? AND zone_id = ?')
        .get(deviceId, zone.id) as { polygon: string } | undefined;
      const polygon = JSON.stringify(zone.polygon);
      if (before && before.polygon !== polygon) {
        this.db.prepare('DELETE FROM zone_counts WHERE device_id = ? AND zone_id = ?').run(deviceId, zone.id);
      }
      this.db
        .prepare(
          `INSERT INTO zones (device_id, zone_id, name, polygon, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (device_id, zone_id) DO UPDATE SET name = excluded.name, polygon = excluded.polygon,
             updated_at = excluded.updated_at`,
        )
        .run(deviceId, zone.id, zone.name, polygon, now);
    });
  }

  /** Deletes a zone and its counts; false when there was none. */
  deleteZone(deviceId: string, zoneId: string): boolean {
    return inTransaction(this.db, () => {
      this.db.prepare('DELETE FROM zone_counts WHERE device_id = ? AND zone_id = ?').run(deviceId, zoneId);
      return this.db.prepare('DELETE FROM zones WHERE device_id = ? AND zone_id = ?').run(deviceId, zoneId).changes > 0;
    });
  }

  listRules(): AlertRule[] {
    const rows = this.db.prepare('SELECT id, body FROM alert_rules ORDER BY id').all() as Array<{
      id: string;
      body: string;
    }>;
    return rows.map((row) => ({ id: row.id, ...alertRuleBodySchema.parse(JSON.parse(row.body)) }));
  }

  putRule(rule: AlertRuleInput, now: number): void {
    const { id, ...fields } = rule;
    const body = alertRuleBodySchema.parse(fields);
    this.db
      .prepare(
        `INSERT INTO alert_rules (id, body, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
      )
      .run(id, JSON.stringify(body), now);
  }

  deleteRule(id: string): boolean {
    return inTransaction(this.db, () => {
      this.db.prepare('DELETE FROM alert_state WHERE rule_id = ?').run(id);
      return this.db.prepare('DELETE FROM alert_rules WHERE id = ?').run(id).changes > 0;
    });
  }

  isAlertActive(ruleId: string, target: string): boolean {
    const row = this.db
      .prepare('SELECT active FROM alert_state WHERE rule_id = ? AND target = ?')
      .get(ruleId, target) as { active: number } | undefined;
    return row?.active === 1;
  }

  /** Records a raised or cleared alert and the rule's new state together. */
  recordAlert(alert: AlertMessage): void {
    inTransaction(this.db, () => {
      this.db
        .prepare(
          `INSERT INTO alert_state (rule_id, target, active) VALUES (?, ?, ?)
           ON CONFLICT (rule_id, target) DO UPDATE SET active = excluded.active`,
        )
        .run(alert.ruleId, alert.target, alert.state === 'raised' ? 1 : 0);
      this.db
        .prepare('INSERT OR IGNORE INTO alerts (alert_id, at, message) VALUES (?, ?, ?)')
        .run(alert.alertId, alert.at, JSON.stringify(alert));
    });
  }

  recentAlerts(limit: number): AlertMessage[] {
    const rows = this.db.prepare('SELECT message FROM alerts ORDER BY at DESC LIMIT ?').all(limit) as Array<{
      message: string;
    }>;
    return rows.map((row) => JSON.parse(row.message) as AlertMessage);
  }

  close(): void {
    this.db.close();
  }
}

function limitRaw(points: SeriesPoint[], firstAt: number | null): Series {
  return points.length > MAX_RAW_POINTS
    ? { points: points.slice(0, MAX_RAW_POINTS), truncated: true, firstAt }
    : { points, truncated: false, firstAt };
}

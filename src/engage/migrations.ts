/**
 * The engage database schema as ordered migration steps. `PRAGMA user_version` records how many
 * have run; opening a database applies the missing ones in order, each in its own transaction.
 * Never edit a released step: append a new one.
 */
import { inTransaction, readPragma, type SqlDatabase } from './sqlite.js';

export interface Migration {
  version: number;
  description: string;
  up(db: SqlDatabase): void;
}

export const migrations: Migration[] = [
  {
    version: 1,
    description: 'devices and counts',
    up: (db) =>
      db.exec(`
        CREATE TABLE devices (
          id TEXT PRIMARY KEY,
          name TEXT,
          site TEXT,
          capacity INTEGER,
          created_at REAL NOT NULL,
          last_count INTEGER,
          last_photo_at REAL,
          last_result_id TEXT
        );
        CREATE TABLE counts (
          result_id TEXT PRIMARY KEY,
          device_id TEXT NOT NULL,
          count INTEGER NOT NULL,
          photo_at REAL NOT NULL,
          analysed_at REAL NOT NULL,
          received_at REAL NOT NULL,
          latency_ms REAL NOT NULL,
          model TEXT NOT NULL,
          instance_id TEXT NOT NULL
        );
        CREATE INDEX counts_by_device_time ON counts (device_id, photo_at);
      `),
  },
  {
    version: 2,
    description: 'alert rules, alert state and alert history',
    up: (db) =>
      db.exec(`
        CREATE TABLE alert_rules (
          id TEXT PRIMARY KEY,
          body TEXT NOT NULL,
          updated_at REAL NOT NULL
        );
        CREATE TABLE alert_state (
          rule_id TEXT NOT NULL,
          target TEXT NOT NULL,
          active INTEGER NOT NULL,
          PRIMARY KEY (rule_id, target)
        );
        CREATE TABLE alerts (
          alert_id TEXT PRIMARY KEY,
          at REAL NOT NULL,
          message TEXT NOT NULL
        );
        CREATE INDEX alerts_by_time ON alerts (at);
      `),
  },
  {
    version: 3,
    description: 'superseded and reprocessed flags on counts; index for retention',
    up: (db) =>
      db.exec(`
        ALTER TABLE counts ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE counts ADD COLUMN reprocessed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX counts_by_time ON counts (photo_at);
      `),
  },
  {
    version: 4,
    description: 'camera profiles with their history; tuning sessions and their frames',
    up: (db) =>
      db.exec(`
        CREATE TABLE profiles (
          device_id TEXT NOT NULL,
          revision INTEGER NOT NULL,
          body TEXT,
          hash TEXT,
          source TEXT NOT NULL,
          tuning TEXT,
          created_at REAL NOT NULL,
          PRIMARY KEY (device_id, revision)
        );
        CREATE TABLE tuning_sessions (
          id TEXT PRIMARY KEY,
          device_id TEXT NOT NULL,
          target INTEGER NOT NULL,
          created_at REAL NOT NULL,
          expires_at REAL NOT NULL,
          collecting INTEGER NOT NULL,
          fit TEXT
        );
        CREATE TABLE tuning_frames (
          session_id TEXT NOT NULL,
          key TEXT NOT NULL,
          added_at REAL NOT NULL,
          source TEXT NOT NULL,
          count INTEGER,
          marks TEXT,
          candidates TEXT,
          problem TEXT,
          PRIMARY KEY (session_id, key)
        );
      `),
  },
  {
    version: 5,
    description: 'zones per camera and their counts per result',
    up: (db) =>
      db.exec(`
        CREATE TABLE zones (
          device_id TEXT NOT NULL,
          zone_id TEXT NOT NULL,
          name TEXT NOT NULL,
          polygon TEXT NOT NULL,
          updated_at REAL NOT NULL,
          PRIMARY KEY (device_id, zone_id)
        );
        CREATE TABLE zone_counts (
          result_id TEXT NOT NULL,
          device_id TEXT NOT NULL,
          zone_id TEXT NOT NULL,
          photo_at REAL NOT NULL,
          count INTEGER NOT NULL,
          PRIMARY KEY (result_id, zone_id)
        );
        CREATE INDEX zone_counts_by_zone_time ON zone_counts (device_id, zone_id, photo_at);
        CREATE INDEX zone_counts_by_time ON zone_counts (photo_at);
      `),
  },
];

export const LATEST_SCHEMA_VERSION = migrations[migrations.length - 1]?.version ?? 0;

/** Brings the database up to `target` (default: latest); returns the versions applied. */
export function migrate(db: SqlDatabase, target = LATEST_SCHEMA_VERSION): number[] {
  const current = readPragma(db, 'user_version') as number;
  if (current > LATEST_SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${current} is newer than this program knows (${LATEST_SCHEMA_VERSION}); upgrade people-counter`,
    );
  }
  const applied: number[] = [];
  for (const step of migrations) {
    if (step.version <= current || step.version > target) continue;
    inTransaction(db, () => {
      step.up(db);
      db.exec(`PRAGMA user_version = ${step.version}`);
    });
    applied.push(step.version);
  }
  return applied;
}

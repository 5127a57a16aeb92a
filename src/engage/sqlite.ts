/**
 * The SQLite driver behind engage's history store, loaded only when a store is opened so that every
 * other command starts on a machine without one. Node ≥ 22.13 has SQLite built in (`node:sqlite`);
 * older Nodes use the optional better-sqlite3 package, which package.json builds only there.
 */
import { createRequire } from 'node:module';
import type { DatabaseSync } from 'node:sqlite';
import type BetterSqlite3 from 'better-sqlite3';
import { ConfigError } from '../core/config.js';

export type SqlValue = number | string | bigint | null | Uint8Array;
/** Positional values, or one object of named values (`@name` in the SQL). */
export type SqlParams = SqlValue[] | [Record<string, SqlValue>];

export interface SqlStatement {
  run(...params: SqlParams): { changes: number };
  get(...params: SqlParams): unknown;
  all(...params: SqlParams): unknown[];
  /** Rows one at a time, for results too large to hold at once. */
  iterate(...params: SqlParams): IterableIterator<unknown>;
}

/** All the store needs from a driver. */
export interface SqlDatabase {
  readonly driver: SqliteDriver;
  readonly isOpen: boolean;
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

export const SQLITE_DRIVERS = ['node:sqlite', 'better-sqlite3'] as const;
export type SqliteDriver = (typeof SQLITE_DRIVERS)[number];

const require = createRequire(import.meta.url);

function loadBuiltin(): typeof import('node:sqlite') | undefined {
  // Node 22 announces node:sqlite as experimental on every start; Node 24 no longer does. The API used
  // here has not changed between them, so that one warning is kept off the operator's console.
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: never[]) => {
    if (!String(warning).startsWith('SQLite is an experimental feature')) emitWarning.call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    // Absent before Node 20.16; on 22.5–22.12 it needs a flag, and then throws.
    return process.getBuiltinModule?.('node:sqlite');
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
}

function openBuiltin(path: string): SqlDatabase | string {
  const sqlite = loadBuiltin();
  if (!sqlite) return `Node ${process.versions.node} has no built-in node:sqlite`;
  const db: DatabaseSync = new sqlite.DatabaseSync(path);
  return {
    driver: 'node:sqlite',
    get isOpen() {
      return db.isOpen;
    },
    exec: (sql) => db.exec(sql),
    prepare: (sql) => {
      const statement = db.prepare(sql);
      return {
        run: (...params) => ({ changes: Number(statement.run(...(params as SqlValue[])).changes) }),
        // Its rows have no prototype; plain objects make them equal to better-sqlite3's.
        get: (...params) => {
          const row = statement.get(...(params as SqlValue[]));
          return row === undefined ? undefined : { ...row };
        },
        all: (...params) => statement.all(...(params as SqlValue[])).map((row) => ({ ...row })),
        iterate: (...params) => statement.iterate(...(params as SqlValue[])),
      };
    },
    close: () => db.close(),
  };
}

function openBetterSqlite3(path: string): SqlDatabase | string {
  let Database: typeof BetterSqlite3;
  try {
    Database = require('better-sqlite3') as typeof BetterSqlite3;
    // The native addon loads on first use: a missing or mismatched build shows here, not at require.
    new Database(':memory:').close();
  } catch (error) {
    // Not installed, or its native addon is missing or built for another Node: one line says which.
    return `better-sqlite3: ${(error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ')}`;
  }
  const db = new Database(path);
  return {
    driver: 'better-sqlite3',
    get isOpen() {
      return db.open;
    },
    exec: (sql) => {
      db.exec(sql);
    },
    prepare: (sql) => {
      const statement = db.prepare(sql);
      return {
        run: (...params) => ({ changes: statement.run(...params).changes }),
        get: (...params) => statement.get(...params),
        all: (...params) => statement.all(...params),
        iterate: (...params) => statement.iterate(...params),
      };
    },
    close: () => {
      db.close();
    },
  };
}

const openers: Record<SqliteDriver, (path: string) => SqlDatabase | string> = {
  'node:sqlite': openBuiltin,
  'better-sqlite3': openBetterSqlite3,
};

/**
 * Opens (creating if missing) the database at `path` with `driver`, or with the first that works:
 * the built-in one, then better-sqlite3. None working is the operator's to fix, said in one line.
 */
export function openSqlite(path: string, driver?: SqliteDriver): SqlDatabase {
  const reasons: string[] = [];
  for (const name of driver ? [driver] : SQLITE_DRIVERS) {
    const opened = openers[name](path);
    if (typeof opened !== 'string') return opened;
    reasons.push(opened);
  }
  throw new ConfigError(
    `the history store needs SQLite (${reasons.join('; ')}): use Node 22.13 or newer, or build better-sqlite3 ` +
      'with python3, make and g++ installed (`node scripts/sqlite-fallback.js` in the people-counter folder)',
  );
}

/** Runs `work` in one transaction: all of its writes, or none if it throws. */
export function inTransaction<T>(db: SqlDatabase, work: () => T): T {
  db.exec('BEGIN');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

/** The value of a PRAGMA that returns one (e.g. `user_version`, `journal_mode`). */
export function readPragma(db: SqlDatabase, name: string): unknown {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
  return row === undefined ? undefined : Object.values(row)[0];
}

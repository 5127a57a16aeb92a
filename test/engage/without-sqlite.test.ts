import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import { CLI } from '../helpers/processes.js';

const WITHOUT_SQLITE = resolve(import.meta.dirname, '../helpers/without-sqlite.js');

function runWithoutSqlite(args: string[]) {
  return spawnSync(process.execPath, ['--import', WITHOUT_SQLITE, CLI, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, [MESSAGE_SECRET_ENV]: 'without-sqlite-message-secret-0123' },
  });
}

test('without any SQLite driver the CLI still starts: --help loads every command module', () => {
  const run = runWithoutSqlite(['--help']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /Usage: people-counter/);
});

test('without any SQLite driver engage refuses in one line that says what to do (exit 2)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-nosqlite-'));
  try {
    const run = runWithoutSqlite(['engage', '--db', join(dir, 'engage.db'), '--port', '0']);
    assert.equal(run.status, 2, run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^people-counter: the history store needs SQLite .*Node 22\.13 or newer/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without any SQLite driver up stops what it started and says why in one line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-nosqlite-up-'));
  try {
    const ports = ['--engage-port', '0', '--ingest-port', '0', '--mqtt-port', '0', '--metrics-port', '0'];
    const run = runWithoutSqlite(['up', '--data-dir', dir, '--analytics', 'fixed-delay:10', ...ports]);
    assert.equal(run.status, 1, run.stderr);
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('people-counter'));
    assert.equal(errors.length, 1, run.stderr);
    assert.match(
      errors[0]!,
      /^people-counter up: cannot start the dashboard \(engage\): the history store needs SQLite/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

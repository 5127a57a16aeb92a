#!/usr/bin/env node
// Runs after `npm install`/`npm ci`. Node ≥ 22.13 has SQLite built in (node:sqlite) and needs nothing.
// Older Nodes use the optional better-sqlite3 package, whose own install script package.json's
// allowScripts switches off so that newer Nodes never compile it: here it runs, on those Nodes only,
// as better-sqlite3 itself would (a prebuilt binary, else a build with python3, make and g++).
// It never fails the install: without SQLite only `engage` and `up` refuse to start, and say why.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

function hasBuiltinSqlite() {
  try {
    return process.getBuiltinModule?.('node:sqlite') !== undefined;
  } catch {
    return false;
  }
}

function betterSqlite3Works() {
  try {
    const Database = require('better-sqlite3');
    new Database(':memory:').close();
    return true;
  } catch {
    return false;
  }
}

function run(command, args, cwd) {
  return spawnSync(command, args, { cwd, stdio: 'inherit' }).status === 0;
}

function main() {
  if (hasBuiltinSqlite() || betterSqlite3Works()) return;
  let packageDir;
  try {
    packageDir = dirname(require.resolve('better-sqlite3/package.json'));
  } catch {
    console.warn('people-counter: better-sqlite3 is not installed; engage and up need Node 22.13 or newer');
    return;
  }
  const prebuilt = createRequire(`${packageDir}/`).resolve('prebuild-install/bin.js');
  // npm names its own node-gyp for install scripts; outside npm, the one on PATH.
  const nodeGyp = process.env.npm_config_node_gyp;
  const built =
    run(process.execPath, [prebuilt], packageDir) ||
    (nodeGyp
      ? run(process.execPath, [nodeGyp, 'rebuild', '--release'], packageDir)
      : run('node-gyp', ['rebuild', '--release'], packageDir));
  if (!built || !betterSqlite3Works()) {
    console.warn(
      `people-counter: could not build better-sqlite3 for Node ${process.versions.node}; engage and up need it ` +
        '(install python3, make and g++, then run `node scripts/sqlite-fallback.js`) or Node 22.13 or newer',
    );
  }
}

main();

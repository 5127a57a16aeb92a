#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's built-in test runner.
// Node 20's runner does not expand globs, so the files are listed here. Pass paths or name
// fragments to run a subset: `npm test -- ingest`. Coverage is measured (Node's built-in,
// --experimental-test-coverage, on the compiled JavaScript) and summed for src/ in one line at the
// end (scripts/test-reporter.js); TEST_COVERAGE=0 turns it off. Not on Node 20: its runner maps
// coverage through tsc's source maps by itself and fails ("Could not report code coverage").
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests('dist/test').filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const nodeMajor = Number(process.versions.node.split('.')[0]);
const coverage = process.env.TEST_COVERAGE !== '0' && nodeMajor >= 22;
const reporter = new URL('./test-reporter.js', import.meta.url).href;
const result = spawnSync(
  process.execPath,
  [
    '--test',
    ...(coverage ? ['--experimental-test-coverage'] : []),
    `--test-reporter=${reporter}`,
    '--test-reporter-destination=stdout',
    '--test-concurrency=1',
    '--test-timeout=300000',
    ...files,
  ],
  { stdio: 'inherit' },
);
if (!coverage && process.env.TEST_COVERAGE !== '0') {
  console.log(`\ncoverage: not measured on Node ${process.version} (measured on Node 22 and later)`);
}
process.exit(result.status ?? 1);

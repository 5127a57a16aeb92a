#!/usr/bin/env node
// The `prepare` script: compiles the TypeScript to dist/ unless dist/ is already up to date.
// npm runs `prepare` after `npm ci`, and `npx people-counter` runs it again the first time it links this
// package into its cache: without this check that second run rebuilt everything (≈ 20 s on 2 cores)
// before the first command printed anything. Up to date = every compiled source (tsconfig.json's
// `include`) has its .js in dist/, written after both the source and tsconfig.json last changed.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['src', 'test', 'bench'];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function* sources(dir) {
  // The Docker build copies src/ only.
  if (mtime(dir) === undefined) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

function upToDate() {
  const config = mtime(join(root, 'tsconfig.json')) ?? Number.POSITIVE_INFINITY;
  for (const dir of SOURCE_DIRS) {
    for (const source of sources(join(root, dir))) {
      const built = mtime(join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js'));
      if (built === undefined || built < (mtime(source) ?? Number.POSITIVE_INFINITY) || built < config) return false;
    }
  }
  return true;
}

if (!upToDate()) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const { status } = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  process.exitCode = status ?? 1;
}

/**
 * The code layout is the architecture (README, "Architecture"): every service folder imports only
 * core and itself, core imports only core, and only the composition layers (stack, cli, bench) join
 * services. Scans the TypeScript sources, so type-only imports count too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** dist/test/system/ → the repository's src/. */
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
const SERVICES = new Set(['broker', 'ingest', 'inference', 'analytics', 'engage']);
/** Folders that wire services together; nothing else may import them. */
const COMPOSITION = new Set(['stack', 'cli', 'bench']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier of static imports and re-exports, side-effect imports and `import()`. */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specifiers = [
    ...code.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?['"]([^'"]+)['"]/g),
    ...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((match) => match[1] as string);
  return specifiers;
}

export function relativeImports(source: string): string[] {
  return importSpecifiers(source).filter((specifier) => specifier.startsWith('.'));
}

/** The top folder under src/ of a path (core, engage, …). */
function layerOf(path: string): string {
  return relative(SRC, path).split(sep)[0] as string;
}

/** The import edges that break the layering, as `from → to` lines. */
function violations(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    for (const specifier of relativeImports(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), specifier);
      const to = layerOf(target);
      if (to === from) continue;
      const broken =
        to.startsWith('..') || // outside src/
        (from === 'core' && to !== 'core') ||
        (SERVICES.has(from) && to !== 'core') ||
        (COMPOSITION.has(to) && !COMPOSITION.has(from));
      if (broken) found.push(`${relative(SRC, file)} → ${specifier}`);
    }
  }
  return found;
}

test('the import scan sees every form of relative import', () => {
  const source = [
    "import { a } from '../core/a.js';",
    "import type { B } from './b.js';",
    "import {\n  type C,\n  d,\n} from '../engage/c.js';",
    "export { e } from '../ingest/e.js';",
    "export type { F } from '../inference/f.js';",
    "import '../broker/side-effect.js';",
    "const g = await import('../analytics/g.js');",
    "import { z } from 'zod';",
    "// import { h } from '../engage/commented-out.js';",
  ].join('\n');
  assert.deepEqual(relativeImports(source), [
    '../core/a.js',
    './b.js',
    '../engage/c.js',
    '../ingest/e.js',
    '../inference/f.js',
    '../broker/side-effect.js',
    '../analytics/g.js',
  ]);
});

test('services import only core and themselves; core imports only core; only stack, cli and bench join services', () => {
  assert.ok(sourceFiles(SRC).length > 100, `found the sources in ${SRC}`);
  assert.deepEqual(violations(), []);
});

test('only the core MQTT wrapper imports MQTT.js', () => {
  const importers = sourceFiles(SRC)
    .filter((file) => importSpecifiers(readFileSync(file, 'utf8')).some((s) => s === 'mqtt' || s.startsWith('mqtt/')))
    .map((file) => relative(SRC, file).split(sep).join('/'));
  assert.deepEqual(importers, ['core/mqtt.ts']);
});

/** The src/ modules `file` imports, directly or through others (relative imports only). */
function importClosure(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (path: string) => {
    for (const specifier of relativeImports(readFileSync(path, 'utf8'))) {
      const target = resolve(dirname(path), specifier).replace(/\.js$/, '.ts');
      if (seen.has(target) || !target.startsWith(SRC) || !target.endsWith('.ts')) continue;
      seen.add(target);
      visit(target);
    }
  };
  visit(file);
  return seen;
}

test("engage's live events import no engine code: no circle through the engine or the tuning desk", () => {
  const reached = [...importClosure(join(SRC, 'engage/events.ts'))].map((path) =>
    relative(SRC, path).split(sep).join('/'),
  );
  for (const emitter of ['engage/events.ts', 'engage/engine.ts', 'engage/tuning/desk.ts', 'engage/service.ts'])
    assert.ok(!reached.includes(emitter), `events.ts reaches ${emitter}: ${reached.join(', ')}`);
});

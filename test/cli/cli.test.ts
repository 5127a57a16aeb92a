import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { renderCliReference } from '../../src/cli/reference.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { CLI, REPO_ROOT } from '../helpers/processes.js';

function commandPaths(command: Command, path: string[] = []): string[][] {
  return command.commands.flatMap((sub) => [[...path, sub.name()], ...commandPaths(sub, [...path, sub.name()])]);
}

describe('people-counter CLI', () => {
  test('docs/cli.md is the reference generated from the CLI definitions (npm run docs:cli)', () => {
    const committed = readFileSync(join(REPO_ROOT, 'docs/cli.md'), 'utf8');
    assert.equal(committed, renderCliReference(buildProgram()), 'docs/cli.md is out of date: run `npm run docs:cli`');
  });

  test('--help lists every command, and every command has its own --help', () => {
    const top = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    assert.equal(top.status, 0, top.stderr);
    const paths = commandPaths(buildProgram());
    assert.ok(paths.length >= 10, `expected the service and tool commands, found ${paths.length}`);
    for (const path of paths.filter((p) => p.length === 1)) assert.match(top.stdout, new RegExp(`\\n  ${path[0]}\\b`));
    for (const path of paths) {
      const help = spawnSync(process.execPath, [CLI, ...path, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, `${path.join(' ')} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^Usage: people-counter ${path.join(' ')}`), path.join(' '));
    }
  });

  test('a bad option value is a clear error with a non-zero exit, not a stack trace', () => {
    const result = spawnSync(process.execPath, [CLI, 'inference', '--batch-size', 'many'], { encoding: 'utf8' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /--batch-size.*whole number/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });

  test('count: more photos than the model queue holds, one line each in the order given, errors included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-count-'));
    try {
      const photos: string[] = [];
      for (let i = 0; i < 12; i++) {
        const path = join(dir, `empty-${String(i).padStart(2, '0')}.jpg`);
        await writeFile(path, await solidJpeg(160, 120, { r: 20 * i, g: 100, b: 200 - 10 * i }));
        photos.push(path);
      }
      const corrupt = join(dir, 'corrupt.jpg');
      await writeFile(corrupt, 'not a photo');
      photos.splice(5, 0, corrupt);
      const run = spawnSync(process.execPath, [CLI, 'count', '--json', '--workers', '1', ...photos], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 1, 'a photo failed, so the exit status says so');
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { photo: string; count?: number; error?: string });
      assert.deepEqual(
        lines.map((line) => line.photo),
        photos,
      );
      for (const line of lines) {
        if (line.photo === corrupt) assert.match(line.error ?? '', /UnusableImageError: not a JPEG/);
        else assert.equal(line.count, 0, `${line.photo}: an empty scene holds nobody`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

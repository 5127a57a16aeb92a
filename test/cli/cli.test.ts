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
import { MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import { cameraProfileSchema } from '../../src/core/people-counter.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { freePort, waitFor } from '../helpers/net.js';
import { CLI, REPO_ROOT, type ServiceProcess, sharedDataset, spawnProcess } from '../helpers/processes.js';

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

  test('analytics and broker refuse to start open to anyone unless told to', () => {
    const env = { ...process.env, PEOPLE_COUNTER_ANALYTICS_API_KEYS: '', PEOPLE_COUNTER_BROKER_INFERENCE_PASSWORD: '' };
    const analytics = spawnSync(process.execPath, [CLI, 'analytics', '--port', '0'], { encoding: 'utf8', env });
    assert.notEqual(analytics.status, 0);
    assert.match(analytics.stderr, /no API keys configured.*--allow-anonymous/);
    const broker = spawnSync(process.execPath, [CLI, 'broker', '--port', '0'], { encoding: 'utf8', env });
    assert.notEqual(broker.status, 0);
    assert.match(broker.stderr, /no broker accounts configured.*--allow-anonymous/);
  });

  test('inference and engage refuse to start without a message secret unless told to', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-unsigned-'));
    // Nobody listens there: both services start while their broker is still unreachable.
    const mqtt = ['--mqtt-url', `mqtt://127.0.0.1:${await freePort()}`];
    const services = [
      {
        args: ['inference', ...mqtt, '--analytics', 'fixed-delay:5', '--storage', dir, '--metrics-port', '0'],
        started: 'inference instance started',
      },
      { args: ['engage', ...mqtt, '--db', join(dir, 'engage.db'), '--port', '0'], started: 'API listening' },
    ];
    const isSecretWarning = (line: string) => line.includes('"level":40') && line.includes(MESSAGE_SECRET_ENV);
    const running: ServiceProcess[] = [];
    try {
      for (const { args, started } of services) {
        const refused = spawnProcess(args[0]!, args);
        assert.equal((await refused.exited).code, 2, refused.output());
        assert.match(
          refused.output(),
          /PEOPLE_COUNTER_MESSAGE_SECRET \(or PEOPLE_COUNTER_MESSAGE_SECRET_FILE.*openssl rand -hex 32.*--insecure-unsigned/,
        );
        const unsigned = spawnProcess(args[0]!, [...args, '--insecure-unsigned']);
        running.push(unsigned);
        await waitFor(() => unsigned.output().includes(started), { timeoutMs: 60_000, message: `${args[0]} to start` });
        assert.ok(unsigned.output().split('\n').some(isSecretWarning), unsigned.output());
      }
      // The secret from a file: signed, so no warning.
      const secretFile = join(dir, 'message-secret');
      await writeFile(secretFile, `${'s'.repeat(32)}\n`);
      const signed = spawnProcess('inference', services[0]!.args, { [`${MESSAGE_SECRET_ENV}_FILE`]: secretFile });
      running.push(signed);
      await waitFor(() => signed.output().includes(services[0]!.started), { timeoutMs: 60_000 });
      assert.equal(signed.output().split('\n').some(isSecretWarning), false, signed.output());
    } finally {
      await Promise.all(running.map((service) => service.stop()));
      await rm(dir, { recursive: true, force: true });
    }
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

  test('fit-threshold: needs labelled boxes, and people among the detections, and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-fit-threshold-'));
    try {
      const images = [];
      for (let i = 0; i < 4; i++) {
        await writeFile(join(dir, `empty-${i}.jpg`), await solidJpeg(160, 120, { r: 40 * i, g: 90, b: 160 }));
        images.push({ file: `empty-${i}.jpg`, count: 1, boxes: [[10, 10, 60, 110]] });
      }
      await writeFile(join(dir, 'labels.json'), JSON.stringify({ images }));
      const noPeople = spawnSync(process.execPath, [CLI, 'fit-threshold', dir, '--workers', '1'], { encoding: 'utf8' });
      assert.notEqual(noPeople.status, 0);
      assert.match(noPeople.stderr, /needs detections that match labelled people.*0 of them match/);
      assert.doesNotMatch(noPeople.stderr, /\n\s+at /);
      await writeFile(
        join(dir, 'labels.json'),
        JSON.stringify({ images: images.map(({ file, count }) => ({ file, count })) }),
      );
      const noBoxes = spawnSync(process.execPath, [CLI, 'fit-threshold', dir, '--workers', '1'], { encoding: 'utf8' });
      assert.notEqual(noBoxes.status, 0);
      assert.match(noBoxes.stderr, /4 photos .* have no "boxes"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const { dir: pennFudan, skip } = sharedDataset('pennfudan-fudan');
  test('fit-threshold: fits a profile on labelled street photos and cross-validates it', {
    skip,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-fit-threshold-'));
    try {
      const out = join(dir, 'street.json');
      const run = spawnSync(
        process.execPath,
        [CLI, 'fit-threshold', pennFudan, '--limit', '16', '--workers', '1', '--json', '--out', out],
        { encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      const result = JSON.parse(run.stdout) as {
        n: number;
        profile: unknown;
        leaveOneOutMae: number;
        halvesMae: number;
      };
      assert.equal(result.n, 16);
      const profile = cameraProfileSchema.parse(result.profile);
      assert.deepEqual(cameraProfileSchema.parse(JSON.parse(readFileSync(out, 'utf8'))), profile);
      assert.ok(profile.scoreThreshold !== undefined && profile.scoreThreshold > 0.1 && profile.scoreThreshold < 0.9);
      assert.ok(result.leaveOneOutMae >= 0 && result.leaveOneOutMae < 2, `leave-one-out MAE ${result.leaveOneOutMae}`);
      assert.ok(result.halvesMae >= 0 && result.halvesMae < 2, `halves MAE ${result.halvesMae}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

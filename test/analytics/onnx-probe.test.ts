import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onnxRuntimeLoadProblem, probeModuleLoad } from '../../src/analytics/onnx/onnx-probe.js';

describe('ONNX Runtime load probe (a crash while loading must not take the process down)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pc-probe-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ONNX Runtime loads on this machine', async () => {
    assert.equal(await onnxRuntimeLoadProblem(), undefined);
  });

  it('a library that crashes while loading is reported, not fatal', async () => {
    const crashing = join(dir, 'crashing.cjs');
    await writeFile(crashing, "process.kill(process.pid, 'SIGSEGV');\n");
    assert.equal(await probeModuleLoad(crashing), 'ONNX Runtime crashed while loading (SIGSEGV)');
  });

  it('a library that throws while loading is reported with its message', async () => {
    const throwing = join(dir, 'throwing.cjs');
    await writeFile(throwing, "throw new Error('libonnxruntime.so.1: cannot open shared object file');\n");
    assert.match(
      (await probeModuleLoad(throwing)) ?? '',
      /cannot load: .*libonnxruntime\.so\.1: cannot open shared object/,
    );
  });

  it('a library that hangs while loading is given up on', async () => {
    const hanging = join(dir, 'hanging.cjs');
    await writeFile(hanging, 'setInterval(() => undefined, 1000);\n');
    assert.equal(await probeModuleLoad(hanging, 300), 'ONNX Runtime did not load within 0.3 s');
  });
});

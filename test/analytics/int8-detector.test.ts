import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MODEL_ID } from '../../src/analytics/centernet.js';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../../src/analytics/local-counter.js';
import { readInt8DetectorCard } from '../../src/analytics/onnx/onnx-model.js';
import { DEFAULT_PRECISION } from '../../src/analytics/runtime.js';
import { evalCommand } from '../../src/cli/commands/eval.js';
import { sharedDataset } from '../helpers/processes.js';

/** Parses argv through the real command definition without running it. */
function precisionOf(argv: string[]): unknown {
  const command = evalCommand().exitOverride();
  command.action(() => undefined);
  command.parse(['DIR', ...argv], { from: 'user' });
  return command.opts().precision;
}

describe('--precision', () => {
  it('takes fp32 or int8, from the flag or PEOPLE_COUNTER_PRECISION, and defaults to the one declaration', () => {
    assert.equal(precisionOf([]), DEFAULT_PRECISION);
    assert.equal(precisionOf(['--precision', 'int8']), 'int8');
    assert.equal(precisionOf(['--precision', 'fp32']), 'fp32');
    process.env.PEOPLE_COUNTER_PRECISION = 'int8';
    try {
      assert.equal(precisionOf([]), 'int8');
      assert.equal(precisionOf(['--precision', 'fp32']), 'fp32');
    } finally {
      delete process.env.PEOPLE_COUNTER_PRECISION;
    }
    assert.throws(() => precisionOf(['--precision', 'int4']), /int4/);
  });
});

describe('int8 person detector (real models, 1 worker each)', () => {
  let fp32: LocalPeopleCounter;
  let int8: LocalPeopleCounter;
  before(async () => {
    [fp32, int8] = await Promise.all([
      createLocalPeopleCounter({ workers: 1, precision: 'fp32' }),
      createLocalPeopleCounter({ workers: 1, precision: 'int8' }),
    ]);
  });
  after(async () => {
    await fp32.close();
    await int8.close();
  });

  it('loads the committed file its card describes and names it in the model id', () => {
    const card = readInt8DetectorCard();
    assert.equal(fp32.model, MODEL_ID);
    assert.equal(int8.model, `${MODEL_ID}+int8@${card.sha256.slice(0, 8)}`);
    assert.notEqual(int8.model, fp32.model);
    assert.equal(int8.backend, 'onnx');
  });

  const pennFudan = sharedDataset('pennfudan-fudan');
  it('counts a street photo like fp32, with the same person boxes', { skip: pennFudan.skip }, async () => {
    // Photo 20: not among the calibration photos (1–8).
    const jpeg = await readFile(join(pennFudan.dir, 'FudanPed00020.jpg'));
    const [a, b] = await Promise.all([fp32.count(jpeg), int8.count(jpeg)]);
    assert.equal(b.count, a.count);
    assert.equal(b.model, int8.model);
    assert.equal(b.detections.length, a.detections.length);
    for (const [i, detection] of b.detections.entries()) {
      const reference = a.detections[i];
      assert.ok(reference, 'same number of boxes');
      assert.ok(Math.abs(detection.score - reference.score) < 0.1, `score ${detection.score} vs ${reference.score}`);
      for (const [k, side] of detection.box.entries()) {
        assert.ok(Math.abs(side - (reference.box[k] as number)) < 12, `box ${detection.box} vs ${reference.box}`);
      }
    }
  });
});

/**
 * The translated model on ONNX Runtime against the original on tfjs-wasm, on whole photos through the
 * same detector (decode, letterbox, NMS): the same boxes and scores, and the same counts. The ONNX pass
 * decodes persons only (person-head.ts); tfjs runs the shipped graph's own decoding of every class.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { INPUT_SIZE } from '../../src/analytics/centernet.js';
import { loadDataset } from '../../src/analytics/dataset.js';
import {
  createDetector,
  type DetectOptions,
  type Detector,
  loadModelPass,
  openPhoto,
} from '../../src/analytics/detector.js';
import { iou } from '../../src/analytics/nms.js';
import { countDetections, detectOptionsFor } from '../../src/analytics/postprocess.js';
import { type ModelPass, RuntimeUnavailableError } from '../../src/analytics/runtime.js';
import { SINGLE_TILE } from '../../src/analytics/tiling.js';
import type { Detection } from '../../src/core/messages.js';
import { figuresJpeg, modelInput, noiseJpeg } from '../helpers/fixtures.js';
import { SHARED_DATA } from '../helpers/processes.js';

/** Score below which a detection need not have a partner: it may sit just under the other side's minimum. */
const SCORE_MARGIN = 0.01;

interface Mismatch {
  box: Detection['box'];
  score: number;
  partnerIou: number;
  partnerScore: number;
}

/** Detections of `a` (score ≥ `from`) whose best partner in `b` is not the same box (IoU ≥ 0.95) and score (± 0.01). */
function mismatches(a: Detection[], b: Detection[], from: number): Mismatch[] {
  const out: Mismatch[] = [];
  for (const d of a.filter((x) => x.score >= from)) {
    let best: Detection | undefined;
    for (const e of b) if (!best || iou(d.box, e.box) > iou(d.box, best.box)) best = e;
    const partnerIou = best ? iou(d.box, best.box) : 0;
    const partnerScore = best?.score ?? 0;
    if (partnerIou < 0.95 || Math.abs(partnerScore - d.score) > SCORE_MARGIN) {
      out.push({ box: d.box, score: d.score, partnerIou, partnerScore });
    }
  }
  return out;
}

describe('ONNX Runtime vs tfjs-wasm on photos (same detector around the model)', () => {
  let wasmPass: ModelPass;
  let wasm: Detector;
  let onnx: Detector;
  before(async () => {
    wasmPass = (await loadModelPass('wasm')).pass;
    wasm = createDetector(wasmPass);
    onnx = createDetector((await loadModelPass('onnx')).pass);
  });

  /**
   * The lowest score in tfjs's list for a whole photo: the graph keeps the top 100 peaks of every class,
   * the ONNX pass the top 100 persons, so below this score ONNX may rightly find persons tfjs lost.
   */
  async function allClassFloor(jpeg: Buffer): Promise<number> {
    const rows = await wasmPass.run(await modelInput(jpeg, INPUT_SIZE));
    let floor = Number.POSITIVE_INFINITY;
    for (let score = 4; score < rows.length; score += 6) floor = Math.min(floor, rows[score] as number);
    return floor;
  }

  /** Both runtimes' detections of one photo, after asserting they are the same boxes and scores. */
  async function compare(jpeg: Buffer, label: string, options: DetectOptions) {
    const photo = await openPhoto(jpeg);
    const a = await wasm.detect(photo, options);
    const b = await onnx.detect(photo, options);
    const from = Math.max(options.minScore ?? 0, await allClassFloor(jpeg)) + SCORE_MARGIN;
    assert.deepEqual(
      mismatches(a.detections, b.detections, from),
      [],
      `${label}: wasm boxes without an equal onnx box`,
    );
    assert.deepEqual(
      mismatches(b.detections, a.detections, from),
      [],
      `${label}: onnx boxes without an equal wasm box`,
    );
    return { wasm: a, onnx: b, compared: a.detections.filter((d) => d.score >= from).length };
  }

  it('finds the same boxes with the same scores on self-made photos', async () => {
    // Drawn figures and noise get low scores: compare down to 0.03 (or tfjs's floor), far below any counting threshold.
    const options = { tiling: SINGLE_TILE, minScore: 0.02 };
    let compared = 0;
    for (const seed of [1, 2, 3])
      compared += (await compare(await figuresJpeg(seed), `figures ${seed}`, options)).compared;
    compared += (await compare(await noiseJpeg(640, 480), 'noise', options)).compared;
    assert.ok(compared >= 5, `only ${compared} detections to compare on the self-made photos`);
  });

  const pennFudan = join(SHARED_DATA, 'pennfudan-fudan');
  const available = existsSync(join(pennFudan, 'labels.json'));
  it('gives the same boxes, scores and default counts on the Penn-Fudan photos', {
    skip: available ? false : `no labelled photos at ${pennFudan}`,
  }, async () => {
    const photos = await loadDataset(pennFudan);
    // The default settings: every box the default threshold could count is compared.
    const defaults = detectOptionsFor({});
    let sameCount = 0;
    for (const photo of photos) {
      const both = await compare(await readFile(photo.path), photo.file, defaults);
      if (countDetections(both.wasm, {}).count === countDetections(both.onnx, {}).count) sameCount++;
    }
    assert.ok(sameCount / photos.length >= 0.99, `same count on ${sameCount} of ${photos.length} photos`);
  });

  it('falls back to tfjs-wasm with a warning when ONNX Runtime cannot load, and fails on anything else', async () => {
    const missing = async () => {
      throw new RuntimeUnavailableError('ONNX Runtime cannot load: no prebuilt binary for this platform');
    };
    const fallback = await loadModelPass('onnx', missing);
    assert.equal(fallback.pass.backend, 'wasm');
    assert.match(fallback.warning ?? '', /ONNX Runtime cannot load.*tfjs-wasm/);
    const broken = async () => {
      throw new Error('node "x": op Softplus is not supported by the ONNX translator');
    };
    await assert.rejects(loadModelPass('onnx', broken), /Softplus/);
  });
});

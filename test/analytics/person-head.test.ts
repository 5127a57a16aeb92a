/**
 * The person-only head: its TypeScript decoding on small grids, and on ONNX Runtime the same person
 * rows as the shipped graph's own decoding (every class, top 100) wherever that one is not truncated.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { centerNetModelPath, INPUT_NAME, INPUT_SIZE, OUTPUT_NAME } from '../../src/analytics/centernet.js';
import { createOnnxSession, loadOnnxModelPass } from '../../src/analytics/onnx/onnx-model.js';
import { decodePersonPeaks, HEAD, personOnlyHead } from '../../src/analytics/onnx/person-head.js';
import { readTfGraph, type TfGraph } from '../../src/analytics/onnx/tfjs-graph.js';
import { translateTfGraph, UnsupportedGraphError } from '../../src/analytics/onnx/translate.js';
import type { ModelPass } from '../../src/analytics/runtime.js';
import { figuresJpeg, modelInput, noiseJpeg } from '../helpers/fixtures.js';

const logit = (p: number) => Math.log(p / (1 - p));
const rowsOf = (flat: Float32Array) =>
  Array.from({ length: flat.length / 6 }, (_, k) => Array.from(flat.subarray(k * 6, k * 6 + 6)));

describe('decodePersonPeaks', () => {
  it('keeps 3×3 maxima (ties included), best first, with boxes around the cell centre', () => {
    const side = 4;
    const scores = new Float32Array(side * side); // score 0 (logit −∞): never a peak
    scores[1 * side + 1] = 0.9; // a clear peak
    scores[1 * side + 2] = 0.5; // beside it: not a peak
    scores[3 * side + 0] = 0.7; // two equal neighbours: both peaks, lower index first
    scores[3 * side + 1] = 0.7;
    const sides = new Float32Array(side * side * 4);
    sides.set([3, 5, 7, 9], (1 * side + 1) * 4);
    const rows = rowsOf(decodePersonPeaks(Float32Array.from(scores, logit), sides, side));
    assert.equal(rows.length, 3);
    const [best, tieA, tieB] = rows as number[][];
    const scale = HEAD.sideScale;
    assert.deepEqual(best?.slice(0, 4), [4 - 3 * scale, 4 - 5 * scale, 4 + 7 * scale, 4 + 9 * scale]);
    assert.ok(Math.abs((best?.[4] ?? 0) - 0.9) < 1e-6);
    assert.equal(best?.[5], HEAD.personClass);
    assert.deepEqual(
      [tieA?.[0], tieA?.[1], tieB?.[0], tieB?.[1]],
      [0, 12, 4, 12],
      'tied peaks in index order, at their cells',
    );
  });

  it(`keeps only the best ${HEAD.maxDetections} peaks`, () => {
    const side = 24;
    // A peak on every other cell of every other row: 144 of them, scores rising with the index.
    const scores = new Float32Array(side * side).fill(0.001);
    for (let y = 0; y < side; y += 2)
      for (let x = 0; x < side; x += 2) scores[y * side + x] = 0.01 + (y * side + x) / 1000;
    const rows = rowsOf(decodePersonPeaks(Float32Array.from(scores, logit), new Float32Array(side * side * 4), side));
    assert.equal(rows.length, HEAD.maxDetections);
    const peakScores: number[] = [];
    for (let y = 0; y < side; y += 2) for (let x = 0; x < side; x += 2) peakScores.push(scores[y * side + x] as number);
    const best = peakScores.sort((a, b) => b - a).slice(0, HEAD.maxDetections);
    for (const [k, row] of rows.entries()) {
      assert.ok(Math.abs((row[4] as number) - (best[k] as number)) < 1e-6, `row ${k}`);
    }
  });

  it('refuses outputs that do not fit the grid', () => {
    assert.throws(() => decodePersonPeaks(new Float32Array(15), new Float32Array(64), 4), /4×4 grid/);
  });
});

describe('person-only head on ONNX Runtime', () => {
  let graph: TfGraph;
  let fullSession: Awaited<ReturnType<typeof createOnnxSession>>;
  let personPass: ModelPass;
  before(async () => {
    graph = await readTfGraph(centerNetModelPath());
    fullSession = await createOnnxSession(ort, translateTfGraph(graph, { outputs: [OUTPUT_NAME] }));
    personPass = await loadOnnxModelPass('fp32');
  });

  it('gives the person rows of the shipped graph down to where its top 100 of all classes stops', async () => {
    let compared = 0;
    for (const jpeg of [await figuresJpeg(1), await figuresJpeg(2), await noiseJpeg(640, 480)]) {
      const image = await modelInput(jpeg, INPUT_SIZE);
      const full = rowsOf(
        (await fullSession.run({ [INPUT_NAME]: new ort.Tensor('float32', image, [1, INPUT_SIZE, INPUT_SIZE, 3]) }))[
          OUTPUT_NAME
        ]?.data as Float32Array,
      );
      const person = rowsOf(await personPass.run(image));
      // Below the full graph's 100th score other classes may have pushed persons out of its list.
      const floor = Math.min(...full.map((row) => row[4] as number)) + 1e-4;
      const expected = full.filter((row) => row[5] === HEAD.personClass && (row[4] as number) > floor);
      const got = person.filter((row) => (row[4] as number) > floor);
      assert.equal(got.length, expected.length, 'as many person peaks above the floor');
      for (const [k, row] of got.entries()) {
        const want = expected[k] as number[];
        for (const [j, value] of row.entries()) {
          assert.ok(Math.abs(value - (want[j] as number)) < 1e-3, `row ${k} value ${j}`);
        }
      }
      compared += got.length;
    }
    assert.ok(compared >= 5, `only ${compared} person peaks to compare`);
  });

  it('refuses a graph whose decoding constants differ, naming the constant', () => {
    const weights = new Map(graph.weights);
    weights.set('tower_0/TopKV2/k', { dtype: 'int32', shape: [], values: Int32Array.of(50) });
    assert.throws(
      () => personOnlyHead({ nodes: graph.nodes, weights }),
      (error: Error) => error instanceof UnsupportedGraphError && /TopKV2\/k.*50/.test(error.message),
    );
  });
});

/**
 * The TFJS → ONNX translation, op by op: each tiny graph runs on tfjs-wasm (the reference) and, translated,
 * on ONNX Runtime; the outputs must agree. The graphs use the ops and attribute values of the shipped
 * CenterNet model (and a few neighbours: odd sizes for SAME padding, channel multipliers, float16 weights).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { createOnnxSession } from '../../src/analytics/onnx/onnx-model.js';
import { parseTfGraph } from '../../src/analytics/onnx/tfjs-graph.js';
import { translateTfGraph, UnsupportedGraphError } from '../../src/analytics/onnx/translate.js';
import { tfjsGraphModelFromMemory, useTfjsWasm } from '../../src/analytics/tfjs-model.js';

type Attr = Record<string, unknown>;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const list = (...values: number[]) => ({ list: { i: values.map(String) } });
const FLOAT = { type: 'DT_FLOAT' };
const INT = { type: 'DT_INT32' };

/** Deterministic values in [-1, 1). */
function noise(count: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

const conv = (strides: number, padding: 'SAME' | 'VALID', fused: string[] = []): Attr => ({
  T: FLOAT,
  strides: list(1, strides, strides, 1),
  dilations: list(1, 1, 1, 1),
  padding: { s: b64(padding) },
  data_format: { s: b64('NHWC') },
  explicit_paddings: { list: {} },
  ...(fused.length > 0 ? { fused_ops: { list: { s: fused.map(b64) } }, num_args: { i: '1' }, epsilon: { f: 0 } } : {}),
});

/** Builds a TFJS graph model (model.json object + weight bytes) node by node. */
class TinyGraph {
  private readonly nodes: Array<{ name: string; op: string; input?: string[]; attr: Attr }> = [];
  private readonly specs: tf.io.WeightsManifestEntry[] = [];
  private readonly chunks: Buffer[] = [];
  readonly inputShape: number[];

  constructor(inputShape: number[]) {
    this.inputShape = inputShape;
    this.nodes.push({
      name: 'input',
      op: 'Placeholder',
      attr: { dtype: FLOAT, shape: { shape: { dim: inputShape.map((size) => ({ size: String(size) })) } } },
    });
  }

  /** A float constant; `half` stores it as float16, as the shipped model does. */
  floats(name: string, shape: number[], values: Float32Array, half = false): string {
    if (half) {
      const halves = Buffer.alloc(values.length * 2);
      values.forEach((v, i) => void halves.writeUInt16LE(toHalf(v), 2 * i));
      this.chunks.push(halves);
      this.specs.push({ name, shape, dtype: 'float32', quantization: { dtype: 'float16' } });
    } else {
      this.chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
      this.specs.push({ name, shape, dtype: 'float32' });
    }
    return this.constNode(name, 'DT_FLOAT', shape);
  }

  ints(name: string, values: number[], shape = [values.length]): string {
    const data = Int32Array.from(values);
    this.chunks.push(Buffer.from(data.buffer));
    this.specs.push({ name, shape, dtype: 'int32' });
    return this.constNode(name, 'DT_INT32', shape);
  }

  private constNode(name: string, dtype: string, shape: number[]): string {
    this.nodes.push({
      name,
      op: 'Const',
      attr: {
        dtype: { type: dtype },
        value: { tensor: { dtype, tensorShape: { dim: shape.map((size) => ({ size: String(size) })) } } },
      },
    });
    return name;
  }

  op(name: string, op: string, input: string[], attr: Attr = { T: FLOAT }): string {
    this.nodes.push({ name, op, input, attr });
    return name;
  }

  model() {
    return {
      json: {
        format: 'graph-model',
        modelTopology: { node: this.nodes, library: {}, versions: {} },
        weightsManifest: [{ paths: [], weights: this.specs }],
      },
      weights: new Uint8Array(Buffer.concat(this.chunks)),
    };
  }
}

/** IEEE single → half (round to nearest), enough for the small test weights. */
function toHalf(value: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  const bits = view.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  return sign | (exponent << 10) | Math.round((bits & 0x7fffff) / 0x2000);
}

interface Outputs {
  [name: string]: { dims: number[]; data: number[] };
}

async function runTfjs(graph: TinyGraph, input: Float32Array, outputs: string[]): Promise<Outputs> {
  const { json, weights } = graph.model();
  const model = await tfjsGraphModelFromMemory(json, weights);
  const x = tf.tensor(input, graph.inputShape, 'float32');
  const result = model.execute({ input: x }, outputs);
  const tensors = Array.isArray(result) ? result : [result];
  const out: Outputs = {};
  for (const [i, name] of outputs.entries()) {
    const t = tensors[i] as tf.Tensor;
    out[name] = { dims: t.shape, data: Array.from(await t.data()) };
  }
  tf.dispose([x, ...tensors]);
  model.dispose();
  return out;
}

async function runOnnx(graph: TinyGraph, input: Float32Array, outputs: string[]): Promise<Outputs> {
  const { json, weights } = graph.model();
  const session = await createOnnxSession(ort, translateTfGraph(parseTfGraph(json, weights), { outputs }));
  const result = await session.run({ input: new ort.Tensor('float32', input, graph.inputShape) });
  const out: Outputs = {};
  for (const name of outputs) {
    const t = result[name] as ort.Tensor;
    out[name] = { dims: [...t.dims], data: Array.from(t.data as Float32Array | BigInt64Array, Number) };
  }
  await session.release();
  return out;
}

/** Runs both and asserts equal shapes and values within `tolerance` (absolute, relative to the value's scale). */
async function assertSameOnBoth(graph: TinyGraph, outputs: string[], tolerance = 1e-4, seed = 7): Promise<Outputs> {
  const input = noise(
    graph.inputShape.reduce((a, b) => a * b, 1),
    seed,
  ).map((v) => v * 4);
  const reference = await runTfjs(graph, input, outputs);
  const translated = await runOnnx(graph, input, outputs);
  for (const name of outputs) {
    const a = reference[name];
    const b = translated[name];
    assert.ok(a && b, name);
    assert.deepEqual(b.dims, a.dims, `${name}: shape`);
    const worst = a.data.reduce(
      (max, v, i) => Math.max(max, Math.abs(v - (b.data[i] as number)) / Math.max(1, Math.abs(v))),
      0,
    );
    assert.ok(worst <= tolerance, `${name}: largest difference ${worst} > ${tolerance}`);
  }
  return reference;
}

describe('TFJS → ONNX translation, op by op (tfjs-wasm is the reference)', () => {
  before(async () => {
    await useTfjsWasm();
  });

  it('fused convolution: stride 2 with TF SAME padding on an odd size, bias, ReLU; float16 weights', async () => {
    const g = new TinyGraph([1, 7, 9, 3]);
    const w = g.floats('w', [3, 3, 3, 4], noise(108, 1), true);
    const b = g.floats('b', [4], noise(4, 2));
    g.op('conv', '_FusedConv2D', ['input', w, b], conv(2, 'SAME', ['BiasAdd', 'Relu']));
    await assertSameOnBoth(g, ['conv'], 1e-3);
  });

  it('fused convolution with VALID padding and bias only; plain Conv2D; fused Relu6', async () => {
    const g = new TinyGraph([1, 6, 6, 2]);
    const w = g.floats('w', [3, 3, 2, 3], noise(54, 3));
    const b = g.floats('b', [3], noise(3, 4));
    g.op('valid', '_FusedConv2D', ['input', w, b], conv(1, 'VALID', ['BiasAdd']));
    const w2 = g.floats('w2', [1, 1, 2, 5], noise(10, 5));
    g.op('plain', 'Conv2D', ['input', w2], conv(1, 'SAME'));
    g.op('relu6', '_FusedConv2D', ['input', w, b], conv(2, 'SAME', ['BiasAdd', 'Relu6']));
    await assertSameOnBoth(g, ['valid', 'plain', 'relu6']);
  });

  it('depthwise convolutions: fused with bias and ReLU at stride 2, plain with a channel multiplier', async () => {
    const g = new TinyGraph([1, 9, 8, 3]);
    const w = g.floats('w', [3, 3, 3, 1], noise(27, 6));
    const b = g.floats('b', [3], noise(3, 7));
    g.op('fused', 'FusedDepthwiseConv2dNative', ['input', w, b], conv(2, 'SAME', ['BiasAdd', 'Relu']));
    const w2 = g.floats('w2', [5, 5, 3, 2], noise(150, 8));
    g.op('multiplied', 'DepthwiseConv2dNative', ['input', w2], conv(1, 'SAME'));
    await assertSameOnBoth(g, ['fused', 'multiplied']);
  });

  it('hard-swish and squeeze-excite: Mul/Add/Relu6 with scalar and per-channel constants, Mean, Sigmoid', async () => {
    const g = new TinyGraph([1, 5, 5, 4]);
    const w = g.floats('w', [1, 1, 4, 4], noise(16, 9));
    const x = g.op('conv', 'Conv2D', ['input', w], conv(1, 'SAME'));
    const three = g.floats('three', [], Float32Array.of(3));
    const sixth = g.floats('sixth', [], Float32Array.of(1 / 6));
    const added = g.op('add', 'Add', [x, three]);
    const clipped = g.op('relu6', 'Relu6', [added]);
    const scaled = g.op('scaled', 'Mul', [sixth, x]);
    const swish = g.op('swish', 'Mul', [scaled, clipped]);
    const perChannel = g.floats('bias', [4], noise(4, 10));
    const shifted = g.op('shifted', 'Add', [swish, perChannel]);
    const mean = g.op('mean', 'Mean', [shifted, g.ints('axes', [1, 2])], {
      T: FLOAT,
      Tidx: INT,
      keep_dims: { b: true },
    });
    const gate = g.op('gate', 'Sigmoid', [mean]);
    g.op('excited', 'Mul', [gate, shifted]);
    const difference = g.op('difference', 'Sub', [shifted, perChannel]);
    g.op('relu', 'Relu', [difference]);
    await assertSameOnBoth(g, ['excited', 'relu', 'mean']);
  });

  it('hard-swish becomes one HardSwish op (the float16 ⅙ within 3e-4); another scale stays Mul/Add/Relu6', async () => {
    const g = new TinyGraph([1, 5, 5, 4]);
    const three = g.floats('three', [], Float32Array.of(3));
    const swishOf = (name: string, scale: string) =>
      g.op(name, 'Mul', [
        g.op(`${name}/scaled`, 'Mul', [scale, 'input']),
        g.op(`${name}/relu6`, 'Relu6', [g.op(`${name}/add`, 'AddV2', ['input', three])]),
      ]);
    swishOf('swish', g.floats('sixth', [], Float32Array.of(1 / 6), true));
    swishOf('quarter', g.floats('quarterScale', [], Float32Array.of(0.25)));
    await assertSameOnBoth(g, ['swish', 'quarter'], 3e-4);
    const { json, weights } = g.model();
    const mentions = (outputs: string[], op: string) =>
      Buffer.from(translateTfGraph(parseTfGraph(json, weights), { outputs }))
        .toString('latin1')
        .includes(op);
    assert.ok(mentions(['swish'], 'HardSwish') && !mentions(['swish'], 'Clip'), 'one HardSwish, no Relu6 clip');
    assert.ok(!mentions(['quarter'], 'HardSwish'));
  });

  it('upsampling: ResizeBilinear (TF legacy corners) and ConcatV2 on channels, through Identity', async () => {
    const g = new TinyGraph([1, 4, 5, 2]);
    const w = g.floats('w', [1, 1, 2, 3], noise(6, 11));
    const x = g.op('conv', 'Conv2D', ['input', w], conv(1, 'SAME'));
    const up = g.op('up', 'ResizeBilinear', [x, g.ints('size', [8, 10])], {
      T: FLOAT,
      align_corners: { b: false },
      half_pixel_centers: { b: false },
    });
    const w2 = g.floats('w2', [3, 3, 2, 2], noise(36, 12));
    const wide = g.op('wide', 'Conv2D', ['input', w2], conv(1, 'SAME'));
    const wideUp = g.op('wideUp', 'ResizeBilinear', [wide, g.ints('size2', [8, 10])], {
      T: FLOAT,
      align_corners: { b: false },
      half_pixel_centers: { b: false },
    });
    const joined = g.op('concat', 'ConcatV2', [up, wideUp, g.ints('axis', [3], [])], {
      T: FLOAT,
      N: { i: '2' },
      Tidx: INT,
    });
    g.op('out', 'Identity', [joined]);
    await assertSameOnBoth(g, ['out']);
  });

  it('the CenterNet detection head: peaks by MaxPool + Equal, TopKV2, integer FloorDiv/FloorMod, GatherV2, StridedSlice', async () => {
    // Input [1, 6, 5, 3]: a 6×5 map of 3 classes; channel-last like the model's keypoints.
    const g = new TinyGraph([1, 6, 5, 3]);
    const w = g.floats('w', [1, 1, 3, 3], noise(9, 14));
    const logits = g.op('logits', 'Conv2D', ['input', w], conv(1, 'SAME'));
    const heat = g.op('heat', 'Sigmoid', [logits]);
    const wh = g.op('wh', 'Relu', [logits]);
    const pooled = g.op('pool', 'MaxPool', [heat], {
      T: FLOAT,
      ksize: list(1, 3, 3, 1),
      strides: list(1, 1, 1, 1),
      padding: { s: b64('SAME') },
      data_format: { s: b64('NHWC') },
    });
    const isPeak = g.op('peak', 'Equal', [heat, pooled], { T: FLOAT, incompatible_shape_error: { b: true } });
    const peakFloat = g.op('peakf', 'Cast', [isPeak], {
      SrcT: { type: 'DT_BOOL' },
      DstT: FLOAT,
      Truncate: { b: false },
    });
    const peaks = g.op('peaks', 'Mul', [heat, peakFloat]);
    const flat = g.op('flat', 'Reshape', [peaks, g.ints('flatShape', [1, -1])], { T: FLOAT, Tshape: INT });
    g.op('top', 'TopKV2', [flat, g.ints('k', [5], [])], { T: FLOAT, sorted: { b: true } });
    const classes = g.ints('classes', [3], []);
    const width = g.ints('width', [5], []);
    const cell = g.op('cell', 'FloorDiv', ['top:1', classes], { T: INT });
    const cls = g.op('cls', 'FloorMod', ['top:1', classes], { T: INT });
    const row = g.op('row', 'FloorDiv', [cell, width], { T: INT });
    const col = g.op('col', 'FloorMod', [cell, width], { T: INT });
    const colF = g.op('colf', 'Cast', [col], { SrcT: INT, DstT: FLOAT, Truncate: { b: false } });
    const rowIndex = g.op('rowIndex', 'Mul', [row, width], { T: INT });
    const index = g.op('index', 'Add', [rowIndex, col], { T: INT });
    const flatIndex = g.op('flatIndex', 'Reshape', [index, g.ints('minus1', [-1])], { T: INT, Tshape: INT });
    const table = g.op('table', 'Reshape', [wh, g.ints('tableShape', [30, 3])], { T: FLOAT, Tshape: INT });
    const gathered = g.op('gathered', 'GatherV2', [table, flatIndex, g.ints('gatherAxis', [0], [])], {
      Tparams: FLOAT,
      Tindices: INT,
      Taxis: INT,
      batch_dims: { i: '0' },
    });
    const sizes = g.op('sizes', 'Reshape', [gathered, g.ints('sizesShape', [1, 5, 3])], { T: FLOAT, Tshape: INT });
    const sliced = g.op(
      'slice',
      'StridedSlice',
      [sizes, g.ints('begin', [0, 0, 1]), g.ints('end', [0, 0, 2]), g.ints('step', [1, 1, 1])],
      {
        T: FLOAT,
        Index: INT,
        begin_mask: { i: '3' },
        end_mask: { i: '3' },
        ellipsis_mask: { i: '0' },
        new_axis_mask: { i: '0' },
        shrink_axis_mask: { i: '0' },
      },
    );
    const four = g.floats('four', [], Float32Array.of(4));
    const x = g.op('x', 'Mul', [
      g.op('colExpanded', 'ExpandDims', [colF, g.ints('dim', [-1], [])], { T: FLOAT, Tdim: INT }),
      four,
    ]);
    const left = g.op('left', 'Sub', [x, sliced]);
    const score = g.op('score', 'ExpandDims', ['top', g.ints('dim2', [-1], [])], { T: FLOAT, Tdim: INT });
    const clsF = g.op(
      'clsf',
      'Cast',
      [g.op('clsExpanded', 'ExpandDims', [cls, g.ints('dim3', [-1], [])], { T: INT, Tdim: INT })],
      {
        SrcT: INT,
        DstT: FLOAT,
        Truncate: { b: false },
      },
    );
    g.op('detections', 'ConcatV2', [left, score, clsF, g.ints('lastAxis', [-1], [])], {
      T: FLOAT,
      N: { i: '3' },
      Tidx: INT,
    });
    const reference = await assertSameOnBoth(g, ['detections', 'top:1'], 1e-5);
    // The head found distinct peaks (not a degenerate all-zero map).
    assert.ok(new Set(reference['top:1']?.data).size === 5);
  });

  it('refuses an op it does not know at translation time, naming the op and the node', () => {
    const g = new TinyGraph([1, 4, 4, 1]);
    g.op('tower/odd', 'Softplus', ['input']);
    const { json, weights } = g.model();
    assert.throws(
      () => translateTfGraph(parseTfGraph(json, weights), { outputs: ['tower/odd'] }),
      (error: Error) =>
        error instanceof UnsupportedGraphError && /tower\/odd/.test(error.message) && /Softplus/.test(error.message),
    );
  });

  it('refuses attribute values it does not translate (NCHW data, an unknown fused activation)', () => {
    const g = new TinyGraph([1, 4, 4, 1]);
    const w = g.floats('w', [1, 1, 1, 1], Float32Array.of(1));
    const b = g.floats('b', [1], Float32Array.of(0));
    g.op('nchw', 'Conv2D', ['input', w], { ...conv(1, 'SAME'), data_format: { s: b64('NCHW') } });
    g.op('elu', '_FusedConv2D', ['input', w, b], conv(1, 'SAME', ['BiasAdd', 'Elu']));
    const { json, weights } = g.model();
    const graph = parseTfGraph(json, weights);
    assert.throws(() => translateTfGraph(graph, { outputs: ['nchw'] }), /node "nchw".*NCHW/);
    assert.throws(() => translateTfGraph(graph, { outputs: ['elu'] }), /node "elu".*Elu/);
  });
});

/**
 * Translates a TFJS graph model into an ONNX model, op by op.
 *
 * TF keeps images as NHWC, ONNX convolutions want NCHW. Every translated value remembers its layout:
 * convolution-like ops produce NCHW, the ops that do not care (element-wise, activations) keep what
 * they get, and everything else gets its input back in TF's layout through a Transpose, inserted only
 * where the layouts meet (for this model: once after the input and once before the detection head).
 * TF int32 values become int64 (what ONNX shape and index ops take). Ops or attribute values the
 * translator does not know fail the translation with the node's name, before any inference.
 */

import {
  encodeOnnxModel,
  type OnnxAttributeValue,
  OnnxDataType,
  type OnnxNode,
  type OnnxTensor,
} from './onnx-proto.js';
import type { TfAttrValue, TfGraph, TfNode, TfTensor } from './tfjs-graph.js';

export const OPSET_VERSION = 18;

export class UnsupportedGraphError extends Error {
  override name = 'UnsupportedGraphError';
}

type DType = 'float32' | 'int32' | 'bool';
type Layout = 'tf' | 'nchw';

/** A translated TF value: an ONNX value name, or a constant not yet written as an initializer. */
interface Value {
  dtype: DType;
  rank: number;
  layout: Layout;
  name?: string;
  constant?: TfTensor;
}

/** TF NHWC axis → NCHW axis. */
const NCHW_AXIS = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

function onnxType(dtype: DType): OnnxDataType {
  return dtype === 'float32' ? OnnxDataType.FLOAT : dtype === 'int32' ? OnnxDataType.INT64 : OnnxDataType.BOOL;
}

function tfDtype(node: TfNode, attr: string): DType {
  const type = node.attr[attr]?.type;
  if (type === 'DT_FLOAT') return 'float32';
  if (type === 'DT_INT32') return 'int32';
  if (type === 'DT_BOOL') return 'bool';
  throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): ${attr} ${type ?? 'missing'} is not supported`);
}

const decodeString = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function ints(node: TfNode, attr: string, fallback?: number[]): number[] {
  const list = node.attr[attr]?.list?.i;
  if (list) return list.map(Number);
  if (fallback) return fallback;
  throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): attribute ${attr} missing`);
}

function int(node: TfNode, attr: string, fallback = 0): number {
  const value = node.attr[attr]?.i;
  return value === undefined ? fallback : Number(value);
}

function str(node: TfNode, attr: string): string | undefined {
  const value: TfAttrValue | undefined = node.attr[attr];
  return value?.s === undefined ? undefined : decodeString(value.s);
}

/** A constant's data (rank ≤ 4) transposed by `perm` (row-major). */
function transposeTensor(tensor: TfTensor, perm: number[]): TfTensor {
  const rank = tensor.shape.length;
  if (rank > 4 || perm.length !== rank) throw new Error(`cannot transpose a rank-${rank} constant by ${perm}`);
  // Pad to rank 4 with leading 1s so one 4-deep loop serves every rank.
  const lead = 4 - rank;
  const shape = [...new Array<number>(lead).fill(1), ...tensor.shape];
  const order = [...Array.from({ length: lead }, (_, i) => i), ...perm.map((p) => p + lead)];
  const strides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const [d0, d1, d2, d3] = order.map((p) => shape[p]!) as [number, number, number, number];
  const [s0, s1, s2, s3] = order.map((p) => strides[p]!) as [number, number, number, number];
  const { values } = tensor;
  const out = new (values.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(values.length);
  let o = 0;
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let c = 0; c < d2; c++) for (let d = 0; d < d3; d++) out[o++] = values[a * s0 + b * s1 + c * s2 + d * s3]!;
  return { dtype: tensor.dtype, shape: perm.map((p) => tensor.shape[p]!), values: out };
}

function tensorBytes(tensor: TfTensor, dtype: DType): Uint8Array {
  if (dtype === 'int32') {
    const wide = BigInt64Array.from(tensor.values, (v) => BigInt(v));
    return new Uint8Array(wide.buffer);
  }
  const floats = tensor.values instanceof Float32Array ? tensor.values : Float32Array.from(tensor.values);
  return new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
}

export interface TranslateOptions {
  /** TF output names to compute (e.g. `tower_0/detections`); each becomes an ONNX output of that name. */
  outputs: string[];
  graphName?: string;
}

/** The ONNX ModelProto bytes computing `outputs` of the TFJS graph. */
export function translateTfGraph(graph: TfGraph, options: TranslateOptions): Uint8Array {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const inputs: Array<{ name: string; dataType: OnnxDataType; shape: number[] }> = [];
  const translated = new Map<string, Value[]>();
  const initialized = new Map<string, string>();
  const inProgress = new Set<string>();
  let helperCount = 0;

  const helperName = (node: TfNode, what: string) => `${node.name}/onnx_${what}_${helperCount++}`;

  function emit(
    node: TfNode,
    opType: string,
    opInputs: string[],
    attributes: Record<string, OnnxAttributeValue> = {},
    outputCount = 1,
  ): string[] {
    const outputs = Array.from({ length: outputCount }, () => helperName(node, opType));
    nodes.push({ opType, name: helperName(node, opType), inputs: opInputs, outputs, attributes });
    return outputs;
  }

  function initializer(tensor: TfTensor, dtype: DType, key: string): string {
    const existing = initialized.get(key);
    if (existing) return existing;
    const name = `const/${key}`;
    initializers.push({ name, dataType: onnxType(dtype), dims: tensor.shape, raw: tensorBytes(tensor, dtype) });
    initialized.set(key, name);
    return name;
  }

  function intConstant(node: TfNode, values: number[], shape = [values.length]): string {
    return initializer({ dtype: 'int32', shape, values: Int32Array.from(values) }, 'int32', helperName(node, 'ints'));
  }

  function floatConstant(node: TfNode, value: number): string {
    return initializer(
      { dtype: 'float32', shape: [], values: Float32Array.of(value) },
      'float32',
      `${node.name}/${value}`,
    );
  }

  /** The ONNX name of a value in the given layout (constants re-laid out, runtime values transposed). */
  function as(node: TfNode, value: Value, layout: Layout, sourceKey: string): string {
    if (value.constant) {
      if (layout === 'tf' || value.rank === 0) return initializer(value.constant, value.dtype, `${sourceKey}`);
      const padded = [...new Array(4 - value.rank).fill(1), ...value.constant.shape];
      const nchw = transposeTensor({ ...value.constant, shape: padded }, TO_NCHW);
      return initializer(nchw, value.dtype, `${sourceKey}/nchw`);
    }
    const name = value.name as string;
    if (value.layout === layout) return name;
    const key = `${name}->${layout}`;
    const cached = initialized.get(key);
    if (cached) return cached;
    const [out] = emit(node, 'Transpose', [name], { perm: layout === 'nchw' ? TO_NCHW : TO_NHWC });
    initialized.set(key, out as string);
    return out as string;
  }

  function constantOf(node: TfNode, index: number): TfTensor {
    const value = resolve(node.inputs[index] as string, node);
    if (!value.constant) {
      throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): input ${index} must be a constant`);
    }
    return value.constant;
  }

  function inputOf(node: TfNode, index: number): Value {
    const ref = node.inputs[index];
    if (ref === undefined) throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): input ${index} missing`);
    return resolve(ref, node);
  }

  function resolve(ref: string, consumer: TfNode): Value {
    const [nodeName, outputIndex] = ref.includes(':')
      ? [ref.slice(0, ref.lastIndexOf(':')), Number(ref.slice(ref.lastIndexOf(':') + 1))]
      : [ref, 0];
    const values = translate(nodeName, consumer);
    const value = values[outputIndex];
    if (!value) throw new UnsupportedGraphError(`node "${consumer.name}": input ${ref} does not exist`);
    return value;
  }

  function translate(name: string, consumer?: TfNode): Value[] {
    const done = translated.get(name);
    if (done) return done;
    const node = graph.nodes.get(name);
    if (!node) {
      throw new UnsupportedGraphError(`node "${consumer?.name ?? name}": input node "${name}" is not in the graph`);
    }
    if (inProgress.has(name)) throw new UnsupportedGraphError(`node "${name}" (${node.op}): the graph has a cycle`);
    inProgress.add(name);
    const values = translateNode(node);
    inProgress.delete(name);
    translated.set(name, values);
    return values;
  }

  /** One broadcasting ONNX op: NCHW when a runtime input is NCHW and the others can follow, else TF layout. */
  function elementwise(node: TfNode, opType: string, operands: Value[], dtype: DType, attributes = {}): Value {
    const runtime = operands.filter((v) => !v.constant);
    const nchw = runtime.some((v) => v.layout === 'nchw') && runtime.every((v) => v.layout === 'nchw' || v.rank === 4);
    const layout: Layout = nchw ? 'nchw' : 'tf';
    const names = operands.map((v, i) => as(node, v, layout, `${node.inputs[i]}`));
    const [out] = emit(node, opType, names, attributes);
    return { dtype, rank: Math.max(...operands.map((v) => v.rank)), layout, name: out as string };
  }

  function binary(node: TfNode, opType: string): Value {
    const a = inputOf(node, 0);
    const b = inputOf(node, 1);
    return elementwise(node, opType, [a, b], opType === 'Equal' ? 'bool' : a.dtype);
  }

  /** Conv / depthwise conv with optional bias and fused activation; output NCHW. */
  function convolution(node: TfNode, depthwise: boolean, fused: boolean): Value {
    if ((str(node, 'data_format') ?? 'NHWC') !== 'NHWC') {
      throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): data_format ${str(node, 'data_format')}`);
    }
    const x = as(node, inputOf(node, 0), 'nchw', node.inputs[0] as string);
    const filter = constantOf(node, 1);
    const [kh, kw, channels, multiplier] = filter.shape as [number, number, number, number];
    // TF [kh, kw, in, out] → ONNX [out, in, kh, kw]; depthwise [kh, kw, C, M] → [C·M, 1, kh, kw].
    const weights = depthwise
      ? { ...transposeTensor(filter, [2, 3, 0, 1]), shape: [channels * multiplier, 1, kh, kw] }
      : transposeTensor(filter, [3, 2, 0, 1]);
    const convInputs = [x, initializer(weights, 'float32', `${node.inputs[1]}/oihw`)];
    let activation: string | undefined;
    if (fused) {
      const ops = (node.attr.fused_ops?.list?.s ?? []).map(decodeString);
      if (ops[0] !== 'BiasAdd' || ops.length > 2) {
        throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): fused ops ${ops.join('+')} not supported`);
      }
      convInputs.push(as(node, inputOf(node, 2), 'tf', node.inputs[2] as string));
      activation = ops[1];
      if (activation !== undefined && activation !== 'Relu' && activation !== 'Relu6') {
        throw new UnsupportedGraphError(
          `node "${node.name}" (${node.op}): fused activation ${activation} not supported`,
        );
      }
    }
    const strides = ints(node, 'strides');
    const dilations = ints(node, 'dilations', [1, 1, 1, 1]);
    const [out] = emit(node, 'Conv', convInputs, {
      kernel_shape: [kh, kw],
      strides: [strides[1] as number, strides[2] as number],
      dilations: [dilations[1] as number, dilations[2] as number],
      group: depthwise ? channels : 1,
      auto_pad: padding(node),
    });
    let result = out as string;
    if (activation === 'Relu') result = emit(node, 'Relu', [result])[0] as string;
    if (activation === 'Relu6') result = clip6(node, result);
    return { dtype: 'float32', rank: 4, layout: 'nchw', name: result };
  }

  function padding(node: TfNode): string {
    const pad = str(node, 'padding');
    if (pad === 'SAME') return 'SAME_UPPER'; // TF puts the odd pixel at the end, as SAME_UPPER does.
    if (pad === 'VALID') return 'VALID';
    throw new UnsupportedGraphError(`node "${node.name}" (${node.op}): padding ${pad} not supported`);
  }

  function clip6(node: TfNode, input: string): string {
    return emit(node, 'Clip', [input, floatConstant(node, 0), floatConstant(node, 6)])[0] as string;
  }

  function unary(node: TfNode, onnxOp: string): Value {
    return unaryOn(node, onnxOp, node.inputs[0] as string);
  }

  function unaryOn(node: TfNode, onnxOp: string, ref: string): Value {
    const x = resolve(ref, node);
    const name = as(node, x, x.layout, ref);
    return { ...x, constant: undefined, name: emit(node, onnxOp, [name])[0] as string };
  }

  /** A constant scalar input's value, if the input is one. */
  function scalarInput(ref: string | undefined): number | undefined {
    const source = ref === undefined ? undefined : graph.nodes.get(ref);
    if (source?.op !== 'Const') return undefined;
    const tensor = graph.weights.get(source.name);
    return tensor?.values.length === 1 ? (tensor.values[0] as number) : undefined;
  }

  /**
   * MobileNetV3's hard-swish as TF writes it, `(x · ⅙) · relu6(x + 3)`: four ops over the tensor that
   * ONNX has as one (`HardSwish`). Returns x's reference when `node` is the final Mul of that pattern.
   * The weights store ⅙ in float16 (0.16663); HardSwish uses the exact ⅙, a 2.4e-4 relative difference.
   */
  function hardSwishInput(node: TfNode): string | undefined {
    const [a, b] = node.inputs.map((ref) => graph.nodes.get(ref));
    for (const [scaled, clipped] of [
      [a, b],
      [b, a],
    ]) {
      if (scaled?.op !== 'Mul' || clipped?.op !== 'Relu6') continue;
      const add = graph.nodes.get(clipped.inputs[0] ?? '');
      if (add?.op !== 'Add' && add?.op !== 'AddV2') continue;
      const [left, right] = add.inputs;
      const x = scalarInput(right) === 3 ? left : scalarInput(left) === 3 ? right : undefined;
      if (x === undefined) continue;
      const sixth = scalarInput(scaled.inputs.find((ref) => ref !== x));
      if (scaled.inputs.includes(x) && sixth !== undefined && Math.abs(sixth - 1 / 6) < 1e-3) return x;
    }
    return undefined;
  }

  /** TF floor division / floor modulo; ONNX integer Div truncates toward zero, so both go through Mod. */
  function floorDivMod(node: TfNode, wantMod: boolean): Value {
    const a = inputOf(node, 0);
    const b = inputOf(node, 1);
    if (a.dtype === 'float32') {
      const quotient = elementwise(node, 'Div', [a, b], 'float32');
      const floor = { ...quotient, name: emit(node, 'Floor', [quotient.name as string])[0] as string };
      if (!wantMod) return floor;
      const product = elementwise(node, 'Mul', [b, floor], 'float32');
      return elementwise(node, 'Sub', [a, product], 'float32');
    }
    const mod = elementwise(node, 'Mod', [a, b], a.dtype, { fmod: 0 });
    if (wantMod) return mod;
    const exact = elementwise(node, 'Sub', [a, mod], a.dtype);
    return elementwise(node, 'Div', [exact, b], a.dtype);
  }

  function tfLayoutInput(node: TfNode, index: number): { value: Value; name: string } {
    const value = inputOf(node, index);
    return { value, name: as(node, value, 'tf', node.inputs[index] as string) };
  }

  function translateNode(node: TfNode): Value[] {
    const single = (value: Value) => [value];
    switch (node.op) {
      case 'Const': {
        const tensor = graph.weights.get(node.name);
        if (!tensor) throw new UnsupportedGraphError(`node "${node.name}" (Const): no weights for it`);
        return single({ dtype: tensor.dtype, rank: tensor.shape.length, layout: 'tf', constant: tensor });
      }
      case 'Placeholder': {
        const dtype = tfDtype(node, 'dtype');
        const dims = (node.attr.shape?.shape?.dim ?? []).map((d) => Number(d.size));
        if (dims.some((d) => d < 1)) {
          throw new UnsupportedGraphError(`node "${node.name}" (Placeholder): shape ${dims} must be fully known`);
        }
        inputs.push({ name: node.name, dataType: onnxType(dtype), shape: dims });
        return single({ dtype, rank: dims.length, layout: 'tf', name: node.name });
      }
      case 'Identity':
        return single(inputOf(node, 0));
      case '_FusedConv2D':
        return single(convolution(node, false, true));
      case 'Conv2D':
        return single(convolution(node, false, false));
      case 'FusedDepthwiseConv2dNative':
        return single(convolution(node, true, true));
      case 'DepthwiseConv2dNative':
        return single(convolution(node, true, false));
      case 'Add':
      case 'AddV2':
        return single(binary(node, 'Add'));
      case 'Sub':
        return single(binary(node, 'Sub'));
      case 'Mul': {
        const x = hardSwishInput(node);
        return single(x === undefined ? binary(node, 'Mul') : unaryOn(node, 'HardSwish', x));
      }
      case 'Equal':
        return single(binary(node, 'Equal'));
      case 'FloorDiv':
        return single(floorDivMod(node, false));
      case 'FloorMod':
        return single(floorDivMod(node, true));
      case 'Relu':
        return single(unary(node, 'Relu'));
      case 'Sigmoid':
        return single(unary(node, 'Sigmoid'));
      case 'Relu6': {
        const x = inputOf(node, 0);
        return single({
          ...x,
          constant: undefined,
          name: clip6(node, as(node, x, x.layout, node.inputs[0] as string)),
        });
      }
      case 'Cast': {
        const x = inputOf(node, 0);
        const to = tfDtype(node, 'DstT');
        const name = as(node, x, x.layout, node.inputs[0] as string);
        return single({
          ...x,
          constant: undefined,
          dtype: to,
          name: emit(node, 'Cast', [name], { to: onnxType(to) })[0] as string,
        });
      }
      case 'Mean': {
        const x = inputOf(node, 0);
        const keep = node.attr.keep_dims?.b === true;
        const layout: Layout = keep && x.layout === 'nchw' ? 'nchw' : 'tf';
        const axes = Array.from(constantOf(node, 1).values, (a) => (a < 0 ? a + x.rank : a));
        const onnxAxes = layout === 'nchw' ? axes.map((a) => NCHW_AXIS[a] as number) : axes;
        const [out] = emit(
          node,
          'ReduceMean',
          [as(node, x, layout, node.inputs[0] as string), intConstant(node, onnxAxes)],
          {
            keepdims: keep ? 1 : 0,
          },
        );
        return single({ dtype: x.dtype, rank: keep ? x.rank : x.rank - axes.length, layout, name: out as string });
      }
      case 'ConcatV2': {
        const count = node.inputs.length - 1;
        const parts = Array.from({ length: count }, (_, i) => inputOf(node, i));
        const rank = parts[0]?.rank ?? 0;
        let axis = Number(constantOf(node, count).values[0]);
        if (axis < 0) axis += rank;
        const nchw = rank === 4 && parts.some((p) => p.layout === 'nchw');
        const layout: Layout = nchw ? 'nchw' : 'tf';
        const names = parts.map((p, i) => as(node, p, layout, node.inputs[i] as string));
        const [out] = emit(node, 'Concat', names, { axis: nchw ? (NCHW_AXIS[axis] as number) : axis });
        return single({ dtype: parts[0]?.dtype ?? 'float32', rank, layout, name: out as string });
      }
      case 'ResizeBilinear': {
        const x = as(node, inputOf(node, 0), 'nchw', node.inputs[0] as string);
        const size = Array.from(constantOf(node, 1).values);
        const alignCorners = node.attr.align_corners?.b === true;
        const halfPixel = node.attr.half_pixel_centers?.b === true;
        const [out] = emit(node, 'Resize', [x, '', '', intConstant(node, size)], {
          mode: 'linear',
          axes: [2, 3],
          coordinate_transformation_mode: alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric',
        });
        return single({ dtype: 'float32', rank: 4, layout: 'nchw', name: out as string });
      }
      case 'MaxPool': {
        if ((str(node, 'data_format') ?? 'NHWC') !== 'NHWC') {
          throw new UnsupportedGraphError(`node "${node.name}" (MaxPool): data_format ${str(node, 'data_format')}`);
        }
        const x = as(node, inputOf(node, 0), 'nchw', node.inputs[0] as string);
        const size = ints(node, 'ksize');
        const strides = ints(node, 'strides');
        const [out] = emit(node, 'MaxPool', [x], {
          kernel_shape: [size[1] as number, size[2] as number],
          strides: [strides[1] as number, strides[2] as number],
          auto_pad: padding(node),
        });
        return single({ dtype: 'float32', rank: 4, layout: 'nchw', name: out as string });
      }
      case 'Reshape': {
        const { value, name } = tfLayoutInput(node, 0);
        const shape = Array.from(constantOf(node, 1).values);
        const [out] = emit(node, 'Reshape', [name, intConstant(node, shape)]);
        return single({ dtype: value.dtype, rank: shape.length, layout: 'tf', name: out as string });
      }
      case 'ExpandDims': {
        const { value, name } = tfLayoutInput(node, 0);
        const axis = Number(constantOf(node, 1).values[0]);
        const [out] = emit(node, 'Unsqueeze', [name, intConstant(node, [axis])]);
        return single({ dtype: value.dtype, rank: value.rank + 1, layout: 'tf', name: out as string });
      }
      case 'TopKV2': {
        const { value, name } = tfLayoutInput(node, 0);
        const k = Number(constantOf(node, 1).values[0]);
        const [values, indices] = emit(
          node,
          'TopK',
          [name, intConstant(node, [k])],
          { axis: -1, largest: 1, sorted: 1 },
          2,
        );
        return [
          { dtype: value.dtype, rank: value.rank, layout: 'tf', name: values as string },
          { dtype: 'int32', rank: value.rank, layout: 'tf', name: indices as string },
        ];
      }
      case 'GatherV2': {
        if (int(node, 'batch_dims') !== 0) {
          throw new UnsupportedGraphError(`node "${node.name}" (GatherV2): batch_dims ${int(node, 'batch_dims')}`);
        }
        const params = tfLayoutInput(node, 0);
        const indices = tfLayoutInput(node, 1);
        let axis = Number(constantOf(node, 2).values[0]);
        if (axis < 0) axis += params.value.rank;
        const [out] = emit(node, 'Gather', [params.name, indices.name], { axis });
        return single({
          dtype: params.value.dtype,
          rank: params.value.rank - 1 + indices.value.rank,
          layout: 'tf',
          name: out as string,
        });
      }
      case 'StridedSlice':
        return single(stridedSlice(node));
      default:
        throw new UnsupportedGraphError(`node "${node.name}": op ${node.op} is not supported by the ONNX translator`);
    }
  }

  function stridedSlice(node: TfNode): Value {
    for (const mask of ['ellipsis_mask', 'new_axis_mask']) {
      if (int(node, mask) !== 0) {
        throw new UnsupportedGraphError(`node "${node.name}" (StridedSlice): ${mask} ${int(node, mask)} not supported`);
      }
    }
    const { value, name } = tfLayoutInput(node, 0);
    const begin = Array.from(constantOf(node, 1).values);
    const end = Array.from(constantOf(node, 2).values);
    const steps = Array.from(constantOf(node, 3).values);
    const beginMask = int(node, 'begin_mask');
    const endMask = int(node, 'end_mask');
    const shrinkMask = int(node, 'shrink_axis_mask');
    const far = 2 ** 31 - 1; // past any dimension; ONNX Slice clamps (and it fits the int32 constants)
    const starts: number[] = [];
    const ends: number[] = [];
    const shrunk: number[] = [];
    begin.forEach((b, axis) => {
      const step = steps[axis] as number;
      const bit = 1 << axis;
      if (shrinkMask & bit) {
        starts.push(b);
        ends.push(b === -1 ? far : b + 1);
        shrunk.push(axis);
        return;
      }
      starts.push(beginMask & bit ? (step > 0 ? 0 : far) : b);
      ends.push(endMask & bit ? (step > 0 ? far : -far) : (end[axis] as number));
    });
    const axes = begin.map((_, axis) => axis);
    let [out] = emit(node, 'Slice', [
      name,
      intConstant(node, starts),
      intConstant(node, ends),
      intConstant(node, axes),
      intConstant(node, steps),
    ]);
    if (shrunk.length > 0) [out] = emit(node, 'Squeeze', [out as string, intConstant(node, shrunk)]);
    return { dtype: value.dtype, rank: value.rank - shrunk.length, layout: 'tf', name: out as string };
  }

  const outputs = options.outputs.map((output) => {
    const value = resolve(output, { name: output, op: 'output', inputs: [], attr: {} });
    const source = as({ name: output, op: 'output', inputs: [], attr: {} }, value, 'tf', output);
    nodes.push({ opType: 'Identity', name: `${output}/onnx_output`, inputs: [source], outputs: [output] });
    return {
      name: output,
      dataType: onnxType(value.dtype),
      shape: Array.from({ length: value.rank }, (_, i) => `${output}_d${i}`),
    };
  });
  return encodeOnnxModel({
    opsetVersion: OPSET_VERSION,
    producer: 'people-counter tfjs-to-onnx',
    graphName: options.graphName ?? 'translated',
    nodes,
    initializers,
    inputs,
    outputs,
  });
}

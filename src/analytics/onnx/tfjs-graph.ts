/**
 * Reads a TFJS graph model (model.json + its weight files) into plain data: the nodes and the decoded
 * constant tensors. Validated at the edge: a malformed file is a one-line error naming what is wrong.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';

const attrValueSchema = z.looseObject({
  i: z.union([z.string(), z.number()]).optional(),
  f: z.number().optional(),
  b: z.boolean().optional(),
  s: z.string().optional(),
  type: z.string().optional(),
  list: z
    .looseObject({
      i: z.array(z.union([z.string(), z.number()])).optional(),
      s: z.array(z.string()).optional(),
      f: z.array(z.number()).optional(),
    })
    .optional(),
  shape: z
    .looseObject({ dim: z.array(z.looseObject({ size: z.union([z.string(), z.number()]) })).optional() })
    .optional(),
});
export type TfAttrValue = z.infer<typeof attrValueSchema>;

const nodeSchema = z.object({
  name: z.string().min(1),
  op: z.string().min(1),
  input: z.array(z.string()).optional(),
  attr: z.record(z.string(), attrValueSchema).optional(),
});

const weightSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  dtype: z.enum(['float32', 'int32']),
  quantization: z
    .object({ dtype: z.literal('float16') })
    .loose()
    .optional(),
});

const modelJsonSchema = z.object({
  modelTopology: z.object({ node: z.array(nodeSchema) }).loose(),
  weightsManifest: z.array(z.object({ paths: z.array(z.string()), weights: z.array(weightSchema) })),
});
export type TfModelJson = z.infer<typeof modelJsonSchema>;

export interface TfNode {
  name: string;
  op: string;
  /** Data inputs as `node` or `node:k` (output k); control inputs (`^node`) are dropped. */
  inputs: string[];
  attr: Record<string, TfAttrValue>;
}

export interface TfTensor {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

export interface TfGraph {
  nodes: Map<string, TfNode>;
  weights: Map<string, TfTensor>;
}

/** IEEE half → single precision, for every 16-bit pattern (built once: decoding by table is fast). */
let halfTable: Float32Array | undefined;
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    halfTable[h] =
      exponent === 0
        ? sign * 2 ** -14 * (fraction / 1024)
        : exponent === 0x1f
          ? fraction
            ? Number.NaN
            : sign * Number.POSITIVE_INFINITY
          : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return halfTable;
}

/** Decodes the concatenated weight bytes (little-endian, as TFJS writes them) in manifest order. */
export function decodeWeights(manifest: TfModelJson['weightsManifest'], data: Uint8Array): Map<string, TfTensor> {
  const weights = new Map<string, TfTensor>();
  let offset = 0;
  for (const spec of manifest.flatMap((group) => group.weights)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = size * (spec.quantization ? 2 : 4);
    if (offset + bytes > data.byteLength) {
      throw new Error(`weights end before "${spec.name}" (${data.byteLength} bytes, need ${offset + bytes})`);
    }
    // A copy (Buffer.slice would share the pool), so the typed array starts aligned.
    const chunk = new Uint8Array(data.subarray(offset, offset + bytes)).buffer;
    let values: Float32Array | Int32Array;
    if (spec.quantization) {
      const table = halfToFloatTable();
      const halves = new Uint16Array(chunk);
      values = new Float32Array(size);
      for (let i = 0; i < size; i++) values[i] = table[halves[i] as number] as number;
    } else {
      values = spec.dtype === 'float32' ? new Float32Array(chunk) : new Int32Array(chunk);
    }
    weights.set(spec.name, { dtype: spec.dtype, shape: spec.shape, values });
    offset += bytes;
  }
  return weights;
}

/** The graph from a parsed model.json object and its weight bytes. */
export function parseTfGraph(json: unknown, weightData: Uint8Array, source = 'model.json'): TfGraph {
  const parsed = modelJsonSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${source}: not a TFJS graph model: ${parsed.error.issues[0]?.message}`);
  const nodes = new Map<string, TfNode>();
  for (const node of parsed.data.modelTopology.node) {
    nodes.set(node.name, {
      name: node.name,
      op: node.op,
      inputs: (node.input ?? []).filter((input) => !input.startsWith('^')),
      attr: node.attr ?? {},
    });
  }
  return { nodes, weights: decodeWeights(parsed.data.weightsManifest, weightData) };
}

/** Reads `model.json` and the weight files it lists (paths relative to it). */
export async function readTfGraph(modelPath: string): Promise<TfGraph> {
  const json: unknown = JSON.parse(await readFile(modelPath, 'utf8'));
  const manifest = modelJsonSchema.shape.weightsManifest.safeParse(
    (json as { weightsManifest?: unknown }).weightsManifest,
  );
  if (!manifest.success) throw new Error(`${modelPath}: no valid weightsManifest`);
  const buffers = [];
  for (const group of manifest.data) {
    for (const file of group.paths) buffers.push(await readFile(join(dirname(modelPath), file)));
  }
  return parseTfGraph(json, Buffer.concat(buffers), modelPath);
}

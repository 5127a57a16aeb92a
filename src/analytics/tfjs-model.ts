/**
 * The model on TensorFlow.js with the wasm backend (SIMD, one thread: tfjs turns wasm threads off in
 * Node). Loaded only when this runtime is chosen, so ONNX workers do not carry tfjs.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { centerNetModelPath, INPUT_NAME, INPUT_SIZE, MODEL_ID, OUTPUT_NAME } from './centernet.js';
import type { ModelPass } from './runtime.js';

const require = createRequire(import.meta.url);
const wasmDist = () => `${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`;

interface GraphModelJson {
  modelTopology: object;
  signature?: object;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

/** A graph model from its parsed model.json and the concatenated bytes of its weight files. */
export function tfjsGraphModelFromMemory(json: GraphModelJson, weights: Uint8Array): Promise<GraphModel> {
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
      ...(json.signature ? { signature: json.signature } : {}),
    }),
  };
  return loadGraphModel(handler);
}

/** A graph model from disk: model.json plus its weight files, concatenated (tfjs has no file loader in Node). */
export async function loadTfjsGraphModel(modelPath: string): Promise<GraphModel> {
  const json = JSON.parse(await readFile(modelPath, 'utf8')) as GraphModelJson;
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const file of group.paths) buffers.push(await readFile(join(dirname(modelPath), file)));
  }
  return tfjsGraphModelFromMemory(json, Buffer.concat(buffers));
}

/** Selects the wasm backend; fatal if unavailable (tfjs would silently fall back to the ~33× slower cpu one). */
export async function useTfjsWasm(): Promise<void> {
  setWasmPaths(wasmDist());
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('tfjs wasm backend failed to initialise; refusing to fall back to the ~33× slower cpu backend');
  }
  await tf.ready();
  const backend = tf.getBackend();
  if (backend !== 'wasm') throw new Error(`tfjs backend is ${backend}, expected wasm`);
}

export async function loadTfjsModelPass(): Promise<ModelPass> {
  await useTfjsWasm();
  const model = await loadTfjsGraphModel(centerNetModelPath());
  return {
    backend: 'wasm',
    model: MODEL_ID,
    async run(image) {
      const output = tf.tidy(() => {
        const input = tf.tensor(image, [1, INPUT_SIZE, INPUT_SIZE, 3], 'float32');
        return model.execute({ [INPUT_NAME]: input }, OUTPUT_NAME) as tf.Tensor;
      });
      const rows = (await output.data()) as Float32Array;
      output.dispose();
      return rows;
    },
  };
}

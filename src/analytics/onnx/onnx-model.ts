/**
 * The model on ONNX Runtime (native, CPU execution provider): the shipped TFJS graph is translated to
 * ONNX in memory when the worker loads (no file, no download) and handed to one session per worker.
 * The graph runs up to its raw person head; the peaks are decoded in TypeScript (person-head.ts).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { centerNetModelPath, INPUT_NAME, INPUT_SIZE, MODEL_ID } from '../centernet.js';
import { cardModelId, MODELS_DIR, modelCardSchema, readModelCard, readModelFile } from '../model-card.js';
import { DEFAULT_PRECISION, type ModelPass, type Precision, RuntimeUnavailableError } from '../runtime.js';
import { BOX_SIDES_NAME, CLASS_LOGITS_NAME, decodePersonPeaks, HEAD, personOnlyHead } from './person-head.js';
import { readTfGraph } from './tfjs-graph.js';
import { translateTfGraph } from './translate.js';

type OnnxRuntime = typeof import('onnxruntime-node');

/** Loads the native runtime; any failure here means "not available on this platform". */
export async function importOnnxRuntime(): Promise<OnnxRuntime> {
  try {
    return await import('onnxruntime-node');
  } catch (error) {
    throw new RuntimeUnavailableError(`ONNX Runtime cannot load: ${(error as Error).message.split('\n')[0]}`);
  }
}

/**
 * One session per worker thread with one intra-op thread: the pool already runs one worker per core,
 * and more threads per session were slower on a loaded 2-core machine (team note model.md).
 */
export async function createOnnxSession(ort: OnnxRuntime, model: Uint8Array, shapes: 'fixed' | 'per-photo' = 'fixed') {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // A memory pattern is planned per input shape and kept; with a shape per photo (the density
    // network) it only grows the arena: 303 → 232 MB for one 1024 × 768 session, at the same speed.
    enableMemPattern: shapes === 'fixed',
  });
}

/** The shipped detector as ONNX bytes, up to its raw person head (also what the int8 build starts from). */
export async function personDetectorOnnx(): Promise<Uint8Array> {
  const graph = personOnlyHead(await readTfGraph(centerNetModelPath()));
  return translateTfGraph(graph, { outputs: [CLASS_LOGITS_NAME, BOX_SIDES_NAME] });
}

/** The int8 build's card: it must derive from the shipped model and take the same input. */
const int8CardSchema = modelCardSchema.extend({
  model: z.literal(MODEL_ID),
  precision: z.literal('int8'),
  input: z.object({ name: z.literal(INPUT_NAME), size: z.literal(INPUT_SIZE) }),
});
export type Int8DetectorCard = z.infer<typeof int8CardSchema>;
export const INT8_CARD_PATH = join(MODELS_DIR, 'person-detector-int8.json');

export function readInt8DetectorCard(path = INT8_CARD_PATH): Int8DetectorCard {
  return readModelCard(path, int8CardSchema, 'int8 detector card');
}

/** The weights for a precision and the id results report: `MODEL_ID`, or `MODEL_ID+int8@<file hash>`. */
async function detectorWeights(precision: Precision): Promise<{ model: string; bytes: Uint8Array }> {
  if (precision === 'fp32') return { model: MODEL_ID, bytes: await personDetectorOnnx() };
  const card = readInt8DetectorCard();
  return { model: cardModelId(card, '+int8'), bytes: await readModelFile(card) };
}

export async function loadOnnxModelPass(
  precision: Precision = DEFAULT_PRECISION,
  loadRuntime: () => Promise<OnnxRuntime> = importOnnxRuntime,
): Promise<ModelPass> {
  const ort = await loadRuntime();
  const { model, bytes } = await detectorWeights(precision);
  const session = await createOnnxSession(ort, bytes);
  return {
    backend: 'onnx',
    model,
    async run(image) {
      const input = new ort.Tensor('float32', image, [1, INPUT_SIZE, INPUT_SIZE, 3]);
      const outputs = await session.run({ [INPUT_NAME]: input });
      const logits = outputs[CLASS_LOGITS_NAME]?.data as Float32Array;
      const sides = outputs[BOX_SIDES_NAME]?.data as Float32Array;
      return decodePersonPeaks(logits, sides, INPUT_SIZE / HEAD.stride);
    },
  };
}

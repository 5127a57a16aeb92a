/**
 * The model on ONNX Runtime (native, CPU execution provider): the shipped TFJS graph is translated to
 * ONNX in memory when the worker loads (no file, no download) and handed to one session per worker.
 * The graph runs up to its raw person head; the peaks are decoded in TypeScript (person-head.ts).
 */
import { centerNetModelPath, INPUT_NAME, INPUT_SIZE } from '../centernet.js';
import { type ModelPass, RuntimeUnavailableError } from '../runtime.js';
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
export async function createOnnxSession(ort: OnnxRuntime, model: Uint8Array) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

export async function loadOnnxModelPass(
  loadRuntime: () => Promise<OnnxRuntime> = importOnnxRuntime,
): Promise<ModelPass> {
  const ort = await loadRuntime();
  const graph = personOnlyHead(await readTfGraph(centerNetModelPath()));
  const model = translateTfGraph(graph, { outputs: [CLASS_LOGITS_NAME, BOX_SIDES_NAME] });
  const session = await createOnnxSession(ort, model);
  return {
    backend: 'onnx',
    async run(image) {
      const input = new ort.Tensor('float32', image, [1, INPUT_SIZE, INPUT_SIZE, 3]);
      const outputs = await session.run({ [INPUT_NAME]: input });
      const logits = outputs[CLASS_LOGITS_NAME]?.data as Float32Array;
      const sides = outputs[BOX_SIDES_NAME]?.data as Float32Array;
      return decodePersonPeaks(logits, sides, INPUT_SIZE / HEAD.stride);
    },
  };
}

/** Which engine runs the model: ONNX Runtime (native, default) or TensorFlow.js on WebAssembly. */
export const RUNTIMES = ['onnx', 'wasm'] as const;
export type Runtime = (typeof RUNTIMES)[number];
export const DEFAULT_RUNTIME: Runtime = 'onnx';

/** One model pass: a 512×512 letterboxed RGB image (NHWC floats 0–255) → rows of x1, y1, x2, y2, score, class. */
export interface ModelPass {
  readonly backend: Runtime;
  run(image: Float32Array): Promise<Float32Array>;
}

/** ONNX Runtime could not be loaded on this platform (no prebuilt binary, missing library). */
export class RuntimeUnavailableError extends Error {
  override name = 'RuntimeUnavailableError';
}

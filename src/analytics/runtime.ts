/** Which engine runs the model: ONNX Runtime (native, default) or TensorFlow.js on WebAssembly. */
export const RUNTIMES = ['onnx', 'wasm'] as const;
export type Runtime = (typeof RUNTIMES)[number];
export const DEFAULT_RUNTIME: Runtime = 'onnx';

/**
 * The person detector's weights on ONNX Runtime: the shipped fp32 graph, or its int8 build
 * (models/person-detector-int8.onnx, training/quantize_detector.py). tfjs-wasm always runs fp32.
 */
export const PRECISIONS = ['fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const DEFAULT_PRECISION: Precision = 'fp32';

/** One model pass: a 512×512 letterboxed RGB image (NHWC floats 0–255) → rows of x1, y1, x2, y2, score, class. */
export interface ModelPass {
  readonly backend: Runtime;
  /** The weights that ran, as results report them (e.g. `…+int8@1a2b3c4d`). */
  readonly model: string;
  run(image: Float32Array): Promise<Float32Array>;
}

/** ONNX Runtime could not be loaded on this platform (no prebuilt binary, missing library). */
export class RuntimeUnavailableError extends Error {
  override name = 'RuntimeUnavailableError';
}

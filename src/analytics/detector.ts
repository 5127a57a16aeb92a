/**
 * The model around one pass: sharp decodes and letterboxes each tile, a model pass (ONNX Runtime or
 * tfjs-wasm, see runtime.ts) finds people, NMS and tiling merge the boxes. One Detector per thread;
 * not thread-safe.
 */
import sharp, { type Sharp } from 'sharp';
import { DEFAULT_IMAGE_LIMITS } from '../core/image.js';
import type { Detection } from '../core/messages.js';
import { INPUT_SIZE } from './centernet.js';
import { fuseFlipped, unflip } from './flip.js';
import { nonMaxSuppression } from './nms.js';
import { loadOnnxModelPass } from './onnx/onnx-model.js';
import { DEFAULT_RUNTIME, type ModelPass, type Runtime, RuntimeUnavailableError } from './runtime.js';
import { mergeTiles, type Region, SINGLE_TILE, type Tiling, tileCount, tileLayout } from './tiling.js';

export { MODEL_ID } from './centernet.js';

const PERSON_CLASS = 0;
/** Values per output row: x1, y1, x2, y2, score, class. */
const ROW = 6;
/** Scores below this are noise for every camera; calibration sweeps thresholds above it. */
export const MIN_RAW_SCORE = 0.1;
export const NMS_IOU = 0.4;

/** The image cannot be decoded: thrown before any inference. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export interface DetectOptions {
  tiling: Tiling;
  minScore?: number;
  /** Also run every tile mirrored and fuse the scores (2× the compute). */
  flip?: boolean;
  /** Also run the whole frame as one tile and return its detections apart (multi-scale counting). */
  wholeFrame?: boolean;
}

export interface FrameDetections {
  detections: Detection[];
  /** The whole-frame pass, when asked for (the same list when the tiling is a single tile). */
  wholeFrame?: Detection[];
  width: number;
  height: number;
}

export interface Detector {
  readonly backend: string;
  /** The weights, as results report them. */
  readonly model: string;
  /** Person boxes in frame pixels, after NMS, with scores ≥ minScore. */
  detect(photo: Photo, options: DetectOptions): Promise<FrameDetections>;
}

/** A decoded photo: RGB pixels, 3 bytes each. */
export interface DecodedPhoto {
  pixels: Buffer;
  width: number;
  height: number;
}

/**
 * A photo as the passes read it: its size (EXIF-rotated), its full decode (made once, when a pass first
 * needs it) and the model input of any region. A whole-frame region is decoded straight from the JPEG at
 * the model's resolution (libjpeg shrink-on-load, letterboxed in the same pipeline), always, so its input
 * does not depend on which passes ran before, and a whole-frame pass never holds the full-size pixels.
 */
export interface Photo {
  readonly width: number;
  readonly height: number;
  decoded(): Promise<DecodedPhoto>;
  /** `region` letterboxed into the model's square input (top-left aligned, black): RGB floats 0–255. */
  modelInput(region: Region, mirrored: boolean): Promise<Float32Array>;
}

/** Decoding options for every photo: a broken scan fails, a decompression bomb is refused in-process too. */
const decodeOptions = () => ({ failOn: 'truncated' as const, limitInputPixels: DEFAULT_IMAGE_LIMITS.maxPixels });

/** EXIF-rotated, sRGB, no alpha: what every decode of a photo starts with. */
function rgb(image: Sharp): Sharp {
  return image.autoOrient().removeAlpha().toColourspace('srgb');
}

/**
 * Letterboxes an image into the model's square float input, top-left aligned on black: sharp scales it to
 * fit and the bytes are widened into the zeroed input row by row (sharp's own `contain` gives the same
 * pixels but embeds and copies once more).
 */
async function letterbox(image: Sharp, mirrored: boolean): Promise<Float32Array> {
  const { data, info } = await image
    .flop(mirrored)
    .resize(INPUT_SIZE, INPUT_SIZE, { fit: 'inside' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const input = new Float32Array(INPUT_SIZE * INPUT_SIZE * 3);
  const row = info.width * 3;
  for (let y = 0; y < info.height; y++) {
    const from = y * row;
    input.set(data.subarray(from, from + row), y * INPUT_SIZE * 3);
  }
  return input;
}

async function decoding<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new DecodeError(`cannot decode image: ${(error as Error).message}`);
  }
}

/** A photo from its encoded bytes: only the header is read here; a broken or oversized image is a DecodeError. */
export async function openPhoto(encoded: Buffer): Promise<Photo> {
  const { autoOrient } = await decoding(() => sharp(encoded, decodeOptions()).metadata());
  let full: Promise<DecodedPhoto> | undefined;
  const decoded = () => {
    full ??= decoding(async () => {
      const { data, info } = await rgb(sharp(encoded, decodeOptions())).raw().toBuffer({ resolveWithObject: true });
      return { pixels: data, width: info.width, height: info.height };
    });
    return full;
  };
  return {
    width: autoOrient.width,
    height: autoOrient.height,
    decoded,
    async modelInput(region, mirrored) {
      const whole =
        region.left === 0 &&
        region.top === 0 &&
        region.width === autoOrient.width &&
        region.height === autoOrient.height;
      if (whole) return decoding(() => letterbox(rgb(sharp(encoded, decodeOptions())), mirrored));
      const frame = await decoded();
      return letterbox(
        sharp(frame.pixels, { raw: { width: frame.width, height: frame.height, channels: 3 } }).extract(region),
        mirrored,
      );
    },
  };
}

export interface LoadedPass {
  pass: ModelPass;
  /** Set when the requested runtime could not load and another one runs instead. */
  warning?: string;
}

/**
 * The model pass for a runtime. ONNX Runtime missing on this platform falls back to tfjs-wasm with a
 * warning; any other failure (e.g. a graph op the translator does not know) is fatal.
 */
export async function loadModelPass(
  runtime: Runtime = DEFAULT_RUNTIME,
  loadOnnx: () => Promise<ModelPass> = loadOnnxModelPass,
): Promise<LoadedPass> {
  const loadWasm = async () => (await import('./tfjs-model.js')).loadTfjsModelPass();
  if (runtime === 'wasm') return { pass: await loadWasm() };
  try {
    return { pass: await loadOnnx() };
  } catch (error) {
    if (!(error instanceof RuntimeUnavailableError)) throw error;
    return { pass: await loadWasm(), warning: wasmFallbackWarning(error.message) };
  }
}

/** The one line a user sees when the model runs on tfjs-wasm because ONNX Runtime cannot. */
export function wasmFallbackWarning(problem: string): string {
  return `${problem}; running the model on tfjs-wasm instead (≈ 3.5× slower)`;
}

export function createDetector(pass: ModelPass): Detector {
  const backend = pass.backend;

  /** Letterboxes one region into the model's square input (top-left aligned, so boxes only need scaling). */
  async function inferRegion(photo: Photo, region: Region, minScore: number, mirrored: boolean): Promise<Detection[]> {
    const scale = INPUT_SIZE / Math.max(region.width, region.height);
    const input = await photo.modelInput(region, mirrored);
    const rows = await pass.run(input);
    const found: Detection[] = [];
    const clip = (v: number, max: number) => Math.min(max, Math.max(0, v / scale));
    for (let row = 0; row + ROW <= rows.length; row += ROW) {
      const at = (k: number) => rows[row + k] as number;
      const score = at(4);
      if (at(5) !== PERSON_CLASS || score < minScore) continue;
      found.push({
        box: [
          clip(at(0), region.width),
          clip(at(1), region.height),
          clip(at(2), region.width),
          clip(at(3), region.height),
        ],
        score,
      });
    }
    const kept = nonMaxSuppression(found, NMS_IOU);
    return mirrored ? unflip(kept, region.width) : kept;
  }

  async function detectTiled(frame: Photo, tiling: Tiling, minScore: number, flip: boolean): Promise<Detection[]> {
    const perTile = [];
    for (const tile of tileLayout(frame.width, frame.height, tiling)) {
      if (!flip) {
        perTile.push({ tile, detections: await inferRegion(frame, tile, minScore, false) });
        continue;
      }
      // A box seen in only one pass keeps half its score, so each pass must report down to half the minimum.
      const original = await inferRegion(frame, tile, minScore / 2, false);
      const mirrored = await inferRegion(frame, tile, minScore / 2, true);
      perTile.push({ tile, detections: fuseFlipped(original, mirrored).filter((d) => d.score >= minScore) });
    }
    return mergeTiles(perTile, NMS_IOU);
  }

  return {
    backend,
    model: pass.model,
    async detect(frame, { tiling, minScore = MIN_RAW_SCORE, flip = false, wholeFrame = false }) {
      const detections = await detectTiled(frame, tiling, minScore, flip);
      const singleTile = tileCount(tiling) === 1;
      return {
        detections,
        ...(wholeFrame
          ? { wholeFrame: singleTile ? detections : await detectTiled(frame, SINGLE_TILE, minScore, flip) }
          : {}),
        width: frame.width,
        height: frame.height,
      };
    },
  };
}

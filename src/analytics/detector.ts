/**
 * The model itself: CenterNet MobileNetV3 (COCO) shipped in @vladmandic/human, run by tfjs on the
 * wasm backend, with sharp for decoding and letterboxing. One Detector per thread; not thread-safe.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { DEFAULT_IMAGE_LIMITS } from '../core/image.js';
import type { Detection } from '../core/messages.js';
import { fuseFlipped, unflip } from './flip.js';
import { nonMaxSuppression } from './nms.js';
import { mergeTiles, type Region, SINGLE_TILE, type Tiling, tileCount, tileLayout } from './tiling.js';

export const MODEL_ID = 'centernet-mobilenetv3@human-3.3.6';
const INPUT_SIZE = 512;
const PERSON_CLASS = 0;
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
  /** Person boxes in frame pixels, after NMS, with scores ≥ minScore. */
  detect(jpeg: Buffer, options: DetectOptions): Promise<FrameDetections>;
}

/** A decoded photo: RGB pixels, 3 bytes each. */
interface Frame {
  pixels: Buffer;
  width: number;
  height: number;
}

const require = createRequire(import.meta.url);

/** `@vladmandic/human` exports no package.json: its main file is `<root>/dist/human.node.js`. */
const humanRoot = () => dirname(dirname(require.resolve('@vladmandic/human')));
const wasmDist = () => `${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`;

async function loadCenterNet(): Promise<GraphModel> {
  const modelPath = join(humanRoot(), 'models', 'centernet.json');
  const json = JSON.parse(await readFile(modelPath, 'utf8')) as {
    modelTopology: object;
    signature?: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const file of group.paths) buffers.push(await readFile(join(dirname(modelPath), file)));
  }
  const weights = Buffer.concat(buffers);
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      ...(json.signature ? { signature: json.signature } : {}),
    }),
  };
  return loadGraphModel(handler);
}

/** Loads the wasm backend (fatal if unavailable: the cpu fallback is ~33× slower) and the model. */
export async function loadDetector(): Promise<Detector> {
  setWasmPaths(wasmDist());
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('tfjs wasm backend failed to initialise; refusing to fall back to the ~33× slower cpu backend');
  }
  await tf.ready();
  const backend = tf.getBackend();
  if (backend !== 'wasm') throw new Error(`tfjs backend is ${backend}, expected wasm`);
  const model = await loadCenterNet();

  async function decode(jpeg: Buffer): Promise<Frame> {
    try {
      // The pixel limit refuses decompression bombs in-process too (the REST service checks before).
      const { data, info } = await sharp(jpeg, {
        failOn: 'truncated',
        limitInputPixels: DEFAULT_IMAGE_LIMITS.maxPixels,
      })
        .autoOrient()
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { pixels: data, width: info.width, height: info.height };
    } catch (error) {
      throw new DecodeError(`cannot decode image: ${(error as Error).message}`);
    }
  }

  /** Letterboxes one region into the model's square input (top-left aligned, so boxes only need scaling). */
  async function inferRegion(frame: Frame, region: Region, minScore: number, mirrored: boolean): Promise<Detection[]> {
    const scale = INPUT_SIZE / Math.max(region.width, region.height);
    const input = await sharp(frame.pixels, { raw: { width: frame.width, height: frame.height, channels: 3 } })
      .extract(region)
      .flop(mirrored)
      .resize(INPUT_SIZE, INPUT_SIZE, { fit: 'contain', position: 'left top', background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer();
    const output = tf.tidy(() => {
      const image = tf.tensor(new Float32Array(input), [1, INPUT_SIZE, INPUT_SIZE, 3], 'float32');
      return model.execute({ 'tower_0/images': image }, 'tower_0/detections') as tf.Tensor;
    });
    const rows = (await output.array()) as number[][][];
    output.dispose();
    const found: Detection[] = [];
    for (const [x1, y1, x2, y2, score, cls] of rows[0] ?? []) {
      if (cls !== PERSON_CLASS || score === undefined || score < minScore) continue;
      const clip = (v: number | undefined, max: number) => Math.min(max, Math.max(0, (v ?? 0) / scale));
      found.push({
        box: [clip(x1, region.width), clip(y1, region.height), clip(x2, region.width), clip(y2, region.height)],
        score,
      });
    }
    const kept = nonMaxSuppression(found, NMS_IOU);
    return mirrored ? unflip(kept, region.width) : kept;
  }

  async function detectTiled(frame: Frame, tiling: Tiling, minScore: number, flip: boolean): Promise<Detection[]> {
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
    async detect(jpeg, { tiling, minScore = MIN_RAW_SCORE, flip = false, wholeFrame = false }) {
      const frame = await decode(jpeg);
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

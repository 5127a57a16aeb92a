/**
 * The crowd-density network on ONNX Runtime: one session per worker thread, created on the first
 * photo that needs it (a street camera's workers never load it). Input and output follow the model
 * card written by the training script.
 */
import sharp from 'sharp';
import { type DensityCard, type DensityMap, densityInputSize, readDensityCard } from '../density.js';
import type { DecodedPhoto } from '../detector.js';
import { readModelFile } from '../model-card.js';
import { createOnnxSession, importOnnxRuntime } from './onnx-model.js';

export interface DensityPass {
  readonly card: DensityCard;
  run(photo: DecodedPhoto): Promise<DensityMap>;
}

export async function loadDensityPass(card: DensityCard = readDensityCard()): Promise<DensityPass> {
  const ort = await importOnnxRuntime();
  const session = await createOnnxSession(ort, await readModelFile(card), 'per-photo');
  return {
    card,
    async run(photo) {
      const size = densityInputSize(photo.width, photo.height, card);
      const pixels = await sharp(photo.pixels, { raw: { width: photo.width, height: photo.height, channels: 3 } })
        .resize(size.width, size.height, { fit: 'fill' })
        .raw()
        .toBuffer();
      const input = new ort.Tensor('float32', Float32Array.from(pixels), [1, size.height, size.width, 3]);
      const output = (await session.run({ [card.input.name]: input }))[card.output.name];
      if (!output) throw new Error(`the density model has no output "${card.output.name}"`);
      const [, , rows, cols] = output.dims as number[];
      return {
        cols: cols as number,
        rows: rows as number,
        cells: output.data as Float32Array,
        width: photo.width,
        height: photo.height,
      };
    },
  };
}

/**
 * Checks that a buffer is a whole, decodable JPEG of acceptable size before anything stores or
 * analyses it. Decompression bombs are refused from the header, before any pixel is decoded.
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { createLimiter } from './concurrently.js';

export type ImageProblem =
  | 'empty'
  | 'too-large'
  | 'not-jpeg'
  | 'unsupported-format'
  | 'too-many-pixels'
  | 'truncated'
  | 'undecodable';

export class ImageRejectedError extends Error {
  override name = 'ImageRejectedError';
  constructor(
    readonly problem: ImageProblem,
    message: string,
  ) {
    super(message);
  }
}

/** The dead-letter reason of a refused photo: too big to look at, or not a usable image. */
export function imageRejectionReason(error: ImageRejectedError): 'image-too-large' | 'undecodable-image' {
  return error.problem === 'too-large' || error.problem === 'too-many-pixels' ? 'image-too-large' : 'undecodable-image';
}

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

/**
 * 10 MB and 24 megapixels. The model looks at 512×512 inputs: a whole frame, or at most a few
 * dozen tiles of it, so detail beyond ≈ 4–8 MP is scaled away. 24 MP still passes common camera
 * stills unresized (Raspberry Pi HQ 12.3 MP, Camera Module 3 11.9 MP, 20 MP phones) and caps one
 * decode at 72 MB of pixels; a 49 MP (7000×7000) header is refused before decoding.
 */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxBytes: 10_000_000, maxPixels: 24_000_000 };

/** Full decodes at once in this process: more only queue for the same cores and multiply memory. */
const decodeSlot = createLimiter(Math.max(1, availableParallelism()));

export interface JpegInfo {
  width: number;
  height: number;
}

export function looksLikeJpeg(buffer: Buffer): boolean {
  return buffer.length >= 3 && buffer[0] === 0xff && buffer[1] === 0xd8 && buffer[2] === 0xff;
}

/** HEIC/HEIF/AVIF: an ISO-BMFF `ftyp` box with an image brand (sharp's prebuilt libvips cannot decode HEIC). */
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1', 'avif']);

export type PhotoFormat = 'jpeg' | 'png' | 'webp' | 'heif' | 'unknown';

/** The format from the first bytes, whatever the file name or content type claims. Pure. */
export function photoFormat(buffer: Buffer): PhotoFormat {
  if (looksLikeJpeg(buffer)) return 'jpeg';
  if (buffer.length >= 8 && buffer.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png';
  if (buffer.length >= 12 && buffer.toString('latin1', 0, 4) === 'RIFF' && buffer.toString('latin1', 8, 12) === 'WEBP')
    return 'webp';
  if (
    buffer.length >= 12 &&
    buffer.toString('latin1', 4, 8) === 'ftyp' &&
    HEIF_BRANDS.has(buffer.toString('latin1', 8, 12))
  )
    return 'heif';
  return 'unknown';
}

/**
 * A photo as JPEG: a JPEG unchanged; a PNG or WebP converted (quality 90, transparency on white),
 * within the same limits; anything else refused, naming the formats that are accepted.
 */
export async function asJpeg(buffer: Buffer, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<Buffer> {
  const format = photoFormat(buffer);
  if (format === 'jpeg' || buffer.length === 0) return buffer;
  if (buffer.length > limits.maxBytes) {
    throw new ImageRejectedError('too-large', `image is ${buffer.length} bytes; the limit is ${limits.maxBytes}`);
  }
  if (format === 'heif') {
    throw new ImageRejectedError(
      'unsupported-format',
      'HEIC/HEIF photos are not supported; send JPEG, PNG or WebP (on an iPhone: Settings › Camera › Formats › Most Compatible)',
    );
  }
  if (format === 'unknown') {
    throw new ImageRejectedError('not-jpeg', 'not a JPEG, PNG or WebP photo (the formats accepted)');
  }
  try {
    return await sharp(buffer, { failOn: 'truncated', limitInputPixels: limits.maxPixels })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 90 })
      .toBuffer();
  } catch (error) {
    const message = (error as Error).message;
    const problem: ImageProblem = /pixel limit/i.test(message)
      ? 'too-many-pixels'
      : /truncat|premature end|unexpected end/i.test(message)
        ? 'truncated'
        : 'undecodable';
    throw new ImageRejectedError(problem, `${format.toUpperCase()} cannot be converted to JPEG: ${message}`);
  }
}

export async function inspectJpeg(buffer: Buffer, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<JpegInfo> {
  if (buffer.length === 0) throw new ImageRejectedError('empty', 'image is empty');
  if (buffer.length > limits.maxBytes) {
    throw new ImageRejectedError('too-large', `image is ${buffer.length} bytes; the limit is ${limits.maxBytes}`);
  }
  if (!looksLikeJpeg(buffer)) throw new ImageRejectedError('not-jpeg', 'not a JPEG (missing FF D8 FF signature)');
  let width: number | undefined;
  let height: number | undefined;
  try {
    // Header only: sharp's default pixel limit would hide a bomb's size behind a generic error.
    ({ width, height } = await sharp(buffer, { limitInputPixels: false }).metadata());
  } catch (error) {
    throw new ImageRejectedError('undecodable', `cannot read JPEG header: ${(error as Error).message}`);
  }
  if (!width || !height) throw new ImageRejectedError('undecodable', 'JPEG header has no dimensions');
  if (width * height > limits.maxPixels) {
    throw new ImageRejectedError(
      'too-many-pixels',
      `image is ${width}×${height} (${width * height} pixels); the limit is ${limits.maxPixels}`,
    );
  }
  try {
    // Decoding the whole image is the only reliable check for truncation and corrupt scans.
    await decodeSlot(() => sharp(buffer, { failOn: 'truncated', limitInputPixels: limits.maxPixels }).raw().toBuffer());
  } catch (error) {
    const message = (error as Error).message;
    const truncated = /truncat|premature end|unexpected end/i.test(message);
    throw new ImageRejectedError(truncated ? 'truncated' : 'undecodable', `JPEG cannot be decoded: ${message}`);
  }
  return { width, height };
}

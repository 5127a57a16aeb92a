/** Self-made photos for tests that must not depend on ../shared. */
import sharp from 'sharp';

/** A plain JPEG of one colour: no people in it. */
export function solidJpeg(width = 320, height = 240, colour = { r: 120, g: 140, b: 160 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** A JPEG with random noise, so that truncating it damages real scan data. */
export function noiseJpeg(width = 320, height = 240): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** The first `fraction` of a real JPEG: a truncated upload. */
export function truncated(jpeg: Buffer, fraction = 0.5): Buffer {
  return jpeg.subarray(0, Math.floor(jpeg.length * fraction));
}

/** A tiny JPEG whose header claims huge dimensions (a decompression bomb's header). */
export async function hugeHeaderJpeg(width = 20_000, height = 20_000): Promise<Buffer> {
  const jpeg = await solidJpeg(16, 16);
  const out = Buffer.from(jpeg);
  // Rewrite the SOF0/SOF2 frame header's height and width.
  for (let i = 2; i < out.length - 9; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no SOF marker found');
}

/** The first bytes of an iPhone HEIC file: an ISO-BMFF ftyp box with brand "heic". */
export function heicHeader(): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1')]);
}

/** Self-made photos for tests that must not depend on ../shared. */
import sharp from 'sharp';

/** A whole photo as the model's input, letterboxed as the detector does (NHWC floats 0–255). */
export async function modelInput(jpeg: Buffer, size: number): Promise<Float32Array> {
  const pixels = await sharp(jpeg)
    .removeAlpha()
    .resize(size, size, { fit: 'contain', position: 'left top', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer();
  return Float32Array.from(pixels);
}

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

/** A street-like scene with person-shaped figures of several sizes (heads, bodies, legs). */
export function figuresJpeg(seed: number): Promise<Buffer> {
  const figures = Array.from({ length: 6 }, (_, i) => {
    const height = 60 + ((seed * 37 + i * 53) % 200);
    const x = 40 + ((seed * 71 + i * 97) % 560);
    const y = 440 - height;
    const w = height / 3.2;
    const colour = ['#30343a', '#7a2a22', '#2b4a7a', '#d8c8a8', '#3f6b3a', '#111111'][(seed + i) % 6];
    return `<g fill="${colour}">
      <circle cx="${x}" cy="${y + height * 0.09}" r="${height * 0.09}" fill="#e0b090"/>
      <rect x="${x - w / 2}" y="${y + height * 0.18}" width="${w}" height="${height * 0.42}" rx="${w / 5}"/>
      <rect x="${x - w / 2}" y="${y + height * 0.6}" width="${w * 0.42}" height="${height * 0.4}"/>
      <rect x="${x + w * 0.08}" y="${y + height * 0.6}" width="${w * 0.42}" height="${height * 0.4}"/>
    </g>`;
  }).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">
    <rect width="640" height="480" fill="#9aa3ab"/><rect y="300" width="640" height="180" fill="#6d6a66"/>
    <rect x="20" y="60" width="180" height="240" fill="#b8aa96"/><rect x="420" y="30" width="200" height="270" fill="#857a70"/>
    ${figures}</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

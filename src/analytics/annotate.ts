/** Draws counted boxes onto a copy of the photo (SVG overlay composited by sharp). */
import sharp from 'sharp';
import type { Detection } from '../core/messages.js';

export async function annotate(jpeg: Buffer, detections: readonly Detection[], count: number): Promise<Buffer> {
  const image = sharp(jpeg).autoOrient();
  const { width = 0, height = 0 } = await image
    .clone()
    .metadata()
    .then((m) => ((m.orientation ?? 1) >= 5 ? { width: m.height, height: m.width } : m));
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 250));
  const boxes = detections
    .map(
      ({ box: [x1, y1, x2, y2], score }) =>
        `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="#00e676" stroke-width="${stroke}"/>` +
        `<text x="${x1 + 2}" y="${Math.max(12, y1 - 3)}" font-size="${6 * stroke}" fill="#00e676">${score.toFixed(2)}</text>`,
    )
    .join('');
  const label = `<text x="8" y="${10 * stroke}" font-size="${10 * stroke}" fill="#ffeb3b" stroke="#000" stroke-width="1">${count} people</text>`;
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${boxes}${label}</svg>`,
  );
  return image
    .composite([{ input: svg, top: 0, left: 0 }])
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** Made-up detections for the counting tests (pure data, no model). */
import type { Detection } from '../../src/core/messages.js';

/** A 512×512 frame, so box heights are model-input pixels. */
export const SIZE = { width: 512, height: 512 };

/** A person `height` px tall standing at x, y (top-left), well inside the frame. */
export const person = (x: number, y: number, height: number, score: number): Detection => ({
  box: [x, y, x + height * 0.4, y + height],
  score,
});

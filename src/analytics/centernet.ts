/** The shipped model: CenterNet MobileNetV3 (COCO) as a TFJS graph in @vladmandic/human. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MODEL_ID = 'centernet-mobilenetv3@human-3.3.6';
/** Square input side in pixels. */
export const INPUT_SIZE = 512;
export const INPUT_NAME = 'tower_0/images';
/** `[1, 100, 6]`: x1, y1, x2, y2 (input pixels), score, class. */
export const OUTPUT_NAME = 'tower_0/detections';

const require = createRequire(import.meta.url);

/** `@vladmandic/human` exports no package.json: its main file is `<root>/dist/human.node.js`. */
export function centerNetModelPath(): string {
  return join(dirname(dirname(require.resolve('@vladmandic/human'))), 'models', 'centernet.json');
}

// Writes the shipped person detector (TFJS graph in @vladmandic/human) as the fp32 ONNX model the
// default runtime builds in memory: the person-only head, up to its raw logits and box sides.
// quantize_detector.py starts from it. Run after `npm run build`.
import { writeFileSync } from 'node:fs';
import { personDetectorOnnx } from '../dist/src/analytics/onnx/onnx-model.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: node training/export-detector.mjs OUT.onnx');
  process.exit(2);
}
writeFileSync(out, await personDetectorOnnx());
console.log(`wrote ${out}`);

// Writes the shipped person detector (TFJS graph in @vladmandic/human), translated to ONNX by the
// project's own translator, up to its stride-4 feature map: the pretrained starting point that
// train_density.py rebuilds in PyTorch. Run after `npm run build`.
import { writeFileSync } from 'node:fs';
import { centerNetModelPath } from '../dist/src/analytics/centernet.js';
import { readTfGraph } from '../dist/src/analytics/onnx/tfjs-graph.js';
import { translateTfGraph } from '../dist/src/analytics/onnx/translate.js';

const FEATURES = 'tower_0/CenternetHead/mul';
const out = process.argv[2];
if (!out) {
  console.error('usage: node training/export-backbone.mjs OUT.onnx');
  process.exit(2);
}
const graph = await readTfGraph(centerNetModelPath());
writeFileSync(out, translateTfGraph(graph, { outputs: [FEATURES] }));
console.log(`wrote ${out} (outputs ${FEATURES})`);

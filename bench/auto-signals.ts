/**
 * The signals the `auto` default can route on, per labelled photo, for choosing its crowd rule
 * (docs/analytics.md, "Choosing the crowd rule"): `node dist/bench/auto-signals.js OUT.json DIR [DIR…]`.
 *
 * For every photo: its true count and size, the first pass's candidates (score and height at the model's
 * input, the detector's default count) and the density network's unrounded sum. Nothing is fitted here;
 * the file is read by whoever chooses the rule, on photos the density network trained on only.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { firstPassOptions, MODEL_INPUT_PX } from '../src/analytics/auto-regime.js';
import { loadDataset } from '../src/analytics/dataset.js';
import { densitySum } from '../src/analytics/density.js';
import { createLocalPeopleCounter } from '../src/analytics/local-counter.js';
import { countDetections } from '../src/analytics/postprocess.js';
import { forEachKeepingWorkersBusy } from '../src/analytics/run-dataset.js';

const [out, ...dirs] = process.argv.slice(2);
if (!out || dirs.length === 0) {
  console.error('usage: node dist/bench/auto-signals.js OUT.json DIR [DIR…]');
  process.exit(2);
}
const counter = await createLocalPeopleCounter();
const sets = [];
for (const dir of dirs) {
  const photos = await loadDataset(dir);
  const rows: unknown[] = new Array(photos.length);
  let done = 0;
  await forEachKeepingWorkersBusy(counter, [...photos.keys()], async (index) => {
    const photo = photos[index];
    if (!photo) return;
    const jpeg = await readFile(photo.path);
    const [first, density] = await Promise.all([counter.detect(jpeg, firstPassOptions()), counter.density(jpeg)]);
    const scale = MODEL_INPUT_PX / Math.max(first.width, first.height);
    rows[index] = {
      file: photo.file,
      truth: photo.count,
      width: first.width,
      height: first.height,
      detectorCount: countDetections(first).count,
      candidates: first.detections.map((d) => [
        Math.round(d.score * 1000) / 1000,
        Math.round((d.box[3] - d.box[1]) * scale),
      ]),
      densitySum: Math.round(densitySum(density) * 100) / 100,
    };
    if (++done % 50 === 0) console.error(`${basename(dir)} ${done}/${photos.length}`);
  });
  sets.push({ name: basename(dir), photos: rows });
}
await counter.close();
await writeFile(out, JSON.stringify({ sets }));
console.error(`wrote ${out}`);

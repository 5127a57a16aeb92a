/**
 * CPU per whole-frame street photo on one model worker, fp32 vs int8 side by side (docs/analytics.md):
 * `node dist/bench/detector-cpu.js DIR [photos=40] [rounds=5]`.
 *
 * One single-worker pool per precision, both loaded and warmed up first; then `rounds` rounds, each
 * running the first `photos` labelled photos of DIR through every pool in turn, one photo at a time, with
 * the default settings (a whole-frame pass: decode, letterbox, model, peaks, NMS). CPU is the process's
 * user + system time over a round ÷ photos: the worker's, plus the little the main thread spends reading
 * files and passing messages. RSS per worker is what the process grew by when that pool loaded and warmed
 * up, after ONNX Runtime's library was already loaded (so neither pool is charged for it).
 */
import { readFile } from 'node:fs/promises';
import { loadDataset } from '../src/analytics/dataset.js';
import { percentile } from '../src/analytics/evaluation.js';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../src/analytics/local-counter.js';
import { countDetections, detectOptionsFor } from '../src/analytics/postprocess.js';
import { PRECISIONS, type Precision } from '../src/analytics/runtime.js';

const [dir, photosArg = '40', roundsArg = '5'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node dist/bench/detector-cpu.js DIR [photos=40] [rounds=5]');
  process.exit(2);
}
const photos = await loadDataset(dir, Number(photosArg));
const jpegs = await Promise.all(photos.map((photo) => readFile(photo.path)));
const rounds = Number(roundsArg);
const options = detectOptionsFor({});
const mb = (bytes: number) => bytes / 1024 / 1024;

await import('onnxruntime-node');
interface Pool {
  precision: Precision;
  counter: LocalPeopleCounter;
  rssMb: number;
  cpuMsPerPhoto: number[];
  absoluteError: number;
}
const pools: Pool[] = [];
for (const precision of PRECISIONS) {
  const before = process.memoryUsage().rss;
  const counter = await createLocalPeopleCounter({ workers: 1, runtime: 'onnx', precision });
  for (const jpeg of jpegs.slice(0, 3)) await counter.detect(jpeg, options);
  pools.push({
    precision,
    counter,
    rssMb: mb(process.memoryUsage().rss - before),
    cpuMsPerPhoto: [],
    absoluteError: 0,
  });
}

for (let round = 0; round < rounds; round++) {
  for (const pool of pools) {
    let absoluteError = 0;
    const cpu = process.cpuUsage();
    for (const [i, jpeg] of jpegs.entries()) {
      const found = await pool.counter.detect(jpeg, options);
      absoluteError += Math.abs(countDetections(found, {}).count - (photos[i]?.count ?? 0));
    }
    const used = process.cpuUsage(cpu);
    pool.cpuMsPerPhoto.push((used.user + used.system) / 1000 / jpegs.length);
    pool.absoluteError = absoluteError;
  }
}

const load = (await readFile('/proc/loadavg', 'utf8').catch(() => '? ? ?')).split(' ').slice(0, 3).join(' ');
console.log(`${jpegs.length} photos of ${dir}, ${rounds} rounds, 1 worker each, load average ${load}`);
console.log(
  'precision  model                                              CPU ms/photo median (min–max)  RSS/worker  MAE',
);
for (const pool of pools) {
  const cpu = pool.cpuMsPerPhoto;
  const range = `${percentile(cpu, 50).toFixed(1)} (${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)})`;
  console.log(
    `${pool.precision.padEnd(10)} ${pool.counter.model.padEnd(50)} ${range.padEnd(30)} ${pool.rssMb.toFixed(0).padStart(6)} MB  ${(pool.absoluteError / jpegs.length).toFixed(3)}`,
  );
  await pool.counter.close();
}

/**
 * The dashboard's "Tune counting" on Mall frames (docs/analytics.md#tuning-from-the-dashboard):
 * 1. `fit DIR [frames=12] [workers=2]`: times fitTuningProfile (the flow's model passes + fit) on
 *    `frames` labelled frames spread over the first 400 of DIR, with a pool of `workers` threads.
 * 2. `compare DETECTIONS.json [frames=12]`: on raw detections saved by
 *    `people-counter calibrate DIR --save-detections` (first 400 frames fitted, the rest held out):
 *    the flow's fit on `frames` of the first 400 vs `calibrate` on all 400, both measured on the
 *    held-out frames and cross-validated.
 */
import { readFile } from 'node:fs/promises';
import { calibrate, thresholdGrid } from '../src/analytics/calibration.js';
import { loadDataset, loadSavedDetections } from '../src/analytics/dataset.js';
import { meanAbsoluteError } from '../src/analytics/evaluation.js';
import { createLocalPeopleCounter } from '../src/analytics/local-counter.js';
import { countDetections } from '../src/analytics/postprocess.js';
import { fitMeasuredFrames, fitTuningProfile } from '../src/analytics/tuning-fit.js';

const FIT_POOL = 400;
/** Every k-th frame of the first 400: photos a camera sends minutes apart, not neighbouring video frames. */
const spread = <T>(items: readonly T[], n: number) =>
  Array.from({ length: n }, (_, i) => items[Math.floor((i * Math.min(FIT_POOL, items.length)) / n)] as T);

const [mode, ...args] = process.argv.slice(2);
if (mode === 'fit') {
  const [dir = '../shared/data/mall-train', frames = '12', workers = '2'] = args;
  const photos = spread(await loadDataset(dir), Number(frames));
  const labelled = await Promise.all(
    photos.map(async (p) => ({ id: p.file, jpeg: await readFile(p.path), truth: p.count })),
  );
  const counter = await createLocalPeopleCounter({ workers: Number(workers) });
  try {
    const t0 = performance.now();
    const report = await fitTuningProfile(counter, labelled);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      JSON.stringify({
        frames: report.frames,
        workers: counter.workers,
        seconds: Math.round(seconds * 10) / 10,
        maeBefore: report.maeBefore,
        maeAfter: report.maeAfter,
        profile: report.profile,
      }),
    );
  } finally {
    await counter.close();
  }
} else if (mode === 'compare') {
  const [detectionsFile = '', frames = '12'] = args;
  const saved = await loadSavedDetections([detectionsFile]);
  const fitPool = saved.frames.slice(0, FIT_POOL);
  const heldOut = saved.frames.slice(FIT_POOL);
  const wholeFrame = saved.tilings.findIndex((t) => 'rows' in t && t.rows * t.cols === 1);
  // The defaults' count from the whole-frame pass (Mall frames are 640×480).
  const before = (frame: (typeof saved.frames)[number]) =>
    countDetections({ detections: frame.detections[wholeFrame] ?? [], width: 640, height: 480 }).count;
  const chosen = spread(fitPool, Number(frames));
  const flow = fitMeasuredFrames(
    chosen.map((f) => ({ truth: f.truth, detections: f.detections, before: before(f) })),
    saved.tilings,
  );
  const all = calibrate({
    tilings: saved.tilings,
    frames: saved.frames,
    split: { kind: 'held-out', frames: heldOut.map((_, i) => FIT_POOL + i) },
    thresholds: thresholdGrid(),
  });
  // The flow's profile on the held-out frames, through the same calibrate (its frames fitted, the rest held out).
  const flowOnHeldOut = calibrate({
    tilings: saved.tilings,
    frames: [...chosen, ...heldOut],
    split: { kind: 'held-out', frames: heldOut.map((_, i) => chosen.length + i) },
    thresholds: thresholdGrid(),
  });
  console.log(
    JSON.stringify(
      {
        tilings: saved.tilings,
        heldOutFrames: heldOut.length,
        defaultsHeldOutMae: meanAbsoluteError(
          heldOut.map((f) => f.truth),
          heldOut.map(before),
        ),
        flow: {
          frames: chosen.length,
          crossValidatedMae: flow.maeAfter,
          heldOutMae: flowOnHeldOut.heldOutMae,
          profile: flow.profile,
        },
        calibrate400: {
          frames: FIT_POOL,
          validationMae: all.validationMae,
          heldOutMae: all.heldOutMae,
          profile: all.profile,
        },
      },
      null,
      2,
    ),
  );
} else {
  console.error('usage: node dist/bench/tuning.js fit [DIR] [frames] [workers] | compare DETECTIONS.json [frames]');
  process.exitCode = 2;
}

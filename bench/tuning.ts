/**
 * The dashboard's "Tune counting" on Mall frames (docs/analytics.md#tuning-from-the-dashboard):
 * 1. `fit DIR [frames=12] [workers=2] [every=4] [skip=0]`: times fitTuningProfile (the flow's model
 *    passes + fit) on `frames` labelled frames spread over the first half of DIR (after its first
 *    `skip` frames), with a pool of `workers` threads, each person marked (the set's head points, as
 *    a user clicks them). Then counts every `every`-th frame of the second half with the defaults and
 *    with the fitted profile: what the dialog's cross-validated claim is worth on frames it never saw
 *    (`every` 0: not measured). `skip 640` keeps to the Mall frames the density network never trained on.
 * 2. `compare DETECTIONS.json[,MORE.json] [frames=12] [DIR] [pool=400]`: on raw detections saved by
 *    `people-counter calibrate DIR --save-detections`, two-fold: the first `pool` frames fitted and the
 *    rest held out, then the other way round. Per fold, the flow's fit on `frames` of the fitted ones,
 *    from marks (DIR's head points, or the top centre of its person boxes, where a user clicks a head)
 *    and from counts alone, against `calibrate` on all of them; all measured on the held-out frames.
 *    The flow is fitted on DRAWS different sets of `frames` (every k-th frame from DRAWS different
 *    starting frames). `crossValidated` averages the two folds.
 */
import { readFile } from 'node:fs/promises';
import { calibrate, thresholdGrid } from '../src/analytics/calibration.js';
import { loadDataset, loadSavedDetections } from '../src/analytics/dataset.js';
import { meanAbsoluteError } from '../src/analytics/evaluation.js';
import { createLocalPeopleCounter } from '../src/analytics/local-counter.js';
import { countDetections } from '../src/analytics/postprocess.js';
import { wholeFrameIndexOf } from '../src/analytics/tiling.js';
import { fitMeasuredFrames, fitTuningProfile } from '../src/analytics/tuning-fit.js';

const FIT_POOL = 400;
const DRAWS = 11;
/** Where in a labelled person box a user clicks the head: the centre, this share of the height down. */
const HEAD_IN_BOX = 0.08;
/**
 * Every k-th frame of the first `pool` from frame `start` on: photos a camera sends minutes apart, not
 * neighbouring video frames.
 */
const spread = <T>(items: readonly T[], n: number, start = 0, pool = FIT_POOL) => {
  const size = Math.min(pool, items.length);
  return Array.from({ length: n }, (_, i) => items[(Math.floor((i * size) / n) + start) % size] as T);
};

const [mode, ...args] = process.argv.slice(2);
if (mode === 'fit') {
  const [dir = '../shared/data/mall-train', frames = '12', workers = '2', every = '4', skip = '0'] = args;
  const dataset = (await loadDataset(dir)).slice(Number(skip));
  const half = Math.floor(dataset.length / 2);
  const photos = spread(dataset, Number(frames), 0, half);
  const labelled = await Promise.all(
    photos.map(async (p) => ({ id: p.file, jpeg: await readFile(p.path), truth: p.count, marks: p.heads ?? null })),
  );
  const counter = await createLocalPeopleCounter({ workers: Number(workers) });
  try {
    const t0 = performance.now();
    const report = await fitTuningProfile(counter, labelled);
    const seconds = (performance.now() - t0) / 1000;
    const heldOut = Number(every) > 0 ? dataset.slice(half).filter((_, i) => i % Number(every) === 0) : [];
    const truth: number[] = [];
    const byDefaults: number[] = [];
    const byFitted: number[] = [];
    for (const photo of heldOut) {
      const jpeg = await readFile(photo.path);
      truth.push(photo.count);
      byDefaults.push((await counter.count(jpeg)).count);
      byFitted.push((await counter.count(jpeg, report.profile)).count);
    }
    const round = (value: number) => Math.round(value * 100) / 100;
    console.log(
      JSON.stringify({
        frames: report.frames,
        workers: counter.workers,
        seconds: Math.round(seconds * 10) / 10,
        counter: report.counter,
        maeBefore: round(report.maeBefore),
        maeAfter: round(report.maeAfter),
        method: report.method,
        profile: report.profile,
        ...(heldOut.length > 0
          ? {
              heldOutFrames: heldOut.length,
              heldOutMaeBefore: round(meanAbsoluteError(truth, byDefaults)),
              heldOutMaeAfter: round(meanAbsoluteError(truth, byFitted)),
            }
          : {}),
      }),
    );
  } finally {
    await counter.close();
  }
} else if (mode === 'compare') {
  const [detectionFiles = '', frames = '12', dir = '../shared/data/mall-train', poolArg = String(FIT_POOL)] = args;
  const pool = Number(poolArg);
  const saved = await loadSavedDetections(detectionFiles.split(','));
  const photos = new Map((await loadDataset(dir)).map((photo) => [photo.file, photo]));
  type SavedFrame = (typeof saved.frames)[number];
  const marksOf = (file: string) => {
    const photo = photos.get(file);
    return (
      photo?.heads ??
      photo?.boxes?.map(([x1, y1, x2, y2]): [number, number] => [(x1 + x2) / 2, y1 + HEAD_IN_BOX * (y2 - y1)]) ??
      null
    );
  };
  const wholeFrame = wholeFrameIndexOf(saved.tilings);
  // The defaults' count from the whole-frame pass (their threshold depends on where a box is in the frame).
  const countOf = (frame: SavedFrame, profile = {}, tiling = wholeFrame) => {
    const { width = 640, height = 480 } = photos.get(frame.file) ?? {};
    const detections = frame.detections[tiling] ?? [];
    // A two-scale profile (tiles + whole frame) also counts the whole-frame pass.
    return countDetections({ detections, width, height, wholeFrame: frame.detections[wholeFrame] ?? [] }, profile)
      .count;
  };
  const tilingIndexOf = (profile: { tiling?: unknown }) =>
    profile.tiling === undefined
      ? wholeFrame
      : saved.tilings.findIndex((t) => JSON.stringify(t) === JSON.stringify(profile.tiling));
  const summary = (values: number[]) => ({
    mean: Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 1000) / 1000,
    min: Math.min(...values),
    max: Math.max(...values),
  });

  /** Fits on `fitPool` (the flow on DRAWS sets of `frames` of it, `calibrate` on all of it), measures on `heldOut`. */
  const compareOn = (fitPool: readonly SavedFrame[], heldOut: readonly SavedFrame[]) => {
    const heldOutSplit = (fitted: number) => ({ kind: 'held-out' as const, frames: heldOut.map((_, i) => fitted + i) });
    const heldOutMae = (count: (frame: SavedFrame) => number) =>
      meanAbsoluteError(
        heldOut.map((f) => f.truth),
        heldOut.map(count),
      );
    const size = fitPool.length;
    const draws = Array.from({ length: DRAWS }, (_, draw) => {
      const chosen = spread(
        fitPool,
        Number(frames),
        draw * Math.max(1, Math.floor(size / Number(frames) / DRAWS)),
        size,
      );
      const measured = (withMarks: boolean) =>
        chosen.map((f) => ({
          truth: f.truth,
          marks: withMarks ? marksOf(f.file) : null,
          detections: f.detections,
          before: countOf(f),
        }));
      const byMarks = fitMeasuredFrames(measured(true), saved.tilings);
      const byCounts = fitMeasuredFrames(measured(false), saved.tilings);
      // The count-only profile on the held-out frames, through the same calibrate (its frames fitted, the rest held out).
      const countsHeldOut = calibrate({
        tilings: saved.tilings,
        frames: [...chosen, ...heldOut],
        split: heldOutSplit(chosen.length),
        thresholds: thresholdGrid(),
      }).heldOutMae;
      return {
        files: chosen.map((f) => f.file),
        marks: {
          method: byMarks.method,
          crossValidatedMae: byMarks.maeAfter,
          heldOutMae: heldOutMae((f) => countOf(f, byMarks.profile, tilingIndexOf(byMarks.profile))),
          profile: byMarks.profile,
        },
        counts: { crossValidatedMae: byCounts.maeAfter, heldOutMae: countsHeldOut },
      };
    });
    const all = calibrate({
      tilings: saved.tilings,
      frames: [...fitPool, ...heldOut],
      split: heldOutSplit(fitPool.length),
      thresholds: thresholdGrid(),
    });
    return {
      fitted: `${fitPool[0]?.file} … ${fitPool.at(-1)?.file}`,
      heldOut: `${heldOut[0]?.file} … ${heldOut.at(-1)?.file}`,
      defaultsHeldOutMae: heldOutMae((f) => countOf(f)),
      flowByMarksHeldOutMae: summary(draws.map((d) => d.marks.heldOutMae)),
      flowByCountsHeldOutMae: summary(draws.map((d) => d.counts.heldOutMae)),
      calibratePool: {
        frames: fitPool.length,
        validationMae: all.validationMae,
        heldOutMae: all.heldOutMae,
        profile: all.profile,
      },
      perDraw: draws,
    };
  };

  // Two-fold cross-validation: the first `pool` frames fitted and the rest held out, then the other way round.
  const first = saved.frames.slice(0, pool);
  const rest = saved.frames.slice(pool);
  const folds = [compareOn(first, rest), compareOn(rest, first)];
  const mean = (pick: (fold: (typeof folds)[number]) => number) =>
    Math.round((folds.reduce((sum, fold) => sum + pick(fold), 0) / folds.length) * 1000) / 1000;
  const flowByMarks = mean((f) => f.flowByMarksHeldOutMae.mean);
  const calibrated = mean((f) => f.calibratePool.heldOutMae);
  console.log(
    JSON.stringify(
      {
        tilings: saved.tilings,
        flowFrames: Number(frames),
        draws: DRAWS,
        crossValidated: {
          flowByMarks,
          flowByCounts: mean((f) => f.flowByCountsHeldOutMae.mean),
          calibrate: calibrated,
          defaults: mean((f) => f.defaultsHeldOutMae),
          flowByMarksAboveCalibrate: Math.round((flowByMarks / calibrated - 1) * 1000) / 1000,
        },
        folds,
      },
      null,
      2,
    ),
  );
} else {
  console.error(
    'usage: node dist/bench/tuning.js fit [DIR] [frames] [workers] | compare DETECTIONS.json[,MORE.json] [frames] [DIR] [pool]',
  );
  process.exitCode = 2;
}

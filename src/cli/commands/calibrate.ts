import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import {
  COUNTING_MODES,
  type CountingMode,
  calibrate,
  DEFAULT_CALIBRATION_TILINGS,
  type FitSplit,
  parseTilingList,
  thresholdGrid,
} from '../../analytics/calibration.js';
import { type LabelledPhoto, loadDataset, loadSavedDetections, type SavedDetections } from '../../analytics/dataset.js';
import { MIN_RAW_SCORE } from '../../analytics/detector.js';
import { createLocalPeopleCounter } from '../../analytics/local-counter.js';
import { detectDataset } from '../../analytics/run-dataset.js';
import { type Tiling, tileCount, tilingLabel } from '../../analytics/tiling.js';
import type { Detection } from '../../core/messages.js';
import { tilingSchema } from '../../core/people-counter.js';
import { argParser, intArg, numberArg, option, parseOptions } from '../options.js';
import { progressBar } from '../progress.js';
import { addWorkerOptions, type WorkerOptions, workerConfig, workerOptionsShape } from './analytics-options.js';

const tilingsArg = argParser(parseTilingList);

const DEFAULT_TILINGS = DEFAULT_CALIBRATION_TILINGS.map((tiling) =>
  tileCount(tiling) === 1 ? '1x1' : tilingLabel(tiling),
).join(',');

function modesArg(value: string): CountingMode[] {
  const modes = value.split(',').map((m) => m.trim());
  for (const mode of modes)
    if (!(COUNTING_MODES as readonly string[]).includes(mode))
      throw new InvalidArgumentError(`"${mode}" is not a counting mode (${COUNTING_MODES.join(', ')})`);
  return modes as CountingMode[];
}

export function calibrateCommand(): Command {
  const command = new Command('calibrate')
    .description(
      'fit tiling, counting mode, score threshold and correction for one camera on part of its labelled frames; report MAE on the other frames',
    )
    .argument('<dataset-dir>', 'folder with JPEGs of one camera and labels.json')
    .addOption(option('--out <file>', 'where to write the camera profile JSON').makeOptionMandatory())
    .addOption(
      option('--fit-fraction <f>', 'share of frames to fit on; the rest is held out')
        .argParser(numberArg(0.05, 0.95))
        .default(0.5),
    )
    .addOption(
      option(
        '--split <kind>',
        'which frames are fitted: "first" (the first frames in label order) or "blocks" (alternating blocks of --block-size frames)',
      )
        .choices(['first', 'blocks'])
        .default('first'),
    )
    .addOption(
      option('--block-size <n>', 'frames per block for --split blocks (neighbouring frames are near-duplicates)')
        .argParser(intArg(1))
        .default(20),
    )
    .addOption(
      option('--tilings <list>', 'candidate tilings ROWSxCOLS[@OVERLAP] or bands END×COLS/…/1xCOLS[@OVERLAP]')
        .argParser(tilingsArg)
        .default(tilingsArg(DEFAULT_TILINGS), DEFAULT_TILINGS),
    )
    .addOption(
      option('--modes <list>', `counting modes to try (${COUNTING_MODES.join(', ')})`)
        .argParser(modesArg)
        .default([...COUNTING_MODES], COUNTING_MODES.join(',')),
    )
    .addOption(option('--limit <n>', 'use only the first n frames').argParser(intArg(2)))
    .option('--flip', 'run every tiling with test-time horizontal flip (2× compute) and keep it in the profile')
    .addOption(
      option('--save-detections <file>', 'also write the raw scored detections of every frame and tiling (JSON)'),
    )
    .addOption(
      option(
        '--detections <file>',
        'calibrate on raw detections saved by --save-detections instead of running the model (repeatable: files are joined per frame, their tilings added up; --tilings is then ignored)',
      ).argParser((value: string, previous: string[] = []) => [...previous, value]),
    )
    .option('--json', 'print the result as JSON');
  addWorkerOptions(command);
  return command.action(async (dir: string, raw: unknown) => {
    const options = parseOptions(
      z.object({
        out: z.string(),
        fitFraction: z.number(),
        split: z.enum(['first', 'blocks']),
        blockSize: z.number(),
        tilings: z.array(tilingSchema),
        modes: z.array(z.enum(COUNTING_MODES)),
        limit: z.number().optional(),
        json: z.boolean().optional(),
        flip: z.boolean().optional(),
        saveDetections: z.string().optional(),
        detections: z.union([z.array(z.string()), z.string().transform((file) => [file])]).optional(),
        ...workerOptionsShape,
      }),
      raw,
    );
    const photos = await loadDataset(dir, options.limit);
    const saved = options.detections
      ? await fromSavedDetections(options.detections, photos)
      : await runModel(photos, options.tilings, options);
    if (options.saveDetections) await writeFile(options.saveDetections, JSON.stringify(saved));
    const split: FitSplit =
      options.split === 'first'
        ? { kind: 'first', fitFraction: options.fitFraction }
        : { kind: 'blocks', fitFraction: options.fitFraction, blockSize: options.blockSize };
    const result = calibrate({
      tilings: saved.tilings,
      frames: saved.frames,
      split,
      modes: options.modes,
      thresholds: thresholdGrid(),
    });
    if (options.flip) result.profile = { flip: true, ...result.profile };
    await writeFile(options.out, `${JSON.stringify(result.profile, null, 2)}\n`);
    if (options.json) {
      console.log(JSON.stringify({ out: options.out, split, ...result }));
      return;
    }
    for (const o of result.perOption) {
      const correction = o.correction
        ? ` ×${o.correction.scale} ${o.correction.offset >= 0 ? '+' : ''}${o.correction.offset}`
        : '';
      console.log(
        `${`${tilingLabel(o.tiling)}${o.wholeFrame ? ' + 1x1' : ''}`.padEnd(22)} ${o.mode.padEnd(10)} threshold ${o.scoreThreshold.toFixed(3)}${correction.padEnd(20)} fit MAE ${o.fitMae.toFixed(3)}, validation MAE ${o.validationMae.toFixed(3)}, held-out MAE ${o.heldOutMae.toFixed(3)}`,
      );
    }
    console.log(
      split.kind === 'first'
        ? `fit on frames 1–${result.fitFrames}, held out frames ${result.fitFrames + 1}–${result.fitFrames + result.heldOutFrames}`
        : `fit on ${result.fitFrames} frames, held out ${result.heldOutFrames} frames (alternating blocks of ${split.blockSize})`,
    );
    console.log(`profile      ${JSON.stringify(result.profile)} → ${options.out}`);
    console.log(`fit MAE      ${result.fitMae.toFixed(3)} (not a quality measure: fitted on these frames)`);
    console.log(
      `validation   ${result.validationMae.toFixed(3)} (cross-validated within the fit frames; chose the option)`,
    );
    console.log(
      `held-out MAE ${result.heldOutMae.toFixed(3)} on ${result.heldOutFrames} frames never used for fitting`,
    );
  });
}

/** The model runs once per tiling, keeping everything down to MIN_RAW_SCORE; the sweep is then in memory. */
async function runModel(
  photos: readonly LabelledPhoto[],
  tilings: readonly Tiling[],
  options: WorkerOptions & { flip?: boolean | undefined },
): Promise<SavedDetections> {
  const counter = await createLocalPeopleCounter(workerConfig(options));
  const detections: Detection[][][] = photos.map(() => []);
  try {
    for (const tiling of tilings) {
      const bar = progressBar(
        photos.length,
        `tiling ${tilingLabel(tiling)} (${tileCount(tiling)} model runs per photo)`,
      );
      const { results } = await detectDataset(
        counter,
        photos,
        { tiling, minScore: MIN_RAW_SCORE, flip: options.flip ?? false },
        bar.update,
      );
      bar.finish();
      for (const [i, r] of results.entries()) detections[i]?.push(r.detections);
    }
  } finally {
    await counter.close();
  }
  return {
    tilings: [...tilings],
    frames: photos.map((photo, i) => ({ file: photo.file, truth: photo.count, detections: detections[i] ?? [] })),
  };
}

/** Saved detections of the photos in `dir` (and its --limit), with today's labels. */
async function fromSavedDetections(
  files: readonly string[],
  photos: readonly LabelledPhoto[],
): Promise<SavedDetections> {
  const saved = await loadSavedDetections(files);
  const byFile = new Map(saved.frames.map((frame) => [frame.file, frame]));
  const missing = photos.filter((photo) => !byFile.has(photo.file));
  if (missing.length > 0)
    throw new Error(
      `${missing.length} photos have no saved detections (first: ${missing[0]?.file}); run without --detections`,
    );
  return {
    tilings: saved.tilings,
    frames: photos.map((photo) => ({
      file: photo.file,
      truth: photo.count,
      detections: byFile.get(photo.file)?.detections ?? [],
    })),
  };
}

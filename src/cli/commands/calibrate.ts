import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { calibrate, thresholdGrid } from '../../analytics/calibration.js';
import { loadDataset } from '../../analytics/dataset.js';
import { MIN_RAW_SCORE } from '../../analytics/detector.js';
import { createLocalPeopleCounter } from '../../analytics/local-counter.js';
import { detectDataset } from '../../analytics/run-dataset.js';
import type { Tiling } from '../../analytics/tiling.js';
import { intArg, numberArg, option, parseOptions } from '../options.js';
import { progressBar } from '../progress.js';
import { addWorkerOptions, workerConfig } from './analytics-options.js';

/** `1x1,2x2@0.2,3x2@0.25` → tilings (rows × cols @ overlap; overlap defaults to 0.2). */
export function tilingsArg(value: string): Tiling[] {
  return value.split(',').map((part) => {
    const match = /^(\d)x(\d)(?:@(0(?:\.\d+)?))?$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError(`"${part}" is not ROWSxCOLS[@OVERLAP], e.g. 2x2@0.2`);
    const rows = Number(match[1]);
    const cols = Number(match[2]);
    const overlap = rows * cols === 1 ? 0 : Number(match[3] ?? 0.2);
    if (rows < 1 || cols < 1 || overlap > 0.5)
      throw new InvalidArgumentError(`"${part}": rows/cols 1–8, overlap ≤ 0.5`);
    return { rows, cols, overlap };
  });
}

export function calibrateCommand(): Command {
  const command = new Command('calibrate')
    .description(
      'fit score threshold, tiling and a linear correction for one camera on the first part of its labelled frames; report MAE on the rest',
    )
    .argument('<dataset-dir>', 'folder with JPEGs of one camera and labels.json')
    .addOption(option('--out <file>', 'where to write the camera profile JSON').makeOptionMandatory())
    .addOption(
      option('--fit-fraction <f>', 'share of frames (first, in label order) to fit on; the rest is held out')
        .argParser(numberArg(0.05, 0.95))
        .default(0.5),
    )
    .addOption(
      option('--tilings <list>', 'candidate tilings ROWSxCOLS[@OVERLAP]')
        .argParser(tilingsArg)
        .default(tilingsArg('1x1,2x2@0.2'), '1x1,2x2@0.2'),
    )
    .addOption(option('--limit <n>', 'use only the first n frames').argParser(intArg(2)))
    .option('--flip', 'run every tiling with test-time horizontal flip (2× compute) and keep it in the profile')
    .addOption(
      option('--save-detections <file>', 'also write the raw scored detections of every frame and tiling (JSON)'),
    )
    .option('--json', 'print the result as JSON');
  addWorkerOptions(command);
  return command.action(async (dir: string, raw: unknown) => {
    const options = parseOptions(
      z.object({
        out: z.string(),
        fitFraction: z.number(),
        tilings: z.array(z.object({ rows: z.number(), cols: z.number(), overlap: z.number() })),
        limit: z.number().optional(),
        json: z.boolean().optional(),
        flip: z.boolean().optional(),
        saveDetections: z.string().optional(),
        workers: z.number().optional(),
        queueLimit: z.number().optional(),
      }),
      raw,
    );
    const photos = await loadDataset(dir, options.limit);
    const counter = await createLocalPeopleCounter(workerConfig(options));
    const detections: Array<Array<Awaited<ReturnType<typeof detectDataset>>['results'][number]['detections']>> =
      photos.map(() => []);
    try {
      // The model runs once per tiling; thresholds and corrections are then swept in memory.
      for (const tiling of options.tilings) {
        const bar = progressBar(photos.length, `tiling ${tiling.rows}x${tiling.cols}@${tiling.overlap}`);
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
    if (options.saveDetections) {
      const frames = photos.map((photo, i) => ({ file: photo.file, truth: photo.count, detections: detections[i] }));
      await writeFile(options.saveDetections, JSON.stringify({ tilings: options.tilings, frames }));
    }
    const result = calibrate({
      tilings: options.tilings,
      frames: photos.map((photo, i) => ({ truth: photo.count, detections: detections[i] ?? [] })),
      fitFraction: options.fitFraction,
      thresholds: thresholdGrid(),
    });
    if (options.flip) result.profile = { flip: true, ...result.profile };
    await writeFile(options.out, `${JSON.stringify(result.profile, null, 2)}\n`);
    if (options.json) {
      console.log(JSON.stringify({ out: options.out, ...result }));
      return;
    }
    for (const t of result.perTiling) {
      console.log(
        `tiling ${t.tiling.rows}x${t.tiling.cols}@${t.tiling.overlap}: best threshold ${t.scoreThreshold}, fit MAE ${t.fitMae.toFixed(3)}, held-out MAE ${t.heldOutMae.toFixed(3)}`,
      );
    }
    console.log(
      `fit on frames 1–${result.fitFrames}, held out frames ${result.fitFrames + 1}–${result.fitFrames + result.heldOutFrames}`,
    );
    console.log(`profile      ${JSON.stringify(result.profile)} → ${options.out}`);
    console.log(`fit MAE      ${result.fitMae.toFixed(3)} (not a quality measure: fitted on these frames)`);
    console.log(
      `held-out MAE ${result.heldOutMae.toFixed(3)} on ${result.heldOutFrames} frames never used for fitting`,
    );
  });
}

import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { loadDataset } from '../../analytics/dataset.js';
import { MIN_RAW_SCORE } from '../../analytics/detector.js';
import { meanAbsoluteError } from '../../analytics/evaluation.js';
import { createLocalPeopleCounter } from '../../analytics/local-counter.js';
import { detectDataset } from '../../analytics/run-dataset.js';
import {
  countAbove,
  crossValidatedMae,
  fitThresholdShift,
  labelledSamples,
  type SampledPhoto,
  unfittableReason,
} from '../../analytics/threshold-shift.js';
import { SINGLE_TILE } from '../../analytics/tiling.js';
import { ConfigError } from '../../core/config.js';
import type { CameraProfile } from '../../core/people-counter.js';
import { intArg, option, parseOptions } from '../options.js';
import { progressBar } from '../progress.js';
import { addWorkerOptions, workerConfig, workerOptionsShape } from './analytics-options.js';

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

export function fitThresholdCommand(): Command {
  const command = new Command('fit-threshold')
    .description(
      'fit a size- and edge-aware score threshold on photos with labelled person boxes (whole frame); report its cross-validated MAE',
    )
    .argument('<dataset-dir>', 'folder with JPEGs and labels.json whose images carry `boxes`')
    .addOption(option('--out <file>', 'also write the threshold as a camera profile JSON'))
    .addOption(option('--limit <n>', 'use only the first n photos').argParser(intArg(4)))
    .option('--json', 'print the result as JSON');
  addWorkerOptions(command);
  return command.action(async (dir: string, raw: unknown) => {
    const options = parseOptions(
      z.object({
        out: z.string().optional(),
        limit: z.number().optional(),
        json: z.boolean().optional(),
        ...workerOptionsShape,
      }),
      raw,
    );
    const photos = await loadDataset(dir, options.limit);
    const unboxed = photos.filter((photo) => !photo.boxes);
    if (unboxed.length > 0)
      throw new ConfigError(
        `${unboxed.length} photos in ${dir}/labels.json have no "boxes" (first: ${unboxed[0]?.file})`,
      );
    if (photos.length < 4) throw new ConfigError('fitting needs at least 4 labelled photos');

    const counter = await createLocalPeopleCounter(workerConfig(options));
    const bar = progressBar(photos.length, 'detect');
    let sampled: SampledPhoto[];
    try {
      const { results } = await detectDataset(
        counter,
        photos,
        { tiling: SINGLE_TILE, minScore: MIN_RAW_SCORE },
        bar.update,
      );
      bar.finish();
      sampled = results.map((r) => ({
        truth: r.photo.count,
        samples: labelledSamples(r.detections, r.photo.boxes ?? [], r),
      }));
    } finally {
      await counter.close();
    }

    const samples = sampled.flatMap((photo) => photo.samples);
    const unfittable = unfittableReason(samples);
    if (unfittable) throw new ConfigError(unfittable);
    const fitted = fitThresholdShift(samples);
    const profile: CameraProfile = {
      scoreThreshold: round4(fitted.scoreThreshold),
      thresholdShift: {
        perHalvingHeight: round4(fitted.shift.perHalvingHeight),
        atFrameEdge: round4(fitted.shift.atFrameEdge),
      },
    };
    const half = Math.ceil(sampled.length / 2);
    const indices = [...sampled.keys()];
    const result = {
      n: sampled.length,
      profile,
      fitMae: meanAbsoluteError(
        sampled.map((photo) => photo.truth),
        sampled.map((photo) => countAbove(photo.samples, fitted)),
      ),
      leaveOneOutMae: crossValidatedMae(
        sampled,
        indices.map((i) => [i]),
      ),
      halvesMae: crossValidatedMae(sampled, [indices.slice(0, half), indices.slice(half)]),
    };
    if (options.out) await writeFile(options.out, `${JSON.stringify(profile, null, 2)}\n`);
    if (options.json) {
      console.log(JSON.stringify({ ...result, ...(options.out ? { out: options.out } : {}) }));
      return;
    }
    console.log(`n              ${result.n} photos`);
    console.log(`profile        ${JSON.stringify(profile)}${options.out ? ` → ${options.out}` : ''}`);
    console.log(`fit MAE        ${result.fitMae.toFixed(3)} (not a quality measure: fitted on these photos)`);
    console.log(`leave-one-out  ${result.leaveOneOutMae.toFixed(3)} (each photo counted with a fit on all the others)`);
    console.log(
      `halves         ${result.halvesMae.toFixed(3)} (first half counted with a fit on the second, and back)`,
    );
  });
}

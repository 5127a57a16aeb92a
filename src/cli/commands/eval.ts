import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { loadDataset, loadProfile } from '../../analytics/dataset.js';
import { decisionMix, type Sample, summarise } from '../../analytics/evaluation.js';
import { createLocalPeopleCounter } from '../../analytics/local-counter.js';
import { forEachKeepingWorkersBusy } from '../../analytics/run-dataset.js';
import type { CameraProfile, CountDecision } from '../../core/people-counter.js';
import { intArg, option, parseOptions } from '../options.js';
import { progressBar } from '../progress.js';
import { addWorkerOptions, workerConfig, workerOptionsShape } from './analytics-options.js';

export function evalCommand(): Command {
  const command = new Command('eval')
    .description('measure accuracy and speed on a folder of labelled photos (labels.json)')
    .argument('<dataset-dir>', 'folder with JPEGs and labels.json')
    .option('--json', 'print one JSON object with the summary')
    .addOption(option('--profile <file>', 'camera profile JSON (from `calibrate`)'))
    .addOption(option('--limit <n>', 'use only the first n photos (after --skip)').argParser(intArg(1)))
    .addOption(
      option('--skip <n>', 'leave out the first n photos, e.g. the frames a profile was fitted on').argParser(
        intArg(0),
      ),
    );
  addWorkerOptions(command);
  return command.action(async (dir: string, raw: unknown) => {
    const options = parseOptions(
      z.object({
        json: z.boolean().optional(),
        profile: z.string().optional(),
        limit: z.number().optional(),
        skip: z.number().optional(),
        ...workerOptionsShape,
      }),
      raw,
    );
    const profile: CameraProfile = options.profile ? await loadProfile(options.profile) : {};
    const photos = await loadDataset(dir, options.limit, options.skip);
    const counter = await createLocalPeopleCounter(workerConfig(options));
    const bar = progressBar(photos.length, 'eval');
    try {
      const samples: Sample[] = [];
      const decisions: CountDecision[] = [];
      const started = performance.now();
      await forEachKeepingWorkersBusy(counter, photos, async (photo) => {
        const result = await counter.count(await readFile(photo.path), profile);
        samples.push({ truth: photo.count, predicted: result.count, ms: result.ms });
        decisions.push(result);
        bar.update(samples.length);
      });
      bar.finish();
      const summary = {
        ...summarise(samples, performance.now() - started),
        ...decisionMix(decisions),
        workers: counter.workers,
        backend: counter.backend,
        model: counter.model,
        profile,
      };
      if (options.json) console.log(JSON.stringify(summary));
      else {
        const f = (x: number, d = 2) => x.toFixed(d);
        console.log(`model        ${summary.model} on ${summary.backend}, ${summary.workers} worker(s)`);
        console.log(`profile      ${JSON.stringify(profile)}`);
        console.log(`n            ${summary.n}`);
        console.log(`MAE          ${f(summary.mae, 3)}`);
        console.log(`RMSE         ${f(summary.rmse, 3)}`);
        console.log(`mean bias    ${f(summary.bias, 3)}`);
        console.log(`exact        ${f(summary.exactRate * 100, 1)} %`);
        console.log(`ms/photo     median ${f(summary.msMedian, 0)}, p90 ${f(summary.msP90, 0)}`);
        console.log(`photos/s     ${f(summary.photosPerSecond)}`);
        const mix = Object.entries(summary.regimes).map(([regime, n]) => `${regime} ${n}`);
        console.log(`regimes      ${mix.join(', ')}`);
        console.log(
          `passes/photo mean ${f(summary.passesMean)}, one pass for ${f(summary.onePassRate * 100, 1)} % of the photos`,
        );
        console.log(
          `hints        ${
            Object.entries(summary.hints)
              .map(([hint, n]) => `${hint} ${n}`)
              .join(', ') || 'none'
          }`,
        );
      }
    } finally {
      await counter.close();
    }
  });
}

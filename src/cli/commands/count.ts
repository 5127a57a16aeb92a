import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { annotate } from '../../analytics/annotate.js';
import { loadProfile } from '../../analytics/dataset.js';
import { createPeopleCounter } from '../../analytics/factory.js';
import { ANALYTICS_API_KEY_ENV } from '../../analytics/http-counter.js';
import { forEachConcurrently } from '../../core/concurrently.js';
import { readSecret } from '../../core/config.js';
import type { CameraProfile, CountDecision } from '../../core/people-counter.js';
import { option, parseOptions } from '../options.js';
import { addWorkerOptions, workerConfig, workerOptionsShape } from './analytics-options.js';

export function countCommand(): Command {
  const command = new Command('count')
    .description('count the people in photos with the model (in this process, or via --analytics-url)')
    .argument('<photos...>', 'JPEG files')
    .option('--json', 'print one JSON object per photo')
    .addOption(option('--annotate <dir>', 'write a copy of each photo with the counted boxes drawn into this folder'))
    .addOption(option('--profile <file>', 'camera profile JSON (from `calibrate`)'))
    .addOption(
      option(
        '--analytics-url <url>',
        `count with a remote analytics service instead of in-process (key from ${ANALYTICS_API_KEY_ENV} or ${ANALYTICS_API_KEY_ENV}_FILE)`,
      ),
    );
  addWorkerOptions(command);
  return command.action(async (photos: string[], raw: unknown) => {
    const options = parseOptions(
      z.object({
        json: z.boolean().optional(),
        annotate: z.string().optional(),
        profile: z.string().optional(),
        analyticsUrl: z.url().optional(),
        ...workerOptionsShape,
      }),
      raw,
    );
    const profile: CameraProfile = options.profile ? await loadProfile(options.profile) : {};
    const apiKey = readSecret(process.env, ANALYTICS_API_KEY_ENV);
    const workers = options.workers ?? Math.min(availableParallelism(), photos.length);
    const counter = await createPeopleCounter(
      options.analyticsUrl
        ? { kind: 'http', url: options.analyticsUrl, ...(apiKey ? { apiKey } : {}) }
        : { kind: 'local', ...workerConfig({ ...options, workers }) },
    );
    if (options.annotate) await mkdir(options.annotate, { recursive: true });
    let failures = 0;
    // Lines come out in the order the photos were given, each as soon as its predecessors are out.
    const report: Array<(() => void) | undefined> = new Array(photos.length);
    let reported = 0;
    const flush = () => {
      for (let line = report[reported]; line !== undefined; line = report[reported]) {
        line();
        reported++;
      }
    };
    try {
      // Two photos in flight per worker keep every worker busy without overrunning the model's queue.
      const lanes = options.analyticsUrl ? 4 : 2 * workers;
      await forEachConcurrently([...photos.keys()], lanes, async (index) => {
        const photo = photos[index] as string;
        try {
          const jpeg = await readFile(photo);
          const result = await counter.count(jpeg, profile);
          if (options.annotate) {
            await writeFile(
              join(options.annotate, basename(photo)),
              await annotate(jpeg, result.detections, result.count),
            );
          }
          report[index] = () =>
            console.log(
              options.json
                ? JSON.stringify({ photo, ...result })
                : `${photo}\t${result.count}\t(${[`${Math.round(result.ms)} ms`, ...decisionNotes(result)].join(', ')})`,
            );
        } catch (error) {
          failures++;
          const message = `${(error as Error).name}: ${(error as Error).message}`;
          report[index] = () =>
            options.json
              ? console.log(JSON.stringify({ photo, error: message }))
              : console.error(`${photo}\t${message}`);
        }
        flush();
      });
    } finally {
      await counter.close();
    }
    if (failures > 0) process.exitCode = 1;
  });
}

/** `zoom 3x3@0.25, 10 passes, hint crowd-view`: how the count was made, where the counter says. */
function decisionNotes({ regime, tiling, passes, hints }: CountDecision): string[] {
  return [
    ...(regime ? [`${regime}${tiling ? ` ${tiling}` : ''}`] : []),
    ...(passes ? [`${passes} pass${passes === 1 ? '' : 'es'}`] : []),
    ...(hints ?? []).map((hint) => `hint ${hint}`),
  ];
}

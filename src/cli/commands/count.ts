import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { annotate } from '../../analytics/annotate.js';
import { loadProfile } from '../../analytics/dataset.js';
import { createPeopleCounter } from '../../analytics/factory.js';
import type { CameraProfile } from '../../analytics/people-counter.js';
import { ENV_PREFIX, option, parseOptions } from '../options.js';
import { addWorkerOptions, workerConfig } from './analytics-options.js';

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
        `count with a remote analytics service instead of in-process (key from ${ENV_PREFIX}ANALYTICS_API_KEY)`,
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
        workers: z.number().optional(),
        queueLimit: z.number().optional(),
      }),
      raw,
    );
    const profile: CameraProfile = options.profile ? await loadProfile(options.profile) : {};
    const apiKey = process.env[`${ENV_PREFIX}ANALYTICS_API_KEY`];
    const counter = await createPeopleCounter(
      options.analyticsUrl
        ? { kind: 'http', url: options.analyticsUrl, ...(apiKey ? { apiKey } : {}) }
        : {
            kind: 'local',
            ...workerConfig({
              ...options,
              workers: options.workers ?? Math.min(availableParallelism(), photos.length),
            }),
          },
    );
    if (options.annotate) await mkdir(options.annotate, { recursive: true });
    let failures = 0;
    try {
      await Promise.all(
        photos.map(async (photo) => {
          try {
            const jpeg = await readFile(photo);
            const result = await counter.count(jpeg, profile);
            if (options.json) console.log(JSON.stringify({ photo, ...result }));
            else console.log(`${photo}\t${result.count}\t(${Math.round(result.ms)} ms)`);
            if (options.annotate) {
              await writeFile(
                join(options.annotate, basename(photo)),
                await annotate(jpeg, result.detections, result.count),
              );
            }
          } catch (error) {
            failures++;
            const message = `${(error as Error).name}: ${(error as Error).message}`;
            if (options.json) console.log(JSON.stringify({ photo, error: message }));
            else console.error(`${photo}\t${message}`);
          }
        }),
      );
    } finally {
      await counter.close();
    }
    if (failures > 0) process.exitCode = 1;
  });
}

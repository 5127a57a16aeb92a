/** Runs a labelled photo set through the local pool, keeping every worker busy. */
import { readFile } from 'node:fs/promises';
import { forEachConcurrently } from '../core/concurrently.js';
import type { LabelledPhoto } from './dataset.js';
import type { DetectOptions } from './detector.js';
import type { LocalPeopleCounter, RawDetections } from './local-counter.js';

export interface PhotoDetections extends RawDetections {
  photo: LabelledPhoto;
}

/** Two photos in flight per worker: the next one is decoded and queued while the current one runs. */
export const PHOTOS_IN_FLIGHT_PER_WORKER = 2;

/** Runs `task` over `items` with as many at once as keep every worker of `counter` busy. */
export function forEachKeepingWorkersBusy<T>(
  counter: Pick<LocalPeopleCounter, 'workers'>,
  items: readonly T[],
  task: (item: T) => Promise<void>,
): Promise<void> {
  return forEachConcurrently(items, counter.workers * PHOTOS_IN_FLIGHT_PER_WORKER, task);
}

export async function detectDataset(
  counter: LocalPeopleCounter,
  photos: readonly LabelledPhoto[],
  options: DetectOptions,
  onProgress: (done: number) => void = () => undefined,
): Promise<{ results: PhotoDetections[]; wallMs: number }> {
  const results: PhotoDetections[] = new Array(photos.length);
  const started = performance.now();
  let done = 0;
  await forEachKeepingWorkersBusy(counter, [...photos.keys()], async (index) => {
    const photo = photos[index] as LabelledPhoto;
    const raw = await counter.detect(await readFile(photo.path), options);
    results[index] = { photo, ...raw };
    onProgress(++done);
  });
  return { results, wallMs: performance.now() - started };
}

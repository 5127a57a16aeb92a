/** Labelled photo folders (`labels.json`) and profile files, validated on load. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type CameraProfile, cameraProfileSchema } from './people-counter.js';

const labelsSchema = z.object({
  images: z.array(
    z.looseObject({
      file: z.string().min(1),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      count: z.number().int().nonnegative(),
    }),
  ),
});

export interface LabelledPhoto {
  file: string;
  path: string;
  count: number;
}

/** Photos in label order; `skip` leaves out the first ones (e.g. the frames a profile was fitted on). */
export async function loadDataset(dir: string, limit?: number, skip = 0): Promise<LabelledPhoto[]> {
  const parsed = labelsSchema.safeParse(JSON.parse(await readFile(join(dir, 'labels.json'), 'utf8')));
  if (!parsed.success) throw new Error(`${join(dir, 'labels.json')}: ${z.prettifyError(parsed.error)}`);
  const photos = parsed.data.images.map((image) => ({
    file: image.file,
    path: join(dir, image.file),
    count: image.count,
  }));
  return photos.slice(skip, limit !== undefined ? skip + limit : undefined);
}

export async function loadProfile(file: string): Promise<CameraProfile> {
  const parsed = cameraProfileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: not a camera profile: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

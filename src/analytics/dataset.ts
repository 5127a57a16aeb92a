/** Labelled photo folders (`labels.json`), profile files and saved raw detections, validated on load. */
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, readJsonFile } from '../core/config.js';
import { detectionSchema } from '../core/messages.js';
import { type CameraProfile, cameraProfileSchema, tilingSchema } from '../core/people-counter.js';
import type { Box } from './nms.js';

const labelsSchema = z.object({
  images: z.array(
    z.looseObject({
      file: z.string().min(1),
      // The shared sets carry the size; counting needs only the file and its count.
      width: z.number().int().positive().optional(),
      height: z.number().int().positive().optional(),
      count: z.number().int().nonnegative(),
      // Person boxes [x1, y1, x2, y2] in image pixels, where the set has them (`fit-threshold` needs them).
      boxes: z.array(z.tuple([z.number(), z.number(), z.number(), z.number()])).optional(),
      // One [x, y] per person's head, where the set marks heads instead of boxes (the tuning flow's marks).
      heads: z.array(z.tuple([z.number(), z.number()])).optional(),
    }),
  ),
});

export interface LabelledPhoto {
  file: string;
  path: string;
  count: number;
  width?: number;
  height?: number;
  boxes?: Box[];
  heads?: Array<[number, number]>;
}

/** Photos in label order; `skip` leaves out the first ones (e.g. the frames a profile was fitted on). */
export async function loadDataset(dir: string, limit?: number, skip = 0): Promise<LabelledPhoto[]> {
  const file = join(dir, 'labels.json');
  const parsed = labelsSchema.safeParse(readJsonFile(file));
  if (!parsed.success) throw new ConfigError(`${file}: ${z.prettifyError(parsed.error)}`);
  const photos = parsed.data.images.map((image) => ({
    file: image.file,
    path: join(dir, image.file),
    count: image.count,
    ...(image.width && image.height ? { width: image.width, height: image.height } : {}),
    ...(image.boxes ? { boxes: image.boxes } : {}),
    ...(image.heads ? { heads: image.heads } : {}),
  }));
  return photos.slice(skip, limit !== undefined ? skip + limit : undefined);
}

export async function loadProfile(file: string): Promise<CameraProfile> {
  const parsed = cameraProfileSchema.safeParse(readJsonFile(file));
  if (!parsed.success) throw new ConfigError(`${file}: not a camera profile: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Raw scored detections of labelled frames under some tilings, as `calibrate --save-detections` writes them. */
const savedDetectionsSchema = z.object({
  tilings: z.array(tilingSchema).min(1),
  frames: z.array(
    z.object({
      file: z.string(),
      truth: z.number().int().nonnegative(),
      detections: z.array(z.array(detectionSchema)),
    }),
  ),
});
export type SavedDetections = z.infer<typeof savedDetectionsSchema>;

/**
 * Loads saved detections so post-processing can be calibrated without running the model again.
 * Several files (e.g. one per tiling) are joined frame by frame on the file name; frames missing
 * from any file are dropped.
 */
export async function loadSavedDetections(files: readonly string[]): Promise<SavedDetections> {
  const parts: SavedDetections[] = [];
  for (const file of files) {
    const parsed = savedDetectionsSchema.safeParse(readJsonFile(file));
    if (!parsed.success) throw new ConfigError(`${file}: not saved detections: ${z.prettifyError(parsed.error)}`);
    for (const frame of parsed.data.frames)
      if (frame.detections.length !== parsed.data.tilings.length)
        throw new ConfigError(
          `${file}: ${frame.file} has detections for ${frame.detections.length} tilings, expected ${parsed.data.tilings.length}`,
        );
    parts.push(parsed.data);
  }
  const [first, ...rest] = parts;
  if (!first) throw new Error('no saved detection files given');
  const others = rest.map((part) => new Map(part.frames.map((frame) => [frame.file, frame])));
  return {
    tilings: parts.flatMap((part) => part.tilings),
    frames: first.frames.flatMap((frame) => {
      const matches = others.map((byFile) => byFile.get(frame.file));
      if (matches.some((match) => match === undefined)) return [];
      return [{ ...frame, detections: [...frame.detections, ...matches.flatMap((match) => match?.detections ?? [])] }];
    }),
  };
}

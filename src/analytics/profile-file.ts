/** A profiles file (`--profiles`): camera profiles keyed by device ID (inference, up) or by any name (analytics service). */
import { z } from 'zod';
import { ConfigError, readJsonFile } from '../core/config.js';
import { describeZodError, deviceIdSchema } from '../core/messages.js';
import { type CameraProfile, cameraProfileSchema } from '../core/people-counter.js';

export function readProfiles(
  path: string | undefined,
  keySchema: z.ZodType<string> = deviceIdSchema,
): Record<string, CameraProfile> {
  if (path === undefined) return {};
  const parsed = z.record(keySchema, cameraProfileSchema).safeParse(readJsonFile(path, `--profiles ${path}`));
  if (!parsed.success) throw new ConfigError(`--profiles ${path}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

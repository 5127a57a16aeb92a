/**
 * Photos and the count history are personal data: what this system writes to disk is readable by
 * its own user only (docs/security.md). Modes apply when a file or directory is created; the umask
 * can only remove bits from them.
 */
import { randomUUID } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Replaces `path` whole, readable by its owner only: a temporary file in the same folder, written,
 * fsynced and renamed over it, so a reader or a crash sees the old content or the new, never a mix.
 * (The rename itself is durable once the folder is fsynced; callers that need that do it.)
 */
export async function replaceFilePrivately(path: string, data: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  const file = await open(temporary, 'wx', PRIVATE_FILE_MODE);
  try {
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

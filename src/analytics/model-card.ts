/**
 * Model cards: the JSON beside each committed model file in `models/`, written by the script that
 * built it (training/). Each card names its file and that file's sha256, checked when it loads.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** `models/` at the package root (this file runs from dist/src/analytics/). */
export const MODELS_DIR = fileURLToPath(new URL('../../../models/', import.meta.url));

/** What every card holds; each model's schema extends it. */
export const modelCardSchema = z.object({
  model: z.string(),
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ModelCard = z.infer<typeof modelCardSchema>;

/** A card parsed by its schema; `what` names it in errors ("density model card"). */
export function readModelCard<T extends ModelCard>(path: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the ${what} ${path}: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${what} ${path}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** The model file a card describes, refused when its bytes are not the ones the card names. */
export async function readModelFile(card: ModelCard): Promise<Uint8Array> {
  const path = join(MODELS_DIR, card.file);
  const model = new Uint8Array(await readFile(path));
  const sha256 = createHash('sha256').update(model).digest('hex');
  if (sha256 !== card.sha256) throw new Error(`${path} is not the file its model card describes (sha256 ${sha256})`);
  return model;
}

/** The identifier results carry: the card's model and the file's hash prefix, e.g. `crowd-density@1a2b3c4d`. */
export const cardModelId = (card: ModelCard, variant = ''): string =>
  `${card.model}${variant}@${card.sha256.slice(0, 8)}`;

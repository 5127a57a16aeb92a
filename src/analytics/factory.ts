/** Chooses the analytics platform by config: the model in this process, or a remote REST service. */
import { z } from 'zod';
import type { PeopleCounter } from '../core/people-counter.js';
import { createHttpPeopleCounter } from './http-counter.js';
import { createLocalPeopleCounter } from './local-counter.js';
import { PRECISIONS, RUNTIMES } from './runtime.js';

export const peopleCounterConfigSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('local'),
    workers: z.number().int().min(1).optional(),
    queueLimit: z.number().int().min(0).optional(),
    runtime: z.enum(RUNTIMES).optional(),
    precision: z.enum(PRECISIONS).optional(),
  }),
  z.object({ kind: z.literal('http'), url: z.url(), apiKey: z.string().min(1).optional() }),
]);
export type PeopleCounterConfig = z.infer<typeof peopleCounterConfigSchema>;

export async function createPeopleCounter(config: PeopleCounterConfig): Promise<PeopleCounter> {
  const valid = peopleCounterConfigSchema.parse(config);
  return valid.kind === 'local'
    ? createLocalPeopleCounter({
        ...(valid.workers !== undefined ? { workers: valid.workers } : {}),
        ...(valid.queueLimit !== undefined ? { queueLimit: valid.queueLimit } : {}),
        ...(valid.runtime !== undefined ? { runtime: valid.runtime } : {}),
        ...(valid.precision !== undefined ? { precision: valid.precision } : {}),
      })
    : createHttpPeopleCounter({ url: valid.url, ...(valid.apiKey !== undefined ? { apiKey: valid.apiKey } : {}) });
}

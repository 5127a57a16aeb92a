/** PeopleCounter backed by a remote analytics REST service (`people-counter analytics`). */
import { z } from 'zod';
import {
  type CameraProfile,
  CounterBusyError,
  type CountResult,
  countResponseSchema,
  type PeopleCounter,
  UnusableImageError,
} from '../core/people-counter.js';

/** The analytics service's API key a client sends (`*_FILE` also works: core/config.ts readSecret). */
export const ANALYTICS_API_KEY_ENV = 'PEOPLE_COUNTER_ANALYTICS_API_KEY';

export interface HttpCounterConfig {
  /** Base URL of the service, e.g. http://analytics:8082 */
  url: string;
  apiKey?: string;
  timeoutMs?: number;
}

const errorResponseSchema = z.object({ error: z.string(), message: z.string() });

export function createHttpPeopleCounter(config: HttpCounterConfig): PeopleCounter {
  const base = config.url.replace(/\/+$/, '');
  let model = 'remote (not yet asked)';
  return {
    get model() {
      return model;
    },
    async count(jpeg: Buffer, profile?: CameraProfile, camera?: string): Promise<CountResult> {
      const query = new URLSearchParams();
      if (camera !== undefined) query.set('camera', camera);
      // The service accepts a profile as JSON in the query so every client setting travels with the photo.
      if (profile && Object.keys(profile).length > 0) query.set('profileJson', JSON.stringify(profile));
      const response = await fetch(`${base}/v1/count${query.size ? `?${query}` : ''}`, {
        method: 'POST',
        headers: {
          'content-type': 'image/jpeg',
          ...(config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {}),
        },
        body: new Uint8Array(jpeg),
        signal: AbortSignal.timeout(config.timeoutMs ?? 60_000),
      });
      const body: unknown = await response.json().catch(() => undefined);
      if (response.ok) {
        const result = countResponseSchema.parse(body);
        model = result.model;
        return result;
      }
      const error = errorResponseSchema.safeParse(body);
      const message = `analytics service answered ${response.status}: ${error.success ? error.data.message : 'no error body'}`;
      if (response.status === 503) throw new CounterBusyError(message);
      if (response.status === 400 || response.status === 413 || response.status === 415 || response.status === 422) {
        throw new UnusableImageError(message);
      }
      throw new Error(message);
    },
    async close() {},
  };
}

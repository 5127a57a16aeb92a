/**
 * The analytics platform as a REST service: `POST /v1/count` with a JPEG body, API keys with
 * per-key metering, health, metrics and OpenAPI. Same PeopleCounter as in-process use.
 */
import { z } from 'zod';
import { bearerChallenge, createHttpServer, HttpError, type HttpServer, listen } from '../core/http.js';
import { bearerAuth, guardedScope, principalOf } from '../core/http-auth.js';
import { MAX_DEVICE_ID_LENGTH } from '../core/ids.js';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits, ImageRejectedError, inspectJpeg } from '../core/image.js';
import type { Logger } from '../core/log.js';
import { Counter, Histogram, type Registry } from '../core/metrics.js';
import {
  type CameraProfile,
  CounterBusyError,
  cameraProfileSchema,
  countResponseSchema,
  type PeopleCounter,
  UnusableImageError,
} from '../core/people-counter.js';
import { ANALYTICS_API_KEYS_ENV, createKeyRing, UsageMeter } from './api-keys.js';

export const DEFAULT_ANALYTICS_PORT = 8082;

export interface AnalyticsServiceConfig {
  host: string;
  port: number;
  /** Accepted API keys; empty = open service (logged loudly). */
  apiKeys: readonly string[];
  /** Named camera profiles selectable with `?profile=`. */
  profiles?: Record<string, CameraProfile>;
  imageLimits?: ImageLimits;
  /** Seconds a client should wait after a 503 (queue full). */
  retryAfterSeconds?: number;
}

export interface AnalyticsServiceDeps {
  counter: PeopleCounter;
  logger: Logger;
  metrics: Registry;
}

export interface AnalyticsService {
  url: string;
  app: HttpServer;
  stop(): Promise<void>;
}

const usageResponseSchema = z.object({
  key: z.string().describe('ID of the calling key (a hash, never the key itself); "open" without keys'),
  requests: z.number().int(),
  photos: z.number().int(),
  computeMs: z.number(),
});

const problemStatus: Record<ImageRejectedError['problem'], number> = {
  empty: 400,
  'not-jpeg': 415,
  'unsupported-format': 415,
  'too-large': 413,
  'too-many-pixels': 413,
  truncated: 422,
  undecodable: 422,
};

export async function startAnalyticsService(
  config: AnalyticsServiceConfig,
  deps: AnalyticsServiceDeps,
): Promise<AnalyticsService> {
  const { counter, logger, metrics } = deps;
  const limits = config.imageLimits ?? DEFAULT_IMAGE_LIMITS;
  const profiles = config.profiles ?? {};
  const keys = createKeyRing(config.apiKeys);
  const meter = new UsageMeter();
  if (keys.open) {
    logger.warn(
      `NO API KEYS CONFIGURED: the analytics service is OPEN to anyone who can reach it. Set ${ANALYTICS_API_KEYS_ENV} or --api-keys-file.`,
    );
  }
  const requests = new Counter({
    name: 'people_counter_analytics_requests_total',
    help: 'Count requests by outcome',
    labelNames: ['outcome'],
    registers: [metrics],
  });
  const computeSeconds = new Histogram({
    name: 'people_counter_analytics_compute_seconds',
    help: 'Model compute time per counted photo',
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [metrics],
  });

  const app = createHttpServer({
    title: 'People Counter analytics',
    description: 'Counts people in a JPEG photo. Authenticate with `Authorization: Bearer <key>`.',
    logger,
    metrics,
    bodyLimit: limits.maxBytes,
  });
  // Bodies are raw JPEG bytes; other content types are answered with 415.
  app.addContentTypeParser('image/jpeg', { parseAs: 'buffer', bodyLimit: limits.maxBytes }, (_request, body, done) =>
    done(null, body),
  );

  /**
   * The caller's key ID ("open" without keys); 401 without a key, 403 with an unknown one. Checked
   * before the handler, after parsing and validation: a bad query or media type is answered first.
   */
  const apiKeys = (scope: HttpServer) =>
    bearerAuth(scope, {
      hook: 'preHandler',
      verify: (key) => {
        if (keys.open) return 'open';
        if (key === undefined) throw bearerChallenge('missing API key: send Authorization: Bearer <key>');
        const id = keys.identify(key);
        if (!id) throw new HttpError(403, 'forbidden', 'unknown API key');
        return id;
      },
    });
  const keyOf = (request: Parameters<typeof principalOf>[0]) => principalOf(request) ?? 'open';

  guardedScope(app, [apiKeys], (routes) => {
    routes.post(
      '/v1/count',
      {
        schema: {
          description: 'Count the people in one JPEG photo (request body, Content-Type: image/jpeg).',
          querystring: z.object({
            threshold: z.coerce
              .number()
              .min(0)
              .max(1)
              .optional()
              .describe(
                "minimum detection score: replaces the profile's scoreThreshold, flat unless the profile has a thresholdShift (without either, the size- and edge-aware default applies)",
              ),
            profile: z.string().optional().describe('name of a configured camera profile'),
            profileJson: z.string().optional().describe('a whole camera profile as JSON'),
            camera: z
              .string()
              .min(1)
              .max(MAX_DEVICE_ID_LENGTH)
              .optional()
              .describe(
                'the camera (device ID) the photo comes from: the auto default then checks a quiet view for crowds once a minute instead of on every photo',
              ),
          }),
          response: { 200: countResponseSchema },
        },
      },
      async (request) => {
        const key = keyOf(request);
        meter.request(key);
        let profile: CameraProfile = {};
        if (request.query.profile !== undefined) {
          const named = profiles[request.query.profile];
          if (!named) throw new HttpError(400, 'unknown-profile', `no camera profile named "${request.query.profile}"`);
          profile = named;
        }
        if (request.query.profileJson !== undefined) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(request.query.profileJson);
          } catch {
            throw new HttpError(400, 'invalid-profile', 'profileJson is not JSON');
          }
          const valid = cameraProfileSchema.safeParse(parsed);
          if (!valid.success) throw new HttpError(400, 'invalid-profile', z.prettifyError(valid.error));
          profile = { ...profile, ...valid.data };
        }
        if (request.query.threshold !== undefined) profile = { ...profile, scoreThreshold: request.query.threshold };
        const body = request.body;
        if (!Buffer.isBuffer(body)) {
          requests.inc({ outcome: 'bad-image' });
          // Fastify parses JSON and text bodies itself; anything but image/jpeg is the wrong media type.
          throw new HttpError(
            415,
            'unsupported-media-type',
            'send the photo as the request body with Content-Type: image/jpeg',
          );
        }
        try {
          await inspectJpeg(body, limits);
        } catch (error) {
          if (!(error instanceof ImageRejectedError)) throw error;
          requests.inc({ outcome: 'bad-image' });
          throw new HttpError(problemStatus[error.problem], error.problem, error.message);
        }
        try {
          const result = await counter.count(body, profile, request.query.camera);
          meter.photo(key, result.ms);
          computeSeconds.observe(result.ms / 1000);
          requests.inc({ outcome: 'counted' });
          return result;
        } catch (error) {
          if (error instanceof CounterBusyError) {
            requests.inc({ outcome: 'busy' });
            const retryAfter = String(config.retryAfterSeconds ?? 1);
            throw new HttpError(503, 'busy', error.message, { 'retry-after': retryAfter });
          }
          if (error instanceof UnusableImageError) {
            requests.inc({ outcome: 'bad-image' });
            throw new HttpError(422, 'undecodable', error.message);
          }
          requests.inc({ outcome: 'error' });
          throw error;
        }
      },
    );
    routes.get(
      '/v1/usage',
      {
        schema: {
          description: "The calling key's usage since the service started.",
          response: { 200: usageResponseSchema },
        },
      },
      async (request) => {
        const key = keyOf(request);
        return { key, ...meter.of(key) };
      },
    );
  });

  const url = await listen(app, config.host, config.port);
  logger.info(
    { url, model: counter.model, open: keys.open, keys: config.apiKeys.length },
    'analytics service listening',
  );
  return {
    url,
    app,
    async stop() {
      await app.close();
    },
  };
}

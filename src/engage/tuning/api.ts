/** `/api/tuning/…`: the "Tune counting" flow over REST (docs/engage.md#tuning-a-camera). */
import { z } from 'zod';
import { errorBodySchema, HttpError, type HttpServer } from '../../core/http.js';
import { deviceIdSchema, heatMapSchema } from '../../core/messages.js';
import { MIN_TUNING_FRAMES } from '../../core/tuning.js';
import type { EngageEngine } from '../engine.js';
import { profileRevisionSchema, profileSourceSchema, tuningSummarySchema } from '../profiles.js';
import { photoBody, registerPhotoRoutes } from '../upload.js';
import { DEFAULT_TUNING_FRAMES, MAX_TUNING_FRAMES, type TuningDesk } from './desk.js';
import { fitStateSchema, frameViewSchema, markSchema } from './sessions.js';

/** Largest count a label may carry. */
export const MAX_LABEL = 10_000;

const sessionViewSchema = z.object({
  id: z.string(),
  deviceId: z.string(),
  target: z.number().int().describe('camera photos to keep'),
  collecting: z.boolean().describe('still keeping the camera’s next photos'),
  createdAt: z.number(),
  expiresAt: z.number().describe('unix seconds when the session and its photos are deleted if not applied'),
  frames: z.array(frameViewSchema),
  labelled: z.number().int(),
  fit: fitStateSchema.nullable(),
});

const statusSchema = z.object({
  deviceId: z.string(),
  sessionId: z.string().nullable(),
  hints: z.array(z.string()).describe('from the latest result, e.g. "crowd-view": counts may be low'),
  heatMap: heatMapSchema
    .nullable()
    .describe("the latest result's heat map when the crowd-density network counted it (people per cell)"),
  profile: z
    .object({
      revision: z.number().int(),
      hash: z.string().nullable(),
      source: profileSourceSchema,
      tuning: tuningSummarySchema.nullable(),
    })
    .nullable(),
});

const sessionParams = z.object({ session: z.uuid() });
const frameParams = sessionParams.extend({ key: z.string().min(1).max(255) });
const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
};

export function registerTuningApi(
  app: HttpServer,
  context: { desk: TuningDesk; engine: EngageEngine; retentionSeconds: number; maxUploadBytes: number },
): void {
  const { desk, engine } = context;

  app.get(
    '/api/tuning',
    {
      schema: {
        description:
          "Per camera: its tuning session, the latest result's hints and heat map, and its profile (the tile's badge).",
        response: {
          200: z.object({ retentionSeconds: z.number(), minFrames: z.number(), devices: z.array(statusSchema) }),
        },
      },
    },
    async () => ({
      retentionSeconds: context.retentionSeconds,
      minFrames: MIN_TUNING_FRAMES,
      devices: desk.status(engine.devices().map((d) => d.id)),
    }),
  );

  app.post(
    '/api/tuning/sessions',
    {
      schema: {
        description: `Starts tuning a camera: its next \`frames\` photos (default ${DEFAULT_TUNING_FRAMES}, at most ${MAX_TUNING_FRAMES}) are kept for labelling until applied, cancelled or expired.`,
        body: z
          .object({
            deviceId: deviceIdSchema,
            frames: z.number().int().min(0).max(MAX_TUNING_FRAMES).default(DEFAULT_TUNING_FRAMES),
          })
          .strict(),
        response: { 201: sessionViewSchema, ...errors },
      },
    },
    async (request, reply) => {
      if (!engine.device(request.body.deviceId))
        throw new HttpError(
          404,
          'unknown-device',
          `no device "${request.body.deviceId}" has been counted or configured`,
        );
      return reply.status(201).send(await desk.start(request.body.deviceId, request.body.frames));
    },
  );

  app.get(
    '/api/tuning/sessions/:session',
    {
      schema: {
        description: 'The session: its frames with labels and candidate boxes, and the fit.',
        params: sessionParams,
        response: { 200: sessionViewSchema, ...errors },
      },
    },
    async (request) => desk.view(request.params.session),
  );

  app.delete(
    '/api/tuning/sessions/:session',
    {
      schema: {
        description: 'Cancels the session: stops collecting and deletes its photos.',
        params: sessionParams,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      await desk.cancel(request.params.session);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/tuning/sessions/:session/frames/:key/image',
    { schema: { description: 'The kept photo (JPEG).', params: frameParams } },
    async (request, reply) =>
      reply
        .type('image/jpeg')
        .header('cache-control', 'private, max-age=3600')
        .send(await desk.image(request.params.session, request.params.key)),
  );

  app.put(
    '/api/tuning/sessions/:session/frames/:key/label',
    {
      schema: {
        description: 'The true number of people in the frame, optionally with one mark per person.',
        params: frameParams,
        body: z
          .object({
            count: z.number().int().min(0).max(MAX_LABEL),
            marks: z.array(markSchema).max(MAX_LABEL).optional(),
          })
          .strict(),
        response: { 200: frameViewSchema, ...errors },
      },
    },
    async (request) =>
      desk.label(request.params.session, request.params.key, request.body.count, request.body.marks ?? null),
  );

  app.post(
    '/api/tuning/sessions/:session/fit',
    {
      schema: {
        description:
          'Starts fitting a profile on the labelled frames in the background (progress in the session and as `tuning` events on /api/events).',
        params: sessionParams,
        response: { 202: sessionViewSchema, ...errors, 503: errorBodySchema },
      },
    },
    async (request, reply) => reply.status(202).send(await desk.startFit(request.params.session)),
  );

  app.delete(
    '/api/tuning/sessions/:session/fit',
    {
      schema: {
        description: 'Cancels the running fit.',
        params: sessionParams,
        response: { 200: sessionViewSchema, ...errors },
      },
    },
    async (request) => desk.cancelFit(request.params.session),
  );

  app.post(
    '/api/tuning/sessions/:session/apply',
    {
      schema: {
        description:
          "Publishes the fitted profile as the camera's new revision and ends the session (its photos are deleted).",
        params: sessionParams,
        response: { 200: profileRevisionSchema, ...errors },
      },
    },
    async (request) => desk.apply(request.params.session),
  );

  registerPhotoRoutes(app, context.maxUploadBytes, (uploads) => {
    uploads.post(
      '/api/tuning/sessions/:session/frames',
      {
        bodyLimit: context.maxUploadBytes,
        schema: {
          description: 'Adds a photo of the camera to the session (Content-Type: image/jpeg).',
          params: sessionParams,
          response: { 201: frameViewSchema, ...errors },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await desk.upload(request.params.session, photoBody(request.body))),
    );
  });
}

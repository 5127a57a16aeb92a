/**
 * Engage's REST API, schema-first: the zod schemas below validate requests and responses and
 * produce the OpenAPI document at /openapi.json. Handlers are thin over the store and the engine.
 */
import { z } from 'zod';
import { errorBodySchema, HttpError, type HttpServer } from '../core/http.js';
import { alertMessageSchema, deviceIdSchema, photoMetadataSchema } from '../core/messages.js';
import { zoneIdSchema } from '../core/zones.js';
import { type AlertRule, alertRuleBodySchema, ruleIdSchema } from './alerts.js';
import type { EngageEngine } from './engine.js';
import {
  INTERVAL_PHOTOS,
  LIVE_INTERVALS,
  OFFLINE_INTERVALS,
  SHORTEST_JUDGED_INTERVAL_SECONDS,
  siteNameSchema,
} from './occupancy.js';
import { type PhotoOutcomes, photoOutcomeSchema } from './photo-outcomes.js';
import { csvFileName, seriesCsv } from './series.js';
import type { EngageStore, Series } from './store.js';
import { bucketNames, RangeError400, type ResolvedRange, resolveRange, type TimeQuery } from './time-range.js';
import { type PhotoUploader, photoBody, registerPhotoRoutes } from './upload.js';

export interface ApiContext {
  store: EngageStore;
  engine: EngageEngine;
  upload: PhotoUploader;
  outcomes: PhotoOutcomes;
  nowSeconds: () => number;
  staleAfterMs: number;
  writes: 'token' | 'open' | 'disabled';
  protectReads: boolean;
  maxUploadBytes: number;
  /** Whether /api/devices/credentials manages a device registry. */
  deviceCredentials: boolean;
}

const nullableNumber = z.number().nullable();

/** Long enough for a photo to be batched and counted on a busy CPU; the page shows a pending answer after it. */
export const DEFAULT_UPLOAD_WAIT_SECONDS = 20;
const MAX_UPLOAD_WAIT_SECONDS = 60;

export const deviceViewSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  site: z.string().nullable(),
  capacity: nullableNumber,
  count: nullableNumber.describe('latest count'),
  lastPhotoAt: nullableNumber.describe('creationTimestamp (unix seconds) of the latest counted photo'),
  photoIntervalSeconds: nullableNumber.describe(
    `the usual time between its counted photos: the median gap of its last ${INTERVAL_PHOTOS}; null before its second`,
  ),
  availability: z.enum(['online', 'offline', 'unknown']).describe('what the device last said about itself'),
  online: z.boolean().nullable().describe('null when the device does not publish availability'),
  stale: z.boolean().describe('the latest photo is too old for the count to be live (or there is none)'),
  state: z
    .enum(['live', 'stale', 'offline', 'no-data'])
    .describe(
      `by the photo interval (at least ${SHORTEST_JUDGED_INTERVAL_SECONDS} s, at most half of --stale-after): live within ${LIVE_INTERVALS} intervals of the latest photo, stale within ${OFFLINE_INTERVALS}, offline beyond or when the device says so, no-data before its first count`,
    ),
});

export const siteOccupancySchema = z.object({
  site: z.string(),
  count: z.number().describe('sum of the latest counts of the live devices'),
  capacity: nullableNumber,
  devices: z.number(),
  liveDevices: z.array(z.string()),
  staleDevices: z.array(z.string()).describe('devices left out of the sum: stale, offline or never counted'),
  lastPhotoAt: nullableNumber,
});

const timeQuerySchema = z.object({
  from: z.string().optional().describe('ISO 8601 or unix seconds; default: a day before `to`'),
  to: z.string().optional().describe('ISO 8601 or unix seconds; default: now'),
  bucket: z
    .enum([...bucketNames, 'auto'])
    .optional()
    .describe('raw, 1m, 1h, 1d or auto (default: by range length)'),
});

const deviceTimeQuerySchema = timeQuerySchema.extend({
  zone: zoneIdSchema.optional().describe("one of the camera's zones: that zone's counts instead of the camera's"),
});

const seriesSchema = z.object({
  from: z.number(),
  to: z.number(),
  bucket: z.enum(bucketNames),
  truncated: z.boolean().describe(`raw series stop after a fixed number of points`),
  firstAt: nullableNumber.describe('time of the first count of this device or site ever (unix seconds)'),
  points: z.array(z.object({ t: z.number(), avg: z.number(), min: z.number(), max: z.number(), n: z.number() })),
});
const dashboardConfigSchema = z.object({
  staleAfterSeconds: z.number(),
  writes: z.enum(['token', 'open', 'disabled']),
  protectReads: z.boolean(),
  maxUploadBytes: z.number(),
  deviceCredentials: z.boolean().describe('devices can be registered here (/api/devices/credentials)'),
});
/** What the dashboard learns about this server (`GET /api/config`). */
export type DashboardConfig = z.infer<typeof dashboardConfigSchema>;

/** A device's or a site's count history as the API answers it (the dashboard's chart reads it). */
export type CountSeries = z.infer<typeof seriesSchema>;

const devicePutSchema = z
  .object({
    name: z.string().trim().min(1).max(100).nullable().optional(),
    site: siteNameSchema.nullable().optional(),
    capacity: z.number().int().positive().max(1_000_000).nullable().optional(),
  })
  .strict();

const alertRuleSchema = alertRuleBodySchema.and(
  z.object({
    id: z.string(),
    active: z.boolean().describe('the alert is raised'),
    pendingSince: nullableNumber.describe(
      'unix seconds since the count crossed the level, while the hold time runs; null otherwise',
    ),
  }),
);
const deviceParams = z.object({ id: deviceIdSchema });
const siteParams = z.object({ site: siteNameSchema });
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };

/** A download named `fileName` (already ASCII-safe). */
const attachment = (fileName: string) => `attachment; filename="${fileName}"`;

function rangeOf(query: TimeQuery, now: number): ResolvedRange {
  try {
    return resolveRange(query, now);
  } catch (error) {
    if (error instanceof RangeError400) throw new HttpError(400, 'invalid-range', error.message);
    throw error;
  }
}

export function registerApi(app: HttpServer, context: ApiContext): void {
  const { store, engine } = context;

  const requireDevice = (id: string) => {
    const device = engine.device(id);
    if (!device) throw new HttpError(404, 'unknown-device', `no device "${id}" has been counted or configured`);
    return device;
  };
  const requireZone = (id: string, zone: string) => {
    if (!store.getZone(id, zone)) throw new HttpError(404, 'unknown-zone', `camera ${id} has no zone "${zone}"`);
  };
  const requireSite = (site: string) => {
    const occupancy = engine.site(site);
    if (!occupancy) throw new HttpError(404, 'unknown-site', `no device belongs to site "${site}"`);
    return occupancy;
  };
  const seriesBody = (range: ResolvedRange, series: Series) => ({ ...range, ...series });
  /** A level in % of capacity is refused where there is no capacity: the rule could never apply. */
  const requireCapacity = ({ scope, target }: AlertRule) => {
    const device = scope === 'device' ? engine.device(target) : undefined;
    const capacity = scope === 'device' ? device?.capacity : engine.site(target)?.capacity;
    if (capacity !== null && capacity !== undefined) return;
    const [subject, remedy] =
      scope === 'device'
        ? [`camera ${device?.name ?? target} has no capacity`, 'set its capacity (Edit on its tile)']
        : [`site ${target} has no capacity (none of its cameras has one)`, 'give its cameras a capacity'];
    throw new HttpError(
      400,
      'no-capacity',
      `${subject}, so a level in % of capacity cannot apply: ${remedy} or give the level in people (raiseAtCount)`,
    );
  };

  app.get(
    '/api/config',
    {
      schema: {
        description: 'What the dashboard needs to know about this server.',
        response: {
          200: dashboardConfigSchema,
        },
      },
    },
    async () => ({
      staleAfterSeconds: context.staleAfterMs / 1000,
      writes: context.writes,
      protectReads: context.protectReads,
      maxUploadBytes: context.maxUploadBytes,
      deviceCredentials: context.deviceCredentials,
    }),
  );

  app.get(
    '/api/devices',
    {
      schema: {
        description: 'Every device with its settings, latest count and live state.',
        response: { 200: z.array(deviceViewSchema), 401: errorBodySchema },
      },
    },
    async () => engine.devices(),
  );

  app.get(
    '/api/devices/:id',
    { schema: { params: deviceParams, response: { 200: deviceViewSchema, ...errors } } },
    async (request) => requireDevice(request.params.id),
  );

  app.put(
    '/api/devices/:id',
    {
      schema: {
        description: 'Creates or updates a device: name, site, capacity (omit a field to keep it, null clears it).',
        params: deviceParams,
        body: devicePutSchema,
        response: { 200: deviceViewSchema, ...errors },
      },
    },
    async (request) => {
      store.upsertDevice(request.params.id, request.body, context.nowSeconds());
      await engine.refresh();
      return requireDevice(request.params.id);
    },
  );

  app.get(
    '/api/devices/:id/counts',
    {
      schema: {
        description: "A device's count history (with `zone`: one of its zones'): raw counts or per-bucket avg/min/max.",
        params: deviceParams,
        querystring: deviceTimeQuerySchema,
        response: {
          200: seriesSchema.extend({ device: z.string(), zone: z.string().optional() }),
          ...errors,
        },
      },
    },
    async (request) => {
      requireDevice(request.params.id);
      const { zone } = request.query;
      if (zone !== undefined) requireZone(request.params.id, zone);
      const range = rangeOf(request.query, context.nowSeconds());
      return {
        device: request.params.id,
        ...(zone !== undefined ? { zone } : {}),
        ...seriesBody(range, store.deviceSeries(request.params.id, range, zone)),
      };
    },
  );

  app.get(
    '/api/devices/:id/counts.csv',
    {
      schema: {
        description: 'The same history as CSV (with `zone`: a `zone` column after `device`).',
        params: deviceParams,
        querystring: deviceTimeQuerySchema,
      },
    },
    async (request, reply) => {
      const device = requireDevice(request.params.id);
      const { zone } = request.query;
      if (zone !== undefined) requireZone(request.params.id, zone);
      const range = rangeOf(request.query, context.nowSeconds());
      const { points } = store.deviceSeries(request.params.id, range, zone);
      const title = `${device.name ?? device.id}${zone !== undefined ? `-${zone}` : ''}`;
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', attachment(csvFileName(title, range.from, range.to)))
        .send(seriesCsv('device', request.params.id, points, zone === undefined ? undefined : { zone }));
    },
  );

  app.get(
    '/api/sites',
    { schema: { description: 'Every site with its occupancy.', response: { 200: z.array(siteOccupancySchema) } } },
    async () => engine.sites(),
  );

  app.get(
    '/api/sites/:site/occupancy',
    {
      schema: {
        description: "Sum of the latest counts of the site's live devices, and which devices were left out.",
        params: siteParams,
        response: { 200: siteOccupancySchema, ...errors },
      },
    },
    async (request) => requireSite(request.params.site),
  );

  app.get(
    '/api/sites/:site/counts',
    {
      schema: {
        description:
          "A site's occupancy history from its totals (after each counted photo, the sum of each device's latest count): raw, or their avg/min/max per bucket.",
        params: siteParams,
        querystring: timeQuerySchema,
        response: { 200: seriesSchema.extend({ site: z.string() }), ...errors },
      },
    },
    async (request) => {
      requireSite(request.params.site);
      const range = rangeOf(request.query, context.nowSeconds());
      return { site: request.params.site, ...seriesBody(range, store.siteSeries(request.params.site, range)) };
    },
  );

  app.get(
    '/api/sites/:site/counts.csv',
    { schema: { description: 'The same history as CSV.', params: siteParams, querystring: timeQuerySchema } },
    async (request, reply) => {
      requireSite(request.params.site);
      const range = rangeOf(request.query, context.nowSeconds());
      const { points } = store.siteSeries(request.params.site, range);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', attachment(csvFileName(request.params.site, range.from, range.to)))
        .send(seriesCsv('site', request.params.site, points));
    },
  );

  app.get(
    '/api/services',
    {
      schema: {
        description: "Availability of the pipeline's service instances, from their retained availability topics.",
        response: {
          200: z.array(
            z.object({ service: z.string(), instanceId: z.string(), state: z.enum(['online', 'offline', 'unknown']) }),
          ),
        },
      },
    },
    async () => engine.serviceStatuses(),
  );

  app.get(
    '/api/alerts',
    {
      schema: {
        description: 'Recent alerts, newest first.',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
        response: { 200: z.array(alertMessageSchema), ...errors },
      },
    },
    async (request) => store.recentAlerts(request.query.limit),
  );

  app.get(
    '/api/alert-rules',
    {
      schema: { description: 'Every alert rule with its current state.', response: { 200: z.array(alertRuleSchema) } },
    },
    async () => engine.rules(),
  );

  app.put(
    '/api/alert-rules/:id',
    {
      schema: {
        description:
          'Creates or replaces an alert rule. A level in % of capacity (raiseAtPercent) needs a target with a capacity (400 no-capacity otherwise).',
        params: z.object({ id: ruleIdSchema }),
        body: alertRuleBodySchema,
        response: { 200: alertRuleSchema, ...errors },
      },
    },
    async (request) => {
      const rule: AlertRule = { ...request.body, id: request.params.id };
      if (rule.raiseAtPercent !== undefined) requireCapacity(rule);
      store.putRule(rule, context.nowSeconds());
      await engine.refresh();
      return engine.rules().find((view) => view.id === rule.id) ?? { ...rule, active: false, pendingSince: null };
    },
  );

  app.delete(
    '/api/alert-rules/:id',
    {
      schema: {
        description: 'Deletes an alert rule.',
        params: z.object({ id: ruleIdSchema }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      if (!store.deleteRule(request.params.id)) {
        throw new HttpError(404, 'unknown-rule', `no alert rule "${request.params.id}"`);
      }
      await engine.refresh();
      return reply.status(204).send(null);
    },
  );

  registerPhotoRoutes(app, context.maxUploadBytes, (uploads) => {
    uploads.post(
      '/api/devices/:id/images',
      {
        bodyLimit: context.maxUploadBytes,
        schema: {
          description:
            'Uploads a photo (JPEG, PNG or WebP; PNG and WebP are stored as JPEG) for a device, forwards it to ingestion and waits up to `wait` seconds for its count. Ingestion refusals keep their status and reason.',
          params: deviceParams,
          querystring: z.object({
            wait: z.coerce
              .number()
              .min(0)
              .max(MAX_UPLOAD_WAIT_SECONDS)
              .default(DEFAULT_UPLOAD_WAIT_SECONDS)
              .describe('seconds to wait for the count (0: answer once ingested)'),
          }),
          response: {
            201: photoMetadataSchema.extend({ outcome: photoOutcomeSchema }),
            ...errors,
            413: errorBodySchema,
            415: errorBodySchema,
            422: errorBodySchema,
          },
        },
      },
      async (request, reply) => {
        const photo = await context.upload(request.params.id, photoBody(request.body));
        const outcome = await context.outcomes.wait(photo.filePath, request.query.wait * 1000);
        return reply.status(201).send({ ...photo, outcome });
      },
    );
  });
}

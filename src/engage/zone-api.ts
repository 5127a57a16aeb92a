/**
 * `/api/devices/{id}/zones`: a camera's zones (named polygons in photo pixels) with their latest
 * counts. Writes need the token, like every other write. Counts come from the results engage
 * receives (src/core/zones.ts); the history of one zone is `GET /api/devices/{id}/counts?zone=…`.
 */
import { z } from 'zod';
import { errorBodySchema, HttpError, type HttpServer } from '../core/http.js';
import { deviceIdSchema } from '../core/messages.js';
import { MAX_ZONES_PER_CAMERA, zoneBodySchema, zoneIdSchema } from '../core/zones.js';
import type { EngageEngine } from './engine.js';
import type { EngageStore, ZoneState } from './store.js';

const deviceParams = z.object({ id: deviceIdSchema });
const zoneParams = z.object({ id: deviceIdSchema, zone: zoneIdSchema });
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };

export const zoneViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  polygon: z.array(z.tuple([z.number(), z.number()])),
  count: z
    .number()
    .nullable()
    .describe("people in the zone in the camera's latest photo that could place them; null before the first"),
  photoAt: z.number().nullable().describe('creationTimestamp (unix seconds) of the photo that count comes from'),
});
export type ZoneView = z.infer<typeof zoneViewSchema>;

export function zoneView(zone: ZoneState): ZoneView {
  return {
    id: zone.id,
    name: zone.name,
    polygon: zone.polygon,
    count: zone.latest?.count ?? null,
    photoAt: zone.latest?.photoAt ?? null,
  };
}

export function registerZoneApi(
  app: HttpServer,
  context: { store: EngageStore; engine: EngageEngine; nowSeconds: () => number },
): void {
  const { store, engine } = context;
  const requireDevice = (id: string) => {
    if (!engine.device(id))
      throw new HttpError(404, 'unknown-device', `no device "${id}" has been counted or configured`);
  };
  const requireZone = (id: string, zone: string) => {
    const found = store.getZone(id, zone);
    if (!found) throw new HttpError(404, 'unknown-zone', `camera ${id} has no zone "${zone}"`);
    return found;
  };

  app.get(
    '/api/devices/:id/zones',
    {
      schema: {
        description: "The camera's zones with their latest counts.",
        params: deviceParams,
        response: { 200: z.array(zoneViewSchema), ...errors },
      },
    },
    async (request) => {
      requireDevice(request.params.id);
      return store.listZones(request.params.id).map(zoneView);
    },
  );

  app.get(
    '/api/devices/:id/zones/:zone',
    {
      schema: {
        description: 'One zone with its latest count.',
        params: zoneParams,
        response: { 200: zoneViewSchema, ...errors },
      },
    },
    async (request) => zoneView(requireZone(request.params.id, request.params.zone)),
  );

  app.put(
    '/api/devices/:id/zones/:zone',
    {
      schema: {
        description: `Creates or replaces a zone: a name and a polygon in photo pixels (3 or more corners). A camera has at most ${MAX_ZONES_PER_CAMERA} zones. Its counts start with the camera's next result; a changed polygon starts its history again.`,
        params: zoneParams,
        body: zoneBodySchema,
        response: { 200: zoneViewSchema, ...errors },
      },
    },
    async (request) => {
      const { id, zone } = request.params;
      requireDevice(id);
      const zones = store.listZones(id);
      if (!zones.some((existing) => existing.id === zone) && zones.length >= MAX_ZONES_PER_CAMERA) {
        throw new HttpError(
          400,
          'too-many-zones',
          `camera ${id} already has ${zones.length} zones, the most a camera may have; delete one first`,
        );
      }
      store.putZone(id, { id: zone, ...request.body }, context.nowSeconds());
      await engine.refresh();
      return zoneView(requireZone(id, zone));
    },
  );

  app.delete(
    '/api/devices/:id/zones/:zone',
    {
      schema: {
        description:
          'Deletes a zone with its counts; its retained MQTT state and its Home Assistant sensor are removed.',
        params: zoneParams,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      if (!store.deleteZone(request.params.id, request.params.zone)) {
        throw new HttpError(404, 'unknown-zone', `camera ${request.params.id} has no zone "${request.params.zone}"`);
      }
      await engine.refresh();
      return reply.status(204).send(null);
    },
  );
}

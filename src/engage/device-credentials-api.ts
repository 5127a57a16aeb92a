/**
 * `/api/devices/credentials`: register a camera (its secret is in the answer, once), list and revoke
 * registered cameras. Writes need engage's token like every other change (src/engage/auth.ts).
 */
import { z } from 'zod';
import { DeviceAlreadyRegisteredError } from '../core/device-credentials.js';
import { InvalidDeviceIdForRegistryError, type LiveDeviceRegistry } from '../core/device-registry.js';
import { errorBodySchema, HttpError, type HttpServer } from '../core/http.js';
import { deviceIdSchema } from '../core/messages.js';

const registeredDeviceSchema = z.object({
  deviceId: z.string(),
  createdAt: z.number().describe('unix seconds'),
});
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };

export function registerDeviceCredentialsApi(
  app: HttpServer,
  registry: LiveDeviceRegistry,
  nowSeconds: () => number,
): void {
  app.get(
    '/api/devices/credentials',
    {
      schema: {
        description: 'The registered devices (never their secrets).',
        response: { 200: z.array(registeredDeviceSchema), ...errors },
      },
    },
    async () => registry.list(),
  );

  app.post(
    '/api/devices/credentials',
    {
      schema: {
        description:
          'Registers a device and answers with its secret, once (it is stored only as a hash): the MQTT password (username and client ID = the device ID) and the bearer token of the ingest API.',
        body: z.object({ deviceId: deviceIdSchema }).strict(),
        response: { 201: registeredDeviceSchema.extend({ secret: z.string() }), ...errors, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      try {
        const { secret, device } = await registry.add(request.body.deviceId, nowSeconds());
        return reply.status(201).send({ ...device, secret });
      } catch (error) {
        if (error instanceof DeviceAlreadyRegisteredError)
          throw new HttpError(409, 'already-registered', error.message);
        if (error instanceof InvalidDeviceIdForRegistryError) {
          throw new HttpError(400, 'invalid-device-id', error.message);
        }
        throw error;
      }
    },
  );

  app.delete(
    '/api/devices/credentials/:id',
    {
      schema: {
        description: 'Revokes a device: the broker disconnects it and it is refused from then on.',
        params: z.object({ id: deviceIdSchema }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      if (!(await registry.revoke(request.params.id))) {
        throw new HttpError(404, 'unknown-device', `device ${request.params.id} is not registered`);
      }
      return reply.status(204).send(null);
    },
  );
}

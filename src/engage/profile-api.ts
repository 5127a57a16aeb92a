/** `/api/devices/{id}/profile`: a camera's live profile, its history and revert (writes need the token). */
import { z } from 'zod';
import { errorBodySchema, HttpError, type HttpServer } from '../core/http.js';
import { deviceIdSchema } from '../core/messages.js';
import { cameraProfileSchema } from '../core/people-counter.js';
import { type ProfileBook, profileRevisionSchema } from './profiles.js';

const params = z.object({ id: deviceIdSchema });
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };

export function registerProfileApi(app: HttpServer, profiles: ProfileBook): void {
  app.get(
    '/api/profiles',
    {
      schema: {
        description: "Every camera's current profile.",
        response: { 200: z.array(profileRevisionSchema) },
      },
    },
    async () => profiles.all(),
  );

  app.get(
    '/api/devices/:id/profile',
    {
      schema: {
        description:
          "The camera's current profile with its revision and hash (results counted with it carry the hash in `profile`).",
        params,
        response: { 200: profileRevisionSchema, ...errors },
      },
    },
    async (request) => {
      const current = profiles.current(request.params.id);
      if (!current)
        throw new HttpError(404, 'no-profile', `camera ${request.params.id} has no profile (defaults apply)`);
      return current;
    },
  );

  app.put(
    '/api/devices/:id/profile',
    {
      schema: {
        description:
          'Sets the camera profile (docs/analytics.md#camera-profiles) as a new revision and publishes it retained to every inference instance.',
        params,
        body: cameraProfileSchema.strict(),
        response: { 200: profileRevisionSchema, ...errors },
      },
    },
    async (request) => profiles.put(request.params.id, request.body, 'api'),
  );

  app.delete(
    '/api/devices/:id/profile',
    {
      schema: {
        description:
          "Removes the camera's profile (a new revision without one): its photos are counted with the defaults.",
        params,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      if (!(await profiles.remove(request.params.id)))
        throw new HttpError(404, 'no-profile', `camera ${request.params.id} has no profile`);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/devices/:id/profile/history',
    {
      schema: {
        description: "Every revision of the camera's profile, newest first.",
        params,
        response: { 200: z.array(profileRevisionSchema), ...errors },
      },
    },
    async (request) => profiles.history(request.params.id),
  );

  app.post(
    '/api/devices/:id/profile/revert',
    {
      schema: {
        description: 'Restores the revision before the current one (as a new revision) and publishes it.',
        params,
        response: { 200: profileRevisionSchema, ...errors },
      },
    },
    async (request) => {
      const revision = await profiles.revert(request.params.id);
      if (!revision)
        throw new HttpError(
          404,
          'no-previous-profile',
          `camera ${request.params.id} has no earlier profile to go back to`,
        );
      return revision;
    },
  );
}

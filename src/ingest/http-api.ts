/**
 * REST source: `POST /v1/devices/{deviceID}/images` with a JPEG body. Maps the ingestor's typed
 * errors to HTTP statuses; the body is read as raw bytes up to the image size limit.
 */
import { z } from 'zod';
import type { DeviceAccess } from '../core/device-registry.js';
import { bearerChallenge, errorBodySchema, HttpError, type HttpServer } from '../core/http.js';
import { bearerAuth } from '../core/http-auth.js';
import { ImageRejectedError } from '../core/image.js';
import { sameSecret } from '../core/secret.js';
import {
  type IngestError,
  InvalidDeviceIdError,
  InvalidTimestampError,
  OutboxFullError,
  type PhotoIngestor,
  PublishFailedError,
  StorageUnavailableIngestError,
} from './photo-ingestor.js';

export const JPEG_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'application/octet-stream'];

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 5;

const publishedMetadataSchema = z.object({
  type: z.literal('data'),
  deviceID: z.string(),
  filePath: z.string().describe('"people-counter-images/image<uuid>.jpg"'),
  creationTimestamp: z.number().describe('unix seconds'),
});

/** The HTTP answer for an ingestion failure. Pure. */
export function httpErrorFor(error: IngestError): HttpError {
  if (error instanceof InvalidDeviceIdError) return new HttpError(400, 'invalid-device-id', error.message);
  if (error instanceof InvalidTimestampError) return new HttpError(400, 'invalid-timestamp', error.message);
  if (error instanceof ImageRejectedError) {
    switch (error.problem) {
      case 'too-large':
        return new HttpError(413, 'image-too-large', error.message);
      case 'too-many-pixels':
        return new HttpError(422, 'too-many-pixels', error.message);
      case 'unsupported-format':
        return new HttpError(415, 'unsupported-format', error.message);
      case 'empty':
        return new HttpError(400, 'empty-body', error.message);
      default:
        return new HttpError(400, error.problem, error.message);
    }
  }
  const retry = { 'retry-after': String(RETRY_AFTER_SECONDS) };
  if (error instanceof StorageUnavailableIngestError) {
    return new HttpError(503, 'storage-unavailable', error.message, retry);
  }
  if (error instanceof OutboxFullError) return new HttpError(503, 'outbox-full', error.message, retry);
  return new HttpError(503, 'broker-unavailable', error.message, retry);
}

export function isIngestError(error: unknown): error is IngestError {
  return (
    error instanceof InvalidDeviceIdError ||
    error instanceof InvalidTimestampError ||
    error instanceof ImageRejectedError ||
    error instanceof StorageUnavailableIngestError ||
    error instanceof PublishFailedError ||
    error instanceof OutboxFullError
  );
}

/** The token devices must send as `Authorization: Bearer` (`*_FILE` also works); engage sends it with uploads. */
export const INGEST_TOKEN_ENV = 'PEOPLE_COUNTER_INGEST_TOKEN';

export interface IngestAccess {
  /** A bearer token accepted for every device (engage's uploads, the simulator); required when set. */
  token: string | undefined;
  /** Registered devices: while enforced, a device sends its own secret (or the shared token). */
  devices: DeviceAccess | undefined;
}

/**
 * Why a request may not post photos of `deviceId`, or null: the shared token passes for any device;
 * otherwise an enforced registry wants the device's own secret, and a shared token alone wants itself.
 */
async function refusal({ token, devices }: IngestAccess, deviceId: string, bearer: string | undefined) {
  if (token !== undefined && sameSecret(bearer, token)) return null;
  if (devices?.enforced()) {
    if (bearer === undefined) return `send "Authorization: Bearer <the device's secret>" (people-counter devices add)`;
    return (await devices.accepts(deviceId, bearer)) ? null : `the secret is not device ${deviceId}'s`;
  }
  if (token !== undefined) return 'missing or wrong "Authorization: Bearer <token>"';
  return null;
}

/**
 * The guard of the context that holds the photo route (guardedScope): checked on request, before the
 * body is read, so a refused client does not get to upload 10 MB first. The device is the route's
 * `:deviceID`; the identity is the device ID.
 */
export function ingestAuth(access: IngestAccess): (scope: HttpServer) => void {
  return (scope) =>
    bearerAuth(scope, {
      verify: async (token, request) => {
        const { deviceID } = request.params as { deviceID: string };
        const problem = await refusal(access, deviceID, token);
        if (problem !== null) {
          request.log.warn({ deviceID }, 'photo refused: not authorized');
          throw bearerChallenge(problem);
        }
        return deviceID;
      },
    });
}

/** The photo route; register it in a context guarded by `ingestAuth` (service.ts). */
export function registerIngestRoutes(app: HttpServer, ingestor: PhotoIngestor): void {
  app.addContentTypeParser(
    JPEG_CONTENT_TYPES,
    { parseAs: 'buffer', bodyLimit: ingestor.limits.maxBytes },
    (_request, body, done) => done(null, body),
  );

  app.post(
    '/v1/devices/:deviceID/images',
    {
      schema: {
        description:
          'Ingest one photo: the JPEG is validated, stored in bucket people-counter-images and announced on the ' +
          'metadata topic (QoS 1). Responds 201 with the metadata message that was published, or, while the ' +
          'broker is unavailable, 202 with the metadata queued in the outbox (published once the broker is back; ' +
          'a newer photo of the same device replaces it). 503 with Retry-After when the outbox is full.',
        params: z.object({ deviceID: z.string().describe('device ID (a UUID v4 unless --allow-any-device-id)') }),
        querystring: z.object({
          creationTimestamp: z.coerce
            .number()
            .optional()
            .describe('when the photo was taken, unix seconds (default: now)'),
        }),
        response: {
          201: publishedMetadataSchema,
          202: publishedMetadataSchema,
          400: errorBodySchema,
          401: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body !== undefined && body !== null && !Buffer.isBuffer(body)) {
        throw new HttpError(415, 'unsupported-media-type', `send the JPEG as ${JPEG_CONTENT_TYPES.join(' or ')}`);
      }
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new HttpError(400, 'empty-body', 'the request body must be a JPEG (content-type image/jpeg)');
      }
      try {
        const { metadata, queued } = await ingestor.ingestOrQueue(
          request.params.deviceID,
          body,
          request.query.creationTimestamp,
        );
        return reply.status(queued ? 202 : 201).send(metadata);
      } catch (error) {
        if (isIngestError(error)) {
          const httpError = httpErrorFor(error);
          const log =
            httpError.statusCode >= 500 ? request.log.warn.bind(request.log) : request.log.info.bind(request.log);
          log({ deviceID: request.params.deviceID, code: httpError.code, detail: error.message }, 'photo refused');
          throw httpError;
        }
        throw error;
      }
    },
  );
}

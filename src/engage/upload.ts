/**
 * Photo uploads from the dashboard go to ingestion: in `up`, an in-process function; otherwise the
 * ingest REST API (`POST {ingest}/v1/devices/{id}/images`). Either way the answer is the published
 * metadata, or an HttpError carrying ingestion's own status and reason (a bad photo stays a 4xx).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorBodySchema, HttpError, type HttpServer } from '../core/http.js';
import { type PhotoMetadata, photoMetadataSchema } from '../core/messages.js';

/**
 * The in-process ingestion entry point (PhotoIngestor.ingest in `up`). It rejects with an HttpError
 * for a refused photo (`up` maps ingestion's typed errors with the ingest API's own mapping).
 */
export type IngestPhoto = (deviceId: string, photo: Buffer) => Promise<PhotoMetadata>;

/** Sends a photo to ingestion; resolves with its published metadata, rejects with an HttpError. */
export type PhotoUploader = (deviceId: string, photo: Buffer) => Promise<PhotoMetadata>;

export function inProcessUploader(ingest: IngestPhoto): PhotoUploader {
  return async (deviceId, photo) => {
    try {
      return await ingest(deviceId, photo);
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(503, 'ingest-failed', `ingestion failed: ${(error as Error).message}`);
    }
  };
}

/** `ingestToken`: the ingest service's device token (PEOPLE_COUNTER_INGEST_TOKEN), when it requires one. */
export function restUploader(ingestUrl: string, ingestToken?: string, timeoutMs = 30_000): PhotoUploader {
  const headers = {
    'content-type': 'image/jpeg',
    ...(ingestToken !== undefined ? { authorization: `Bearer ${ingestToken}` } : {}),
  };
  return async (deviceId, photo) => {
    const url = `${ingestUrl.replace(/\/$/, '')}/v1/devices/${encodeURIComponent(deviceId)}/images`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: new Uint8Array(photo),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new HttpError(
        502,
        'ingest-unreachable',
        `the ingestion service at ${ingestUrl} did not answer (${(error as Error).message}); is "people-counter ingest" running? (--ingest-url)`,
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const expected = response.ok ? photoMetadataSchema.safeParse(body) : errorBodySchema.safeParse(body);
    if (!expected.success) {
      throw new HttpError(
        502,
        'ingest-bad-response',
        `the ingestion service answered ${response.status} with an unexpected body: ${text.slice(0, 200)}`,
      );
    }
    if ('error' in expected.data) throw new HttpError(response.status, expected.data.error, expected.data.message);
    return expected.data;
  };
}

/** "10 MB", "1.5 MB", "800 kB": sizes as people read them. Pure. */
export function sizeText(bytes: number): string {
  if (bytes >= 1_000_000) return `${Math.round(bytes / 100_000) / 10} MB`;
  if (bytes >= 1000) return `${Math.round(bytes / 1000)} kB`;
  return `${bytes} bytes`;
}

/** The 413 answer for a photo over the limit, naming both sizes when the size is known. Pure. */
export function photoTooLarge(maxBytes: number, bytes?: number): HttpError {
  const size = bytes !== undefined && Number.isFinite(bytes) ? `the photo is ${sizeText(bytes)}; ` : '';
  return new HttpError(413, 'image-too-large', `${size}the limit is ${sizeText(maxBytes)} per photo`);
}

type PhotoScope = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/**
 * Registers routes that take a raw photo body, in a scope of their own: every other route stays
 * JSON-only. A body over `maxBytes` is a 413 that names the limit.
 */
export function registerPhotoRoutes(app: HttpServer, maxBytes: number, routes: (scope: PhotoScope) => void): void {
  app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<ZodTypeProvider>();
    scope.addContentTypeParser(
      /^(image\/[\w.+-]+|application\/octet-stream)$/,
      { parseAs: 'buffer', bodyLimit: maxBytes },
      (_request, body, done) => done(null, body),
    );
    scope.setErrorHandler((error, request) => {
      if ((error as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        throw photoTooLarge(maxBytes, Number(request.headers['content-length']));
      }
      throw error;
    });
    routes(scope);
  });
}

/** The body of a photo route: 415 when it came with another content type, 400 when empty. */
export function photoBody(body: unknown): Buffer {
  if (!Buffer.isBuffer(body)) {
    throw new HttpError(415, 'unsupported-media-type', 'send the photo as the body with Content-Type: image/jpeg');
  }
  if (body.length === 0) throw new HttpError(400, 'empty-body', 'send the photo as the request body');
  return body;
}

/**
 * Photo uploads from the dashboard go to ingestion: in `up`, an in-process function; otherwise the
 * ingest REST API (`POST {ingest}/v1/devices/{id}/images`), whose status and JSON body are passed through.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HttpError, type HttpServer } from '../core/http.js';
import type { PhotoMetadata } from '../core/messages.js';

/** The in-process ingestion entry point (PhotoIngestor.ingest in `up`). */
export type IngestPhoto = (deviceId: string, jpeg: Buffer) => Promise<PhotoMetadata>;

export interface UploadOutcome {
  status: number;
  body: unknown;
}

export type PhotoUploader = (deviceId: string, jpeg: Buffer) => Promise<UploadOutcome>;

export function inProcessUploader(ingest: IngestPhoto): PhotoUploader {
  return async (deviceId, jpeg) => {
    try {
      return { status: 201, body: await ingest(deviceId, jpeg) };
    } catch (error) {
      // Ingestion signals bad photos with an HttpError-like status and code; pass those through.
      const { statusCode, code, message } = error as { statusCode?: unknown; code?: unknown; message?: unknown };
      if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600) {
        return {
          status: statusCode,
          body: { error: typeof code === 'string' ? code : 'ingest-error', message: String(message) },
        };
      }
      throw new HttpError(503, 'ingest-failed', `ingestion failed: ${String(message)}`);
    }
  };
}

/** `ingestToken`: the ingest service's device token (PEOPLE_COUNTER_INGEST_TOKEN), when it requires one. */
export function restUploader(ingestUrl: string, ingestToken?: string, timeoutMs = 30_000): PhotoUploader {
  const headers = {
    'content-type': 'image/jpeg',
    ...(ingestToken !== undefined ? { authorization: `Bearer ${ingestToken}` } : {}),
  };
  return async (deviceId, jpeg) => {
    const url = `${ingestUrl.replace(/\/$/, '')}/v1/devices/${encodeURIComponent(deviceId)}/images`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: new Uint8Array(jpeg),
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
    try {
      return { status: response.status, body: JSON.parse(text) as unknown };
    } catch {
      throw new HttpError(
        502,
        'ingest-bad-response',
        `the ingestion service answered ${response.status} without JSON: ${text.slice(0, 200)}`,
      );
    }
  };
}

type JpegScope = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

/** Registers routes that take a raw JPEG body, in a scope of their own: every other route stays JSON-only. */
export function registerJpegRoutes(app: HttpServer, maxBytes: number, routes: (scope: JpegScope) => void): void {
  app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<ZodTypeProvider>();
    scope.addContentTypeParser(
      ['image/jpeg', 'application/octet-stream'],
      { parseAs: 'buffer', bodyLimit: maxBytes },
      (_request, body, done) => done(null, body),
    );
    routes(scope);
  });
}

/** The body of a JPEG route, or 415 when it came with another content type. */
export function jpegBody(body: unknown): Buffer {
  if (!Buffer.isBuffer(body))
    throw new HttpError(415, 'unsupported-media-type', 'send the JPEG as the body with Content-Type: image/jpeg');
  return body;
}

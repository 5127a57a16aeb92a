/**
 * The HTTP server every HTTP-serving service starts from: Fastify with zod schemas (one source of
 * truth for validation and the OpenAPI document at /openapi.json), JSON errors, /healthz and /metrics.
 */
import { STATUS_CODES } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ConnectionLimits, limitConnections } from './connection-limits.js';
import type { Logger } from './log.js';
import { type MetricsSource, Registry } from './metrics.js';
import { PACKAGE_VERSION } from './version.js';

export type HttpServer = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  ZodTypeProvider
>;

/** Body of every error response. */
export const errorBodySchema = z.object({
  error: z.string().describe('machine-readable code, e.g. "not-jpeg"'),
  message: z.string().describe('what went wrong, for humans'),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Thrown by handlers to answer with a specific status and code. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface HealthCheck {
  name: string;
  check(): Promise<boolean> | boolean;
}

export interface HttpServerOptions {
  title: string;
  description: string;
  logger: Logger;
  metrics: MetricsSource;
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  healthChecks?: HealthCheck[];
  /**
   * Host names (Host header) this server answers; loopback names are always allowed. Set it where
   * a request can change something without credentials: a page on another site could otherwise
   * reach the server through a DNS name rebound to 127.0.0.1. Undefined: any host.
   */
  allowedHosts?: readonly string[];
  /** Time a client has to send a whole request (headers and body); slow senders get 408. Default 60 s. */
  requestTimeoutMs?: number;
  /** Caps on open connections (default DEFAULT_CONNECTION_LIMITS). */
  connectionLimits?: ConnectionLimits;
  /** Where the connection counts go; default `metrics` when it is one registry. */
  connectionRegistry?: Registry;
}

/** Time a client has to send a request's headers; a socket that sends nothing is closed (408) after it. */
const HEADERS_TIMEOUT_MS = 10_000;
/**
 * Time an idle keep-alive connection stays open: longer than the 60 s idle timeout of common reverse
 * proxies and load balancers, so that they close first (else a request may meet a closing socket).
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

const LOOPBACK_HOST = /^(localhost|[^.]+\.localhost|127(\.\d{1,3}){3}|::1)$/i;

/** The host name of a Host header (port and IPv6 brackets removed, lower case). Pure. */
export function hostName(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') > 0 ? host.indexOf(']') : undefined);
  return host.replace(/:\d*$/, '');
}

/** True when a request with this Host header may be answered. Pure. */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (hostHeader === undefined) return false;
  const name = hostName(hostHeader);
  return LOOPBACK_HOST.test(name) || allowed.some((host) => host.toLowerCase() === name);
}

/** Our JSON error body for a request Node refused before any route ran (raw HTTP on the socket). */
export function clientErrorResponse(errorCode: string | undefined): string {
  const [status, code, message] =
    errorCode === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request-timeout', 'the request was not received in time']
      : errorCode === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers-too-large', 'the request headers are too large']
        : [400, 'bad-request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: code, message });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`;
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimit ?? 1_048_576,
    requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Node applies the request timeout only when the headers timeout is not longer, and looks for
    // requests over their time only every connectionsCheckingInterval (default 30 s).
    http: {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
      connectionsCheckingInterval: Math.max(50, Math.min(5000, requestTimeout / 2)),
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(clientErrorResponse(error.code));
      socket.destroy(error);
    },
    // Errors the router raises before any hook (e.g. a path parameter over its length): our JSON too.
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode ?? 400;
      const body: ErrorBody = { error: status === 414 ? 'uri-too-long' : 'bad-request', message: error.message };
      (reply as FastifyReply).status(status).send(body);
    },
    // Request logs would drown the service's own structured events; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  limitConnections(app.server, {
    listener: 'http',
    logger: options.logger,
    ...(options.connectionLimits ? { limits: options.connectionLimits } : {}),
    ...connectionRegistryOf(options),
  });
  const { allowedHosts } = options;
  app.addHook('onRequest', async (request, reply) => {
    // Nothing we serve is meant to be framed by another site (clickjacking).
    reply.header('x-frame-options', 'DENY');
    if (allowedHosts && !hostAllowed(request.headers.host, allowedHosts)) {
      throw new HttpError(
        403,
        'forbidden-host',
        `this server does not answer for host "${request.headers.host ?? ''}"; allowed: loopback names${allowedHosts.length > 0 ? `, ${allowedHosts.join(', ')}` : ''}`,
      );
    }
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: options.title, description: options.description, version: PACKAGE_VERSION },
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) {
      reply.headers(error.headers).status(error.statusCode).send({ error: error.code, message: error.message });
      return;
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const detail = error.validation
        .map((issue) => `${issue.instancePath || '(root)'}: ${issue.message ?? 'invalid'}`)
        .join('; ');
      reply
        .status(400)
        .send({ error: 'invalid-request', message: `${error.validationContext ?? 'request'} ${detail}` });
      return;
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const code =
      status === 413
        ? 'body-too-large'
        : status === 415
          ? 'unsupported-media-type'
          : status >= 500
            ? 'internal-error'
            : 'bad-request';
    reply.status(status).send({ error: code, message: status >= 500 ? 'internal error' : error.message });
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send({ error: 'not-found', message: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });

  app.after(() => {
    app.get(
      '/healthz',
      {
        schema: {
          description: 'Liveness and readiness of this service and what it depends on.',
          response: {
            200: z.object({ status: z.literal('ok'), checks: z.record(z.string(), z.boolean()) }),
            503: z.object({ status: z.literal('unhealthy'), checks: z.record(z.string(), z.boolean()) }),
          },
        },
      },
      async (_request, reply) => {
        const checks: Record<string, boolean> = {};
        for (const check of options.healthChecks ?? []) {
          checks[check.name] = await Promise.resolve(check.check()).catch(() => false);
        }
        const healthy = Object.values(checks).every(Boolean);
        return healthy
          ? reply.send({ status: 'ok' as const, checks })
          : reply.status(503).send({ status: 'unhealthy' as const, checks });
      },
    );
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('content-type', options.metrics.contentType);
      return options.metrics.metrics();
    });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });

  return app;
}

function connectionRegistryOf(options: HttpServerOptions): { registry?: Registry } {
  const registry = options.connectionRegistry ?? (options.metrics instanceof Registry ? options.metrics : undefined);
  return registry ? { registry } : {};
}

/** True for an address or name only this machine can reach (127.x, ::1, localhost, *.localhost). */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOST.test(host);
}

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235). */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
}

/** The 401 answer that asks for `Authorization: Bearer`, saying what was missing or wrong. */
export function bearerChallenge(message: string): HttpError {
  return new HttpError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer' });
}

/** True for an address that binds every interface. */
export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The host part of a URL that reaches a server bound to `bindAddress` (a wildcard is reached on loopback). */
export function urlHost(bindAddress: string): string {
  const host = isWildcardAddress(bindAddress) ? '127.0.0.1' : bindAddress;
  return host.includes(':') ? `[${host}]` : host;
}

/** Listens and returns the base URL actually bound (useful with port 0). */
export async function listen(app: HttpServer, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return `http://${urlHost(host)}:${boundPort}`;
}

/**
 * The HTTP server every HTTP-serving service starts from: Fastify with zod schemas (one source of
 * truth for validation and the OpenAPI document at /openapi.json), JSON errors, /healthz and /metrics.
 */
import { timingSafeEqual } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Logger } from './log.js';
import type { MetricsSource } from './metrics.js';

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
  version: string;
  logger: Logger;
  metrics: MetricsSource;
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  healthChecks?: HealthCheck[];
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimit ?? 1_048_576,
    // Request logs would drown the service's own structured events; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: options.title, description: options.description, version: options.version },
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

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235). */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
}

/** Compares a presented secret with the expected one in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The host part of a URL that reaches a server bound to `bindAddress` (a wildcard is reached on loopback). */
export function urlHost(bindAddress: string): string {
  const host = bindAddress === '0.0.0.0' || bindAddress === '::' ? '127.0.0.1' : bindAddress;
  return host.includes(':') ? `[${host}]` : host;
}

/** Listens and returns the base URL actually bound (useful with port 0). */
export async function listen(app: HttpServer, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return `http://${urlHost(host)}:${boundPort}`;
}

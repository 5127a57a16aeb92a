/**
 * Bearer authentication as a Fastify plugin over encapsulation: `bearerAuth(scope, { verify })`
 * adds one hook to an encapsulated context (a `register`ed plugin), so every route registered in
 * that context or its children is checked, and routes outside it (/healthz, /metrics, the
 * dashboard's static files) are not. A service puts the routes that need the same permissions in
 * one context: `authenticated(app, [guards…], (scope) => registerRoutes(scope))`.
 *
 * No fastify-plugin: the hook must NOT leak to the parent context, which is the point.
 */
import type { FastifyRequest } from 'fastify';
import { bearerToken, HttpError, type HttpServer } from './http.js';

export interface BearerAuthOptions {
  /**
   * Decides on a request from its bearer token (undefined when none was sent): returns the caller's
   * identity (a key ID, a device), or throws the refusal, e.g. `bearerChallenge(…)` (401 with
   * `WWW-Authenticate: Bearer`) or an HttpError 403. Async is fine.
   */
  verify(token: string | undefined, request: FastifyRequest): string | undefined | Promise<string | undefined>;
  /**
   * When to check. `onRequest` (default): before the body is read, so a refused client does not get to
   * upload first. `preHandler`: after parsing and validation, for a service whose 400/415 answers
   * came before its 401 and must keep doing so.
   */
  hook?: 'onRequest' | 'preHandler';
  /** A query parameter that may carry the token on GET requests (EventSource cannot send headers). */
  queryParameter?: string;
}

const principals = new WeakMap<FastifyRequest, string>();

/** The identity `verify` returned for this request, if it went through a `bearerAuth` scope. */
export function principalOf(request: FastifyRequest): string | undefined {
  return principals.get(request);
}

/** The token a request presents: `Authorization: Bearer`, else (GET only) the query parameter. */
export function presentedToken(request: FastifyRequest, queryParameter?: string): string | undefined {
  const fromHeader = bearerToken(request.headers.authorization);
  if (fromHeader !== undefined || queryParameter === undefined || request.method !== 'GET') return fromHeader;
  const value = (request.query as Record<string, unknown> | undefined)?.[queryParameter];
  return typeof value === 'string' ? value : undefined;
}

/** Adds the bearer check to `scope` (an encapsulated context): its routes and its children's. */
export function bearerAuth(scope: HttpServer, options: BearerAuthOptions): void {
  scope.addHook(options.hook ?? 'onRequest', async (request: FastifyRequest) => {
    const principal = await options.verify(presentedToken(request, options.queryParameter), request);
    if (principal !== undefined) principals.set(request, principal);
  });
}

/** Something that adds hooks (a check) to an encapsulated context: `bearerAuth`, `crossSiteGuard`. */
export type ScopeGuard = (scope: HttpServer) => void;

/**
 * Registers `routes` in an encapsulated context of their own, after `guards` added their hooks to
 * it, in the order given (that order is the order the checks run in). Being a plugin, the context
 * loads after the OpenAPI plugin, so its routes appear in /openapi.json.
 */
export function guardedScope(
  app: HttpServer,
  guards: readonly ScopeGuard[],
  routes: (scope: HttpServer) => void,
): void {
  app.register(async (scope: HttpServer) => {
    for (const guard of guards) guard(scope);
    routes(scope);
  });
}

/**
 * A hidden catch-all for `prefix`* in a guarded context: unknown paths and methods under it get the
 * usual 404, but only after the context's checks ran (a request without the key learns nothing about
 * which routes exist), as when the check was one global hook.
 */
export function notFoundBehindGuards(scope: HttpServer, prefix: string): void {
  scope.all(`${prefix}*`, { schema: { hide: true } }, async (request) => {
    throw new HttpError(404, 'not-found', `no route for ${request.method} ${request.url.split('?')[0]}`);
  });
}

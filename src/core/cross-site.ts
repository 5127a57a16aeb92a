/**
 * No cross-site writes: a page on another site must not change anything through a visitor's
 * browser (CSRF), whatever a service's authentication. The rule is the one of Go's
 * `http.CrossOriginProtection`: safe methods pass; otherwise a browser's `Sec-Fetch-Site` decides
 * (`same-origin` and `none` pass), and from older browsers without it the `Origin` header must name
 * the host the request was sent to. A request with neither header does not come from a browser
 * (curl, devices, our own services) and passes. Configured trusted origins (a dashboard behind a
 * reverse proxy that rewrites Host) pass too.
 */
import { z } from 'zod';
import { HttpError, type HttpServer } from './http.js';

/** `scheme://host[:port]` as browsers send it in `Origin`, e.g. `https://dashboard.example`. */
export const originSchema = z.string().transform((text, context) => {
  const origin = bareOrigin(text);
  if (origin === undefined) {
    context.addIssue({
      code: 'custom',
      message: `"${text}" is not an origin: scheme://host[:port], without a path, e.g. https://dashboard.example`,
    });
    return z.NEVER;
  }
  return origin;
});

/** The serialized origin of a URL that is nothing more than one (a trailing `/` allowed). */
function bareOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '';
  return bare && url.origin !== 'null' ? url.origin : undefined;
}

/** Methods that must not change anything, so any site may send them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The headers a cross-site decision looks at. */
export interface CrossSiteHeaders {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  fetchSite: string | undefined;
}

/** Why this request is a cross-site write, or undefined when it may go on. Pure. */
export function crossSiteProblem(request: CrossSiteHeaders, trustedOrigins: readonly string[]): string | undefined {
  if (SAFE_METHODS.has(request.method)) return undefined;
  const trusted = request.origin !== undefined && trustedOrigins.includes(request.origin.toLowerCase());
  if (request.fetchSite !== undefined) {
    if (request.fetchSite === 'same-origin' || request.fetchSite === 'none' || trusted) return undefined;
    return `the browser says this request comes from a ${request.fetchSite} page (Sec-Fetch-Site)`;
  }
  if (request.origin === undefined || trusted) return undefined;
  if (request.host !== undefined && originHost(request.origin) === request.host.toLowerCase()) return undefined;
  return `the request comes from a page of ${request.origin} (Origin), not of this server`;
}

/** The `host[:port]` of an Origin header (lower case); undefined for `null` or garbage. */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cross-site check as a guard of an encapsulated context (see `guardedScope` in http-auth.ts):
 * there cross-site writes get 403 `cross-site-request`. Text bodies get 415 there: with a form's
 * types they are what a page on another site may send without asking the browser first
 * (CORS-safelisted), and no route takes them; JSON, and whatever types a child context adds
 * (photos), are parsed as before.
 */
export function crossSiteGuard(trustedOrigins: readonly string[]): (scope: HttpServer) => void {
  const trusted = trustedOrigins.map((origin) => origin.toLowerCase());
  return (scope) => {
    scope.removeContentTypeParser('text/plain');
    scope.addHook('onRequest', async (request) => {
      const problem = crossSiteProblem(
        {
          method: request.method,
          host: request.headers.host,
          origin: request.headers.origin,
          fetchSite: singleHeader(request.headers['sec-fetch-site']),
        },
        trusted,
      );
      if (problem !== undefined) {
        throw new HttpError(
          403,
          'cross-site-request',
          `changes are accepted only from this server's own pages: ${problem}${trusted.length > 0 ? `; trusted origins: ${trusted.join(', ')}` : ''}`,
        );
      }
    });
  };
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Who may call the API: writes need the bearer token; reads are open unless `protectReads`. With
 * no token configured, writes are refused with a message saying how to set one, unless
 * `openWrites` (demos). EventSource cannot send headers, so GETs also accept `?access_token=`.
 * The check is the `verify` of one `bearerAuth` scope around every /api/ route (service.ts).
 */
import type { FastifyRequest } from 'fastify';
import { bearerChallenge, HttpError, type HttpServer } from '../core/http.js';
import { bearerAuth } from '../core/http-auth.js';
import { sameSecret } from '../core/secret.js';

export const TOKEN_ENV = 'PEOPLE_COUNTER_ENGAGE_TOKEN';

/** The query parameter that may carry the token on GETs (the dashboard's EventSource). */
export const ACCESS_TOKEN_PARAMETER = 'access_token';

export interface AccessPolicy {
  token: string | undefined;
  protectReads: boolean;
  openWrites: boolean;
}

/** Allows the request (undefined, or 'token' when the token was checked) or throws the HttpError that refuses it. */
export function authorize(
  policy: AccessPolicy,
  token: string | undefined,
  request: FastifyRequest,
): string | undefined {
  const isWrite = request.method !== 'GET' && request.method !== 'HEAD';
  if (!isWrite && !policy.protectReads) return undefined;
  if (isWrite && policy.openWrites) return undefined;
  if (policy.token === undefined) {
    throw new HttpError(
      403,
      'writes-disabled',
      `no API token is configured, so changes are refused; set ${TOKEN_ENV} (or ${TOKEN_ENV}_FILE) and send "Authorization: Bearer <token>"`,
    );
  }
  if (token === undefined) throw bearerChallenge('send "Authorization: Bearer <token>"');
  if (!sameSecret(token, policy.token)) throw bearerChallenge('the token is wrong');
  return 'token';
}

/** The policy as the guard of an encapsulated context (guardedScope). */
export function engageAuth(policy: AccessPolicy): (scope: HttpServer) => void {
  return (scope) =>
    bearerAuth(scope, {
      verify: (token, request) => authorize(policy, token, request),
      queryParameter: ACCESS_TOKEN_PARAMETER,
    });
}

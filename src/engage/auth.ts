/**
 * Who may call the API: writes need the bearer token; reads are open unless `protectReads`. With
 * no token configured, writes are refused with a message saying how to set one, unless
 * `openWrites` (demos). EventSource cannot send headers, so GETs also accept `?access_token=`.
 */
import type { FastifyRequest } from 'fastify';
import { bearerChallenge, bearerToken, HttpError } from '../core/http.js';
import { sameSecret } from '../core/secret.js';

export const TOKEN_ENV = 'PEOPLE_COUNTER_ENGAGE_TOKEN';

export interface AccessPolicy {
  token: string | undefined;
  protectReads: boolean;
  openWrites: boolean;
}

function presentedToken(request: FastifyRequest): string | undefined {
  const fromHeader = bearerToken(request.headers.authorization);
  if (fromHeader !== undefined) return fromHeader;
  if (request.method === 'GET') {
    const query = request.query as Record<string, unknown> | undefined;
    const fromQuery = query?.access_token;
    if (typeof fromQuery === 'string') return fromQuery;
  }
  return undefined;
}

/** Throws the HttpError that answers a request the policy does not allow. */
export function authorize(policy: AccessPolicy, request: FastifyRequest): void {
  const isWrite = request.method !== 'GET' && request.method !== 'HEAD';
  if (!isWrite && !policy.protectReads) return;
  if (isWrite && policy.openWrites) return;
  if (policy.token === undefined) {
    throw new HttpError(
      403,
      'writes-disabled',
      `no API token is configured, so changes are refused; set ${TOKEN_ENV} (or ${TOKEN_ENV}_FILE) and send "Authorization: Bearer <token>"`,
    );
  }
  const given = presentedToken(request);
  if (given === undefined) throw bearerChallenge('send "Authorization: Bearer <token>"');
  if (!sameSecret(given, policy.token)) throw bearerChallenge('the token is wrong');
}

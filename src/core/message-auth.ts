/**
 * Message authentication between our own services (defence in depth behind broker ACLs): a
 * message on a protected topic carries an HMAC-SHA256 of its topic and body under a secret that
 * only our services share. A client that can publish on the broker but lacks the secret cannot
 * forge a coordination or result message; a replay of a genuine one is left to the protocol.
 *
 * Wire form: the JSON body with one more last field, `"sig":"<base64url>"`. The MAC covers
 * `topic + "\n" + JSON.stringify(body without sig)`: a JSON.stringify of a parsed
 * JSON.stringify result reproduces it exactly, so any producer that builds its payload with
 * JSON.stringify verifies. Readers that do not check keep working: schemas ignore the extra key.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError, readSecret } from './config.js';

/** Env var (or `<name>_FILE`) holding the shared secret. */
export const MESSAGE_SECRET_ENV = 'PEOPLE_COUNTER_MESSAGE_SECRET';
export const SIGNATURE_FIELD = 'sig';
const MIN_SECRET_LENGTH = 16;

export type VerifyOutcome =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'invalid-json' | 'unsigned' | 'bad-signature'; detail: string };

export interface MessageAuth {
  /** True when a secret is set: unsigned or wrongly signed messages are then refused. */
  readonly enabled: boolean;
  /** The payload to publish on `topic`. */
  sign(topic: string, message: object): string;
  /** Parses a payload received on `topic`; with a secret, only a correctly signed one passes. */
  verify(topic: string, payload: Buffer | string): VerifyOutcome;
}

/** A secret for a stack that makes its own (e.g. `up`). */
export function generateMessageSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function createMessageAuth(secret: string | undefined): MessageAuth {
  if (secret !== undefined && secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`${MESSAGE_SECRET_ENV} must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const mac = (topic: string, body: string): Buffer =>
    createHmac('sha256', secret ?? '')
      .update(`${topic}\n${body}`)
      .digest();

  return {
    enabled: secret !== undefined,
    sign(topic, message) {
      const body = JSON.stringify(message);
      if (secret === undefined) return body;
      const { [SIGNATURE_FIELD]: _ignored, ...unsigned } = message as Record<string, unknown>;
      const canonical = JSON.stringify(unsigned);
      return JSON.stringify({ ...unsigned, [SIGNATURE_FIELD]: mac(topic, canonical).toString('base64url') });
    },
    verify(topic, payload) {
      let data: unknown;
      try {
        data = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
      } catch (error) {
        return { ok: false, reason: 'invalid-json', detail: `payload is not JSON: ${(error as Error).message}` };
      }
      if (secret === undefined) return { ok: true, value: data };
      if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        return { ok: false, reason: 'unsigned', detail: 'payload is not a signed JSON object' };
      }
      const { [SIGNATURE_FIELD]: signature, ...unsigned } = data as Record<string, unknown>;
      if (typeof signature !== 'string') {
        return { ok: false, reason: 'unsigned', detail: `no "${SIGNATURE_FIELD}" field: message is not signed` };
      }
      const given = Buffer.from(signature, 'base64url');
      const expected = mac(topic, JSON.stringify(unsigned));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return {
          ok: false,
          reason: 'bad-signature',
          detail: 'signature does not match (wrong secret or altered message)',
        };
      }
      return { ok: true, value: unsigned };
    },
  };
}

/** The message auth a service configures from its environment. */
export function messageAuthFromEnv(env: NodeJS.ProcessEnv): MessageAuth {
  return createMessageAuth(readSecret(env, MESSAGE_SECRET_ENV));
}

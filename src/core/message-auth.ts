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
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from './config.js';
import { PRIVATE_FILE_MODE } from './private-files.js';

/** Env var (or `<name>_FILE`) holding the shared secret. */
export const MESSAGE_SECRET_ENV = 'PEOPLE_COUNTER_MESSAGE_SECRET';
/** Where `up` keeps the secret it made, in its data directory. */
export const MESSAGE_SECRET_FILE = 'message-secret';
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

/**
 * The secret kept in `path`, made there (mode 0600) if the file does not exist yet. Kept rather than
 * made per start, so that a restarted stack still verifies what its earlier runs signed: results the
 * broker queued for engage's persistent session, retained counts.
 */
export async function keptMessageSecret(path: string): Promise<string> {
  let secret: string;
  try {
    // `wx`: a secret made by an earlier start is never replaced.
    await writeFile(path, `${generateMessageSecret()}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      },
    );
    secret = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError(`cannot keep the message secret in ${path}: ${(error as Error).message}`);
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `${path} holds no message secret of at least ${MIN_SECRET_LENGTH} characters: delete it and a new one is made`,
    );
  }
  return secret;
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
      if (secret === undefined) return JSON.stringify(message);
      const { [SIGNATURE_FIELD]: _ignored, ...unsigned } = message as Record<string, unknown>;
      const canonical = JSON.stringify(unsigned);
      const signature = `"${SIGNATURE_FIELD}":"${mac(topic, canonical).toString('base64url')}"}`;
      // What JSON.stringify({ ...unsigned, sig }) gives, without serialising the message again.
      return canonical === '{}' ? `{${signature}` : `${canonical.slice(0, -1)},${signature}`;
    },
    verify(topic, payload) {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8');
      if (secret !== undefined) {
        // Our own producers' form: the signed body's bytes followed by the signature field. The MAC
        // is checked over those bytes as they are, so the body is parsed once and never re-serialised.
        const signed = signedBodyOf(text);
        if (signed !== undefined && sameMac(signed.signature, mac(topic, signed.body))) {
          try {
            return { ok: true, value: JSON.parse(signed.body) };
          } catch {
            // A signed body that is not JSON: the general path below reports it.
          }
        }
      }
      let data: unknown;
      try {
        data = JSON.parse(text);
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
      if (!sameMac(signature, mac(topic, JSON.stringify(unsigned)))) {
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

/** `,"sig":"` + 43 base64url characters (a SHA-256 MAC) + `"}`: the tail `sign` appends. */
const SIGNATURE_TAIL_PREFIX = `,"${SIGNATURE_FIELD}":"`;
const SIGNATURE_TAIL_LENGTH = SIGNATURE_TAIL_PREFIX.length + 43 + 2;

/**
 * Splits a payload in `sign`'s exact form into the body that was signed and the signature; any
 * other form (another producer's whitespace or key order) is undefined and verified the long way.
 */
function signedBodyOf(text: string): { body: string; signature: string } | undefined {
  const tail = text.length - SIGNATURE_TAIL_LENGTH;
  if (tail < 1 || !text.endsWith('"}') || !text.startsWith(SIGNATURE_TAIL_PREFIX, tail)) return undefined;
  return {
    body: `${text.slice(0, tail)}}`,
    signature: text.slice(tail + SIGNATURE_TAIL_PREFIX.length, text.length - 2),
  };
}

function sameMac(signature: string, expected: Buffer): boolean {
  const given = Buffer.from(signature, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

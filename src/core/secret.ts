/** Secrets (tokens, passwords, keys) are compared in constant time, so that timing does not reveal them. */
import { timingSafeEqual } from 'node:crypto';

/** Compares a presented secret (a header's text, or an MQTT password's bytes) with the expected one in constant time. */
export function sameSecret(given: string | Buffer | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.isBuffer(given) ? given : Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

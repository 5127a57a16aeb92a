/**
 * Per-device credentials: each registered device has its own random secret, shown once and kept
 * only as hashes. The same secret is the device's MQTT password (username = device ID) and its
 * REST bearer token. Pure logic and hashing; the file and its live view are in device-registry.ts.
 */
import { pbkdf2, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import { deviceIdProblem } from './ids.js';

const scryptAsync = promisify(scrypt) as (
  secret: string,
  salt: Buffer,
  keyLength: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

/** Secrets are 32 random bytes: far beyond guessing, so the hash parameters only slow down a stolen file. */
const SECRET_BYTES = 32;
const SALT_BYTES = 16;
/** Node's scrypt defaults (16 MiB, ≈ 40 ms per check on one core); stored per record so they can grow later. */
const SCRYPT = { N: 16_384, r: 8, p: 1, keyLength: 32 } as const;
/** Mosquitto 2's `$7$` password hashes: PBKDF2-SHA512, 101 iterations, 12-byte salt (what mosquitto_passwd writes). */
const MOSQUITTO_PBKDF2 = { id: 7, iterations: 101, saltBytes: 12, keyLength: 64 } as const;

/** The registry's file name inside a data directory (`up`, `people-counter devices`). */
export const DEVICE_REGISTRY_FILE = 'devices.json';

/**
 * Prefix of every service's MQTT client ID (`pc-<service>-<instance>`, src/core/mqtt.ts). Reserved:
 * a device ID may not start with it, so a device can never take over a service's session.
 */
export const SERVICE_CLIENT_ID_PREFIX = 'pc-';

/** Usernames of the service accounts (src/broker/access.ts): never a device's. */
const RESERVED_DEVICE_IDS = new Set(['inference', 'ingest', 'engage', 'admin', 'broker', 'analytics']);

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected base64url');

export const deviceCredentialSchema = z.object({
  deviceId: z.string(),
  /** Unix seconds. */
  createdAt: z.number(),
  scrypt: z.object({
    N: z.number().int().positive(),
    r: z.number().int().positive(),
    p: z.number().int().positive(),
    salt: base64url,
    hash: base64url,
  }),
  /** The same secret as a Mosquitto password-file hash (`$7$…`), for `devices mosquitto-passwd`. */
  mosquittoHash: z.string().regex(/^\$7\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'expected a $7$ hash'),
});
export type DeviceCredential = z.infer<typeof deviceCredentialSchema>;

export const deviceRegistryFileSchema = z
  .object({
    version: z.literal(1),
    devices: z.array(deviceCredentialSchema),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    for (const [index, device] of file.devices.entries()) {
      const problem = registrableDeviceIdProblem(device.deviceId);
      if (problem) ctx.addIssue({ code: 'custom', path: ['devices', index, 'deviceId'], message: problem });
      if (seen.has(device.deviceId)) {
        ctx.addIssue({ code: 'custom', path: ['devices', index, 'deviceId'], message: 'listed twice' });
      }
      seen.add(device.deviceId);
    }
  });
export type DeviceRegistryFile = z.infer<typeof deviceRegistryFileSchema>;

export const EMPTY_REGISTRY: DeviceRegistryFile = { version: 1, devices: [] };

/** What a device ID may be to get credentials: a safe topic level, and never a service's name or client ID. */
export function registrableDeviceIdProblem(deviceId: string): string | null {
  const problem = deviceIdProblem(deviceId);
  if (problem) return problem;
  if (RESERVED_DEVICE_IDS.has(deviceId.toLowerCase())) return `"${deviceId}" is the name of a service account`;
  if (deviceId.startsWith(SERVICE_CLIENT_ID_PREFIX)) {
    return `a device ID may not start with "${SERVICE_CLIENT_ID_PREFIX}" (reserved for the services' MQTT client IDs)`;
  }
  return null;
}

/** A new secret for a device: 32 random bytes, base64url (43 characters). */
export function newDeviceSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

async function scryptHash(secret: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  // maxmem: room for N·r·128 bytes plus slack (Node's default 32 MiB is just enough for the defaults).
  return scryptAsync(secret, salt, SCRYPT.keyLength, { ...params, maxmem: 256 * params.N * params.r });
}

async function mosquittoHash(secret: string): Promise<string> {
  const { id, iterations, saltBytes, keyLength } = MOSQUITTO_PBKDF2;
  const salt = randomBytes(saltBytes);
  const hash = await pbkdf2Async(secret, salt, iterations, keyLength, 'sha512');
  return `$${id}$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** A fresh secret for `deviceId` and the record that stores it hashed. */
export async function issueDeviceCredential(
  deviceId: string,
  nowSeconds: number,
): Promise<{ secret: string; credential: DeviceCredential }> {
  const secret = newDeviceSecret();
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = SCRYPT;
  const hash = await scryptHash(secret, salt, { N, r, p });
  return {
    secret,
    credential: {
      deviceId,
      createdAt: nowSeconds,
      scrypt: { N, r, p, salt: salt.toString('base64url'), hash: hash.toString('base64url') },
      mosquittoHash: await mosquittoHash(secret),
    },
  };
}

/** Whether `secret` is the one `credential` was issued for (constant-time comparison of the hashes). */
export async function secretMatches(credential: DeviceCredential, secret: string | Buffer): Promise<boolean> {
  const { N, r, p, salt, hash } = credential.scrypt;
  const expected = Buffer.from(hash, 'base64url');
  const text = Buffer.isBuffer(secret) ? secret.toString('utf8') : secret;
  const actual = await scryptHash(text, Buffer.from(salt, 'base64url'), { N, r, p });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The registry with `credential` added; throws when the device is registered already. */
export function withDevice(registry: DeviceRegistryFile, credential: DeviceCredential): DeviceRegistryFile {
  if (registry.devices.some((device) => device.deviceId === credential.deviceId)) {
    throw new DeviceAlreadyRegisteredError(credential.deviceId);
  }
  return { ...registry, devices: [...registry.devices, credential] };
}

/** The registry without `deviceId`, or undefined when it was not registered. */
export function withoutDevice(registry: DeviceRegistryFile, deviceId: string): DeviceRegistryFile | undefined {
  const devices = registry.devices.filter((device) => device.deviceId !== deviceId);
  return devices.length === registry.devices.length ? undefined : { ...registry, devices };
}

export class DeviceAlreadyRegisteredError extends Error {
  override name = 'DeviceAlreadyRegisteredError';
  constructor(readonly deviceId: string) {
    super(`device ${deviceId} is registered already; revoke it first to issue a new secret`);
  }
}

/** Mosquitto's password file for the registered devices (`password_file` of the device listener). */
export function mosquittoPasswordFile(registry: DeviceRegistryFile): string {
  return registry.devices.map((device) => `${device.deviceId}:${device.mosquittoHash}\n`).join('');
}

/**
 * Mosquitto's ACL for the device listener: `%u` is the username, which Mosquitto also makes the
 * client ID there (`use_username_as_clientid true`), so a device reaches its own topics only.
 */
export function mosquittoDeviceAcl(prefix: string): string {
  return [
    '# People Counter devices (generated by `people-counter devices mosquitto-acl`): username = device ID,',
    '# own topics only. For the device listener, next to use_username_as_clientid true (docs/system.md).',
    `pattern write ${prefix}/devices/%u/image`,
    `pattern readwrite ${prefix}/devices/%u/availability`,
    `pattern read ${prefix}/devices/%u/count`,
    '',
  ].join('\n');
}

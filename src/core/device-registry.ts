/**
 * The device registry on disk (`<data-dir>/devices.json`, mode 0600, replaced atomically) and its
 * live view. Every process that checks devices (the broker, ingest, engage) opens the live view: it
 * watches the file's folder and re-reads the file when it is replaced, so `people-counter devices
 * revoke` takes effect in running services without a restart. Writers (the CLI, engage's API)
 * read, change and replace the whole file, one at a time across processes (`devices.json.lock`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  type DeviceCredential,
  type DeviceRegistryFile,
  deviceRegistryFileSchema,
  EMPTY_REGISTRY,
  issueDeviceCredential,
  mosquittoPasswordFile,
  registrableDeviceIdProblem,
  secretMatches,
  withDevice,
  withoutDevice,
} from './device-credentials.js';
import { withFileLock } from './file-lock.js';
import type { Logger } from './log.js';
import { describeZodError } from './messages.js';
import { PRIVATE_DIR_MODE, replaceFilePrivately } from './private-files.js';

/** The registry file is missing a piece or is not what this version writes. */
export class DeviceRegistryFileError extends Error {
  override name = 'DeviceRegistryFileError';
}

export class InvalidDeviceIdForRegistryError extends Error {
  override name = 'InvalidDeviceIdForRegistryError';
}

/** The registry in `path`; a missing file is an empty registry. */
export async function readDeviceRegistry(path: string): Promise<DeviceRegistryFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_REGISTRY;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DeviceRegistryFileError(`device registry ${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = deviceRegistryFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new DeviceRegistryFileError(`device registry ${path} is invalid: ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** Replaces the file at once (temporary file in the same folder, then rename), readable by its owner only. */
export async function writeDeviceRegistry(path: string, registry: DeviceRegistryFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  await replaceFilePrivately(path, `${JSON.stringify(registry, null, 2)}\n`);
}

/** A device as listed: never its hashes. */
export interface RegisteredDevice {
  deviceId: string;
  createdAt: number;
}

/** What else a change of the registry rewrites, inside the same lock. */
export interface RegistryWriteOptions {
  /**
   * Mosquitto's password file of the device listener, rewritten from the registry as it now is: in
   * the lock, so that of two changes the later one's file is the one left.
   */
  mosquittoPasswordFile?: string;
}

/**
 * Reads the registry, changes it and writes it back, exclusive of every other writer in any process
 * (the lock next to the file): without it, a `devices revoke` could be undone by an `add` that read
 * the file before it. `change` returns the new registry (undefined: nothing to write) and a result.
 */
export async function updateDeviceRegistry<T>(
  path: string,
  change: (registry: DeviceRegistryFile) => { registry: DeviceRegistryFile | undefined; result: T },
  options: RegistryWriteOptions = {},
): Promise<T> {
  await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  return withFileLock(path, async () => {
    const current = await readDeviceRegistry(path);
    const { registry, result } = change(current);
    if (registry) await writeDeviceRegistry(path, registry);
    if (options.mosquittoPasswordFile !== undefined) {
      // In place, not renamed over: the file keeps the owner and mode Mosquitto reads it with.
      await writeFile(options.mosquittoPasswordFile, mosquittoPasswordFile(registry ?? current), { mode: 0o600 });
    }
    return result;
  });
}

/** Writes Mosquitto's password file for the registry at `path` (`devices mosquitto-passwd`). */
export function exportMosquittoPasswordFile(path: string, out: string): Promise<void> {
  return updateDeviceRegistry(path, () => ({ registry: undefined, result: undefined }), { mosquittoPasswordFile: out });
}

/** Adds a device to the file and returns its secret (shown once, never stored in clear). */
export async function registerDevice(
  path: string,
  deviceId: string,
  nowSeconds: number,
  options: RegistryWriteOptions = {},
): Promise<{ secret: string; device: RegisteredDevice }> {
  const problem = registrableDeviceIdProblem(deviceId);
  if (problem) throw new InvalidDeviceIdForRegistryError(problem);
  // Hashed before the lock is taken: scrypt and PBKDF2 take tens of milliseconds.
  const { secret, credential } = await issueDeviceCredential(deviceId, nowSeconds);
  await updateDeviceRegistry(
    path,
    (registry) => ({ registry: withDevice(registry, credential), result: undefined }),
    options,
  );
  return { secret, device: { deviceId, createdAt: credential.createdAt } };
}

/** Removes a device from the file; false when it was not registered. */
export function revokeDevice(path: string, deviceId: string, options: RegistryWriteOptions = {}): Promise<boolean> {
  return updateDeviceRegistry(
    path,
    (registry) => {
      const remaining = withoutDevice(registry, deviceId);
      return { registry: remaining, result: remaining !== undefined };
    },
    options,
  );
}

function listed(registry: DeviceRegistryFile): RegisteredDevice[] {
  return registry.devices.map(({ deviceId, createdAt }) => ({ deviceId, createdAt }));
}

const sha256 = (secret: string | Buffer) => createHash('sha256').update(secret).digest();

/**
 * The registry as the running services see it: checks secrets, follows the file, and tells
 * listeners when devices were added or revoked (the broker then disconnects revoked devices).
 */
export class LiveDeviceRegistry {
  private registry: DeviceRegistryFile = EMPTY_REGISTRY;
  private readonly listeners = new Set<() => void>();
  private watcher: FSWatcher | undefined;
  /** Reloads run one at a time; a change seen meanwhile triggers one more. */
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  /** Writes of this process, one at a time (the file is read, changed and replaced whole). */
  private writes: Promise<unknown> = Promise.resolve();
  /**
   * SHA-256 of secrets that passed scrypt, by device and salt: a camera posting every few seconds
   * must not cost 40 ms of scrypt each time. A wrong secret still goes through scrypt.
   */
  private readonly verified = new Map<string, { salt: string; digest: Buffer }>();

  private constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Reads the file (a missing one is empty; an invalid one throws) and, unless `watch: false`, follows it. */
  static async open(path: string, options: { logger: Logger; watch?: boolean }): Promise<LiveDeviceRegistry> {
    const live = new LiveDeviceRegistry(path, options.logger);
    live.registry = await readDeviceRegistry(path);
    if (options.watch ?? true) {
      await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
      const name = basename(path);
      // The folder, not the file: each write renames a new file over the old one.
      live.watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) live.reload();
      });
      live.watcher.on('error', (error) =>
        options.logger.error({ err: error, path }, 'cannot watch the device registry'),
      );
      // A write between the read above and the watch would otherwise go unseen.
      live.reload();
    }
    return live;
  }

  get size(): number {
    return this.registry.devices.length;
  }

  list(): RegisteredDevice[] {
    return listed(this.registry);
  }

  has(deviceId: string): boolean {
    return this.credentialOf(deviceId) !== undefined;
  }

  /**
   * The credential `secret` belongs to, or undefined when the device is not registered or the
   * secret is wrong. The broker keeps it to notice a later revocation.
   */
  async verify(deviceId: string, secret: string | Buffer | undefined): Promise<DeviceCredential | undefined> {
    const credential = this.credentialOf(deviceId);
    if (credential === undefined || secret === undefined) return undefined;
    const digest = sha256(secret);
    const known = this.verified.get(deviceId);
    if (known?.salt === credential.scrypt.salt && timingSafeEqual(known.digest, digest)) return credential;
    if (!(await secretMatches(credential, secret))) return undefined;
    // Still the same record after the await (not revoked meanwhile)?
    if (this.credentialOf(deviceId) !== credential) return undefined;
    this.verified.set(deviceId, { salt: credential.scrypt.salt, digest });
    return credential;
  }

  /** Whether `credential` is still the device's current one (false once revoked or reissued). */
  isCurrent(credential: DeviceCredential): boolean {
    return this.credentialOf(credential.deviceId) === credential;
  }

  /** Registers a device; the secret is returned once. Throws DeviceAlreadyRegisteredError, InvalidDeviceIdForRegistryError. */
  add(deviceId: string, nowSeconds: number): Promise<{ secret: string; device: RegisteredDevice }> {
    return this.write(() => registerDevice(this.path, deviceId, nowSeconds));
  }

  /** Revokes a device at once in this process (other processes follow the file); false when it was unknown. */
  revoke(deviceId: string): Promise<boolean> {
    return this.write(() => revokeDevice(this.path, deviceId));
  }

  /** Calls `listener` after each change of the registered devices; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners.clear();
  }

  private credentialOf(deviceId: string): DeviceCredential | undefined {
    return this.registry.devices.find((device) => device.deviceId === deviceId);
  }

  private async write<T>(change: () => Promise<T>): Promise<T> {
    const result = this.writes.then(async () => {
      const outcome = await change();
      await this.load();
      return outcome;
    });
    this.writes = result.catch(() => undefined);
    return result;
  }

  private reload(): void {
    if (this.reloading) {
      this.reloadAgain = true;
      return;
    }
    this.reloading = this.load()
      .catch((error: unknown) =>
        // A broken file (edited by hand) must not open the door: the last good registry stays in force.
        this.logger.error({ err: error, path: this.path }, 'device registry not reloaded; the previous one stays'),
      )
      .finally(() => {
        this.reloading = undefined;
        if (this.reloadAgain) {
          this.reloadAgain = false;
          this.reload();
        }
      });
  }

  private async load(): Promise<void> {
    const next = await readDeviceRegistry(this.path);
    if (JSON.stringify(next) === JSON.stringify(this.registry)) return;
    // Records that did not change keep their identity, so isCurrent() stays true for them.
    const previous = new Map(this.registry.devices.map((device) => [device.deviceId, device]));
    this.registry = {
      ...next,
      devices: next.devices.map((device) => {
        const old = previous.get(device.deviceId);
        return old && JSON.stringify(old) === JSON.stringify(device) ? old : device;
      }),
    };
    for (const deviceId of this.verified.keys()) {
      if (!this.has(deviceId)) this.verified.delete(deviceId);
    }
    this.logger.info({ path: this.path, devices: this.size }, 'device registry loaded');
    for (const listener of this.listeners) listener();
  }
}

/** Who may send photos as which device over REST (ingest's `Authorization: Bearer <secret>`). */
export interface DeviceAccess {
  /** Whether a device must present its own secret; false = anyone may send (an empty registry on loopback). */
  enforced(): boolean;
  /** Whether `secret` is the device's own. */
  accepts(deviceId: string, secret: string | undefined): Promise<boolean>;
}

/**
 * The registry as a REST gate: enforced as soon as it holds a device, and from the start unless
 * `openWhileEmpty` (`up` on loopback, so that a first photo needs no set-up).
 */
export function registryAccess(
  registry: LiveDeviceRegistry,
  { openWhileEmpty }: { openWhileEmpty: boolean },
): DeviceAccess {
  return {
    enforced: () => registry.size > 0 || !openWhileEmpty,
    accepts: async (deviceId, secret) => (await registry.verify(deviceId, secret)) !== undefined,
  };
}

import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DEVICE_REGISTRY_FILE,
  DeviceAlreadyRegisteredError,
  mosquittoPasswordFile,
  registrableDeviceIdProblem,
} from '../../src/core/device-credentials.js';
import {
  DeviceRegistryFileError,
  LiveDeviceRegistry,
  readDeviceRegistry,
  registerDevice,
  revokeDevice,
} from '../../src/core/device-registry.js';
import { silentLogger } from '../../src/core/log.js';

const CAMERA = '0b7c1c5e-7a44-4c7e-9b8a-2f1d3c4e5a6b';
const OTHER_CAMERA = '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';

/** Resolves at the registry's next change event. */
function nextChange(registry: LiveDeviceRegistry): Promise<void> {
  return new Promise((resolve) => {
    const off = registry.onChange(() => {
      off();
      resolve();
    });
  });
}

describe('device registry', () => {
  let dir: string;
  let path: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pc-devices-'));
    path = join(dir, DEVICE_REGISTRY_FILE);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('add → the secret verifies; a wrong secret or another device does not', async () => {
    const registry = await LiveDeviceRegistry.open(path, { logger: silentLogger(), watch: false });
    const { secret, device } = await registry.add(CAMERA, 1_800_000_000);
    assert.deepEqual(device, { deviceId: CAMERA, createdAt: 1_800_000_000 });
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(await registry.verify(CAMERA, secret));
    assert.ok(await registry.verify(CAMERA, Buffer.from(secret)), 'an MQTT password arrives as bytes');
    assert.ok(await registry.verify(CAMERA, secret), 'again, from the cache of checked secrets');
    assert.equal(await registry.verify(CAMERA, `${secret.slice(0, -1)}x`), undefined);
    assert.equal(await registry.verify(CAMERA, undefined), undefined);
    assert.equal(await registry.verify(OTHER_CAMERA, secret), undefined);
    await assert.rejects(registry.add(CAMERA, 1_800_000_001), DeviceAlreadyRegisteredError);
    assert.deepEqual(registry.list(), [device]);
    registry.close();
  });

  test('the file is 0600, holds no secret in clear, and is schema-checked on load', async () => {
    const { secret } = await registerDevice(path, OTHER_CAMERA, 1_800_000_100);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const text = await readFile(path, 'utf8');
    assert.equal(text.includes(secret), false);
    assert.equal(text.includes(Buffer.from(secret).toString('base64')), false);
    assert.deepEqual(
      (await readDeviceRegistry(path)).devices.map((device) => device.deviceId),
      [CAMERA, OTHER_CAMERA],
    );
    const broken = join(dir, 'broken.json');
    await writeFile(broken, JSON.stringify({ version: 1, devices: [{ deviceId: CAMERA }] }));
    await assert.rejects(readDeviceRegistry(broken), (error: unknown) => {
      assert.ok(error instanceof DeviceRegistryFileError);
      assert.match(error.message, /broken\.json is invalid: .*createdAt/);
      return true;
    });
    await writeFile(broken, 'not json');
    await assert.rejects(readDeviceRegistry(broken), /is not JSON/);
  });

  test('the Mosquitto password line is a $7$ PBKDF2-SHA512 hash of the same secret', async () => {
    const mosquittoPath = join(dir, 'mosquitto.json');
    const { secret } = await registerDevice(mosquittoPath, CAMERA, 1);
    const [line] = mosquittoPasswordFile(await readDeviceRegistry(mosquittoPath))
      .trim()
      .split('\n');
    const [user, hashField] = (line ?? '').split(':');
    assert.equal(user, CAMERA);
    const [, kind, iterations, salt, hash] = (hashField ?? '').split('$');
    assert.equal(kind, '7');
    const expected = pbkdf2Sync(secret, Buffer.from(salt ?? '', 'base64'), Number(iterations), 64, 'sha512');
    assert.equal(hash, expected.toString('base64'));
  });

  test('a revocation by another writer is picked up from the file, and the device is refused', async () => {
    const registry = await LiveDeviceRegistry.open(path, { logger: silentLogger() });
    const watchedPath = path;
    const { secret } = await registerDevice(join(dir, 'scratch.json'), 'spare-camera', 1);
    assert.equal(await registry.verify('spare-camera', secret), undefined, 'registered elsewhere only');
    const credential = await registry.verify(OTHER_CAMERA, await reissued());
    assert.ok(credential);
    assert.ok(registry.isCurrent(credential));
    const changed = nextChange(registry);
    assert.equal(await revokeDevice(watchedPath, OTHER_CAMERA), true);
    await changed;
    assert.equal(registry.isCurrent(credential), false);
    assert.equal(registry.has(OTHER_CAMERA), false);
    assert.equal(await revokeDevice(watchedPath, OTHER_CAMERA), false, 'revoking twice');
    registry.close();

    /** OTHER_CAMERA again with a secret this test knows (the earlier one was not kept). */
    async function reissued(): Promise<string> {
      const changed = nextChange(registry);
      await revokeDevice(watchedPath, OTHER_CAMERA);
      await changed;
      const added = nextChange(registry);
      const { secret } = await registerDevice(watchedPath, OTHER_CAMERA, 2);
      await added;
      return secret;
    }
  });

  test('a broken file written while running leaves the last good registry in force', async () => {
    const registry = await LiveDeviceRegistry.open(path, { logger: silentLogger() });
    const before = registry.list();
    await writeFile(path, '{"version": 1, "devices": [');
    // A valid write afterwards is still followed: the watcher survived the bad one.
    const changed = nextChange(registry);
    await registerDevice(join(dir, 'other.json'), OTHER_CAMERA, 3);
    await writeFile(path, await readFile(join(dir, 'other.json')));
    await changed;
    assert.notDeepEqual(registry.list(), before);
    assert.deepEqual(
      registry.list().map((device) => device.deviceId),
      [OTHER_CAMERA],
    );
    registry.close();
  });

  test('service names and client-ID prefixes cannot be registered as devices', () => {
    assert.equal(registrableDeviceIdProblem(CAMERA), null);
    assert.match(registrableDeviceIdProblem('ingest') ?? '', /service account/);
    assert.match(registrableDeviceIdProblem('pc-engage-host') ?? '', /reserved/);
    assert.match(registrableDeviceIdProblem('a/b') ?? '', /separator/);
  });
});

import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import { on, once } from 'node:events';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEVICE_REGISTRY_FILE, DeviceAlreadyRegisteredError } from '../../src/core/device-credentials.js';
import { readDeviceRegistry, registerDevice } from '../../src/core/device-registry.js';
import { FileLockTimeoutError, lockPathOf, withFileLock } from '../../src/core/file-lock.js';
import { killOnExit } from '../helpers/processes.js';
import type { WriterOperation, WriterReport } from '../helpers/registry-writer.js';

const WRITER = new URL('../helpers/registry-writer.js', import.meta.url);
const ROUNDS = 4;
const ADDERS = 6;

/** A registry writer in a process of its own, started and waiting for `go`. */
async function startWriter(path: string, operation: WriterOperation, deviceId: string) {
  const child = fork(WRITER, [path, operation, deviceId], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  killOnExit(child);
  const exited = once(child, 'exit');
  const reports = on(child, 'message') as AsyncIterableIterator<[WriterReport]>;
  const next = async () => (await reports.next()).value?.[0];
  assert.deepEqual(await next(), { ready: true }, `${operation} ${deviceId} started`);
  return {
    /** Starts the write; resolves once it is written and the process has exited. */
    go: async () => {
      child.send('go');
      assert.deepEqual(await next(), { done: true }, `${operation} ${deviceId}`);
      await exited;
    },
  };
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The pid of a process that has exited (and whose pid is not reused this soon). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid ?? assert.fail('no pid');
}

describe('device registry writers in several processes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pc-devices-lock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test(`${ADDERS} processes adding and one revoking at once, ${ROUNDS} rounds: every add kept, the revoked device gone`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const path = join(dir, `round-${round}`, DEVICE_REGISTRY_FILE);
      const stolen = `stolen-${round}`;
      await registerDevice(path, stolen, 1);
      const added = Array.from({ length: ADDERS }, (_, i) => `camera-${round}-${i}`);
      const adders = await Promise.all(added.map((id) => startWriter(path, 'add', id)));
      const revoker = await startWriter(path, 'revoke', stolen);
      // The revocation starts when the first add is written: the others are then mid-way (each
      // reads the file after hashing its secret), which is when an unlocked writer would undo it.
      const adds = adders.map((adder) => adder.go());
      await Promise.race(adds);
      await Promise.all([...adds, revoker.go()]);
      const devices = (await readDeviceRegistry(path)).devices.map((device) => device.deviceId);
      assert.deepEqual([...devices].sort(), [...added].sort(), `round ${round}`);
      assert.equal(await exists(lockPathOf(path)), false, 'the lock is released');
    }
  });

  test('a lock left by a dead process is taken over; the lock is released when the change fails', async () => {
    const path = join(dir, 'dead-holder', DEVICE_REGISTRY_FILE);
    await mkdir(join(dir, 'dead-holder'));
    const holder = { pid: await deadPid(), host: hostname(), at: Date.now(), token: 'dead' };
    await writeFile(lockPathOf(path), JSON.stringify(holder));
    await registerDevice(path, 'camera', 1);
    assert.deepEqual(
      (await readDeviceRegistry(path)).devices.map((device) => device.deviceId),
      ['camera'],
    );
    assert.equal(await exists(lockPathOf(path)), false);
    await assert.rejects(registerDevice(path, 'camera', 2), DeviceAlreadyRegisteredError);
    assert.equal(await exists(lockPathOf(path)), false, 'released after the refused add');
  });

  test("a live holder's lock is waited for; one older than staleMs is taken over whoever holds it", async () => {
    const path = join(dir, 'live-holder');
    const live = { pid: process.pid, host: hostname(), at: Date.now(), token: 'live' };
    await writeFile(lockPathOf(path), JSON.stringify(live));
    await assert.rejects(
      withFileLock(path, async () => assert.fail('ran without the lock'), { waitMs: 50 }),
      (error: unknown) => error instanceof FileLockTimeoutError && error.message.includes(`pid ${process.pid}`),
    );
    // From another machine (its pid cannot be checked here), long ago.
    const old = { pid: 1, host: 'elsewhere', at: Date.now() - 60_000, token: 'old' };
    await writeFile(lockPathOf(path), JSON.stringify(old));
    assert.equal(await withFileLock(path, async () => 'ran', { staleMs: 30_000 }), 'ran');
    assert.equal(await exists(lockPathOf(path)), false);
  });
});

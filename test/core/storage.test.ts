import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  InvalidObjectKeyError,
  LocalObjectStore,
  ObjectNotFoundError,
  type ObjectStore,
  S3ObjectStore,
  StorageUnavailableError,
} from '../../src/core/storage/index.js';
import { startS3 } from '../helpers/s3rver.js';

const BUCKET = 'people-counter-images';

/** The contract both implementations share. */
async function checkContract(store: ObjectStore): Promise<void> {
  await store.ensureBucket(BUCKET);
  await store.ensureBucket(BUCKET); // idempotent
  assert.deepEqual(await store.list(BUCKET), []);
  const body = Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]);
  await store.put(BUCKET, 'imageb.jpg', body, { 'device-id': 'd1', 'creation-timestamp': '1700000000.5' });
  await store.put(BUCKET, 'imagea.jpg', Buffer.from('a'));
  await store.put(BUCKET, 'other.jpg', Buffer.from('o'));
  const got = await store.get(BUCKET, 'imageb.jpg');
  assert.deepEqual(got.body, body);
  assert.deepEqual(got.metadata, { 'device-id': 'd1', 'creation-timestamp': '1700000000.5' });
  assert.deepEqual((await store.get(BUCKET, 'imageb.jpg', { metadata: false })).body, body);
  await assert.rejects(store.get(BUCKET, 'missing.jpg', { metadata: false }), ObjectNotFoundError);
  assert.ok(await store.exists(BUCKET, 'imagea.jpg'));
  assert.equal(await store.exists(BUCKET, 'missing.jpg'), false);
  await assert.rejects(store.get(BUCKET, 'missing.jpg'), ObjectNotFoundError);
  const listed = await store.list(BUCKET, 'image');
  assert.deepEqual(
    listed.map((info) => [info.key, info.size]),
    [
      ['imagea.jpg', 1],
      ['imageb.jpg', body.length],
    ],
  );
  await store.delete(BUCKET, 'imagea.jpg');
  await store.delete(BUCKET, 'imagea.jpg'); // idempotent
  assert.equal(await store.exists(BUCKET, 'imagea.jpg'), false);
  for (const bad of ['../x', 'a/b', '.hidden', '']) {
    await assert.rejects(store.put(BUCKET, bad, body), InvalidObjectKeyError, bad);
  }
}

async function inTemporaryDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-local-store-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('object stores', () => {
  test('local directory', () => inTemporaryDir((dir) => checkContract(new LocalObjectStore(dir))));

  test('local directory: a bucket folder deleted after its first put is created again', () =>
    inTemporaryDir(async (dir) => {
      const store = new LocalObjectStore(dir);
      await store.put(BUCKET, 'imagea.jpg', Buffer.from('a'), { 'device-id': 'd1' });
      await rm(join(dir, BUCKET), { recursive: true });
      await rm(join(dir, '.metadata'), { recursive: true });
      await store.put(BUCKET, 'imageb.jpg', Buffer.from('b'), { 'device-id': 'd2' });
      assert.deepEqual(await store.get(BUCKET, 'imageb.jpg'), {
        body: Buffer.from('b'),
        metadata: { 'device-id': 'd2' },
      });
      assert.deepEqual(await readdir(join(dir, BUCKET)), ['imageb.jpg']);
      assert.deepEqual(await readdir(join(dir, '.metadata', BUCKET)), ['imageb.jpg.json']);
    }));

  test('local directory: a failed put leaves neither object, sidecar nor temporary file', () =>
    inTemporaryDir(async (dir) => {
      const store = new LocalObjectStore(dir);
      await store.ensureBucket(BUCKET);
      // A directory where the object should go: its rename fails after the sidecar was written.
      await mkdir(join(dir, BUCKET, 'imagea.jpg', 'blocker'), { recursive: true });
      await assert.rejects(store.put(BUCKET, 'imagea.jpg', Buffer.from('a')), StorageUnavailableError);
      assert.deepEqual(await readdir(join(dir, BUCKET)), ['imagea.jpg']);
      assert.deepEqual(await readdir(join(dir, '.metadata', BUCKET)), []);
      await assert.rejects(store.delete(BUCKET, 'imagea.jpg'));
    }));

  test('S3 against s3rver; unreachable server → StorageUnavailableError', async () => {
    const s3 = await startS3();
    const store = new S3ObjectStore(s3.config);
    try {
      await checkContract(store);
      await s3.stop();
      await assert.rejects(store.put(BUCKET, 'imagec.jpg', Buffer.from('c')), StorageUnavailableError);
      await assert.rejects(store.exists(BUCKET, 'imagec.jpg'), StorageUnavailableError);
    } finally {
      await store.close();
    }
  });
});

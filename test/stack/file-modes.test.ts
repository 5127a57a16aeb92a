/**
 * What the system writes to disk is its own user's only: photos 0600, the data dir and buckets 0700,
 * the history, the ingest outbox and `up`'s message secret 0600.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { MESSAGE_SECRET_FILE } from '../../src/core/message-auth.js';
import { LocalObjectStore } from '../../src/core/storage/index.js';
import { EngageStore } from '../../src/engage/store.js';
import { OUTBOX_LOG_FILE } from '../../src/ingest/outbox-log.js';
import { startStack } from '../../src/stack/stack.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { testStackConfig } from '../helpers/stack.js';

let parent: string;
before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'pc-modes-'));
});
after(async () => {
  await rm(parent, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

test('a stored photo and its metadata are 0600, in 0700 directories', async () => {
  const root = join(parent, 'storage');
  const store = new LocalObjectStore(root);
  await store.put('people-counter-images', 'image1.jpg', await solidJpeg(8, 8), { deviceID: 'cam-1' });
  assert.equal(await modeOf(join(root, 'people-counter-images', 'image1.jpg')), 0o600);
  assert.equal(await modeOf(join(root, '.metadata', 'people-counter-images', 'image1.jpg.json')), 0o600);
  for (const dir of [root, join(root, 'people-counter-images'), join(root, '.metadata', 'people-counter-images')]) {
    assert.equal(await modeOf(dir), 0o700, dir);
  }
});

test("engage's history file (and its WAL) is 0600 in a 0700 directory", async () => {
  const dir = join(parent, 'engage-data');
  const store = new EngageStore(join(dir, 'engage.db'));
  try {
    store.upsertDevice('cam-1', { name: 'Front door' }, 1_800_000_000);
    assert.equal(await modeOf(dir), 0o700);
    assert.equal(await modeOf(join(dir, 'engage.db')), 0o600);
    assert.equal(await modeOf(join(dir, 'engage.db-wal')), 0o600);
  } finally {
    store.close();
  }
});

test('`up` creates its data dir 0700 with the history, the ingest outbox and the message secret 0600 in it', async () => {
  const dataDir = join(parent, 'up-data');
  const stack = await startStack(testStackConfig(dataDir, { batchSize: 1, drainMs: 1000, name: 'file-modes' }), {
    logger: silentLogger(),
  });
  try {
    assert.equal(await modeOf(dataDir), 0o700);
    assert.equal(await modeOf(join(dataDir, 'engage.db')), 0o600);
    assert.equal(await modeOf(join(dataDir, MESSAGE_SECRET_FILE)), 0o600);
    assert.equal(await modeOf(join(dataDir, 'storage')), 0o700);
    assert.equal(await modeOf(join(dataDir, 'ingest-outbox')), 0o700);
    assert.equal(await modeOf(join(dataDir, 'ingest-outbox', OUTBOX_LOG_FILE)), 0o600);
  } finally {
    await stack.stop();
  }
});

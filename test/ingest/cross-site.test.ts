/** Ingest's REST API refuses photos a page on another site posts through a browser; devices are unaffected. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { RunningBroker } from '../../src/broker/broker.js';
import { IMAGE_BUCKET } from '../../src/core/ids.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { type Harness, postPhoto, startHarness, temporaryStore } from './harness.js';

let broker: RunningBroker;
let local: Awaited<ReturnType<typeof temporaryStore>>;
let harness: Harness;
before(async () => {
  broker = await startEmbeddedBroker();
  local = await temporaryStore();
  harness = await startHarness(mqttConfigFor(broker.url), local.store);
});
after(async () => {
  await harness.stop();
  await broker.stop();
  await local.remove();
});

test('a cross-site upload gets 403 and stores nothing; a device without browser headers still uploads', async () => {
  const photo = await solidJpeg(16, 16);
  const jpeg = { 'content-type': 'image/jpeg' };
  const crossSite: Array<Record<string, string>> = [
    { origin: 'http://evil.example' },
    { 'sec-fetch-site': 'cross-site' },
  ];
  for (const browser of crossSite) {
    const response = await postPhoto(harness.service.url, randomUUID(), photo, { ...jpeg, ...browser });
    assert.equal(response.status, 403, JSON.stringify(browser));
    assert.equal(((await response.json()) as { error: string }).error, 'cross-site-request');
  }
  assert.deepEqual(await local.store.list(IMAGE_BUCKET), []);
  const device = await postPhoto(harness.service.url, randomUUID(), photo, jpeg);
  assert.equal(device.status, 201);
  assert.equal((await local.store.list(IMAGE_BUCKET)).length, 1);
});

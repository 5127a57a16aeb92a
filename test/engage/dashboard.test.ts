/**
 * End to end in a real browser (Debian's chromium via playwright-core): the dashboard loads, shows
 * seeded history, and a result published over MQTT appears on the tile without a reload. Saves
 * test-output/dashboard.png (and docs/dashboard.png when PEOPLE_COUNTER_DOCS_SCREENSHOT=1).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import type { RunningBroker } from '../../src/broker/broker.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import type { EngageService } from '../../src/engage/service.js';
import { binaryPath, missingBinary } from '../helpers/binaries.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { result, startEngage } from './fixtures.js';

const skip = missingBinary('chromium');
const TOKEN = 'dashboard-test-token';

const cameras = [
  { id: 'cam-entrance', name: 'Main entrance', site: 'hq-lobby', capacity: 30, peak: 22 },
  { id: 'cam-reception', name: 'Reception', site: 'hq-lobby', capacity: 15, peak: 9 },
  { id: 'cam-cafe-east', name: 'Cafeteria east', site: 'hq-cafeteria', capacity: 60, peak: 48 },
  { id: 'cam-cafe-west', name: 'Cafeteria west', site: 'hq-cafeteria', capacity: 60, peak: 41 },
  { id: 'cam-loading', name: 'Loading dock', site: null, capacity: null, peak: 4 },
];

/** A working day's shape: quiet at night, busy late morning and at lunch. Deterministic. */
function occupancy(peak: number, unixSeconds: number, salt: number): number {
  const hour = (new Date(unixSeconds * 1000).getUTCHours() + new Date(unixSeconds * 1000).getUTCMinutes() / 60) % 24;
  const day = Math.exp(-((hour - 10.5) ** 2) / 6) * 0.7 + Math.exp(-((hour - 12.75) ** 2) / 1.2) * 0.6;
  const noise = Math.sin(unixSeconds / 977 + salt) * 0.08 + Math.sin(unixSeconds / 211 + salt * 3) * 0.05;
  return Math.max(0, Math.round(peak * Math.min(1, day + noise)));
}

let broker: RunningBroker;
let engage: EngageService;
let browser: Browser;
let publisher: MessageRecorder | undefined;

before(async () => {
  if (skip) return;
  broker = await startEmbeddedBroker();
  engage = await startEngage(broker, { token: TOKEN, staleAfterMs: 300_000 });
  const now = Date.now() / 1000;
  // A week of history every 10 minutes, the last day every 2 minutes (seeded directly: fixture data).
  cameras.forEach((camera, salt) => {
    // The loading dock's camera stopped sending 25 minutes ago: the dashboard must show it stale.
    const last = camera.id === 'cam-loading' ? now - 1500 : now - 120;
    for (let t = now - 7 * 86_400; t < last; t += t < now - 86_400 ? 600 : 120) {
      engage.store.recordResult(result(camera.id, occupancy(camera.peak, t, salt), t), t);
    }
    engage.store.upsertDevice(camera.id, { name: camera.name, site: camera.site, capacity: camera.capacity }, now);
  });
  engage.store.putRule(
    { id: 'cafeteria-full', scope: 'site', target: 'hq-cafeteria', raiseAtPercent: 90, clearBelowPercent: 90 },
    now,
  );
  // Yesterday's lunch rush, as alerts from the past.
  const rush = [
    { state: 'raised' as const, count: 110, at: now - 86_400 - 1800 },
    { state: 'cleared' as const, count: 95, at: now - 86_400 + 900 },
  ];
  for (const [i, past] of rush.entries()) {
    engage.store.recordAlert({
      type: 'alert',
      version: 1,
      alertId: `past-${i}`,
      ruleId: 'cafeteria-full',
      scope: 'site',
      target: 'hq-cafeteria',
      capacity: 120,
      raiseAt: 108,
      clearBelow: 97.2,
      ...past,
    });
  }
  browser = await chromium.launch({
    executablePath: binaryPath('chromium'),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await publisher?.stop();
  await browser?.close();
  await engage?.stop();
  await broker?.stop();
});

test('live tiles update without reload; history, sites and alerts render', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(engage.url);
  await page.locator('[data-device="cam-entrance"]').waitFor();
  await page.locator('#history-chart .uplot').waitFor();
  await page.evaluate(() => {
    (window as unknown as { marker: number }).marker = 42;
  });

  publisher = await MessageRecorder.start(broker.url, ['people-counter/alerts']);
  const now = Date.now() / 1000;
  const live = cameras
    .filter((camera) => camera.id !== 'cam-loading')
    .map((camera, salt) => result(camera.id, occupancy(camera.peak, now, salt), now - 2));
  // The cafeteria at 56 + 53 of 120: at or above 90 %, so its alert rule raises.
  live[2] = result('cam-cafe-east', 56, now - 1);
  live[3] = result('cam-cafe-west', 53, now - 1);
  for (const message of live)
    await publisher.client.publishAsync('people-counter/results', JSON.stringify(message), { qos: 1 });

  const countOf = (id: string) => page.locator(`[data-device="${id}"] [data-role="count"]`);
  await page.waitForFunction(
    () => document.querySelector('[data-device="cam-cafe-east"] [data-role="count"]')?.textContent === '56',
  );
  assert.equal(await countOf('cam-cafe-west').textContent(), '53');
  assert.equal(await page.locator('[data-site="hq-cafeteria"] [data-role="count"]').textContent(), '109');
  await page.locator('.alert.raised').first().waitFor();
  assert.equal(await page.locator('[data-device="cam-loading"]').getAttribute('data-state'), 'stale');
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'no reload');

  // Device names are user input: rendered as text, never as HTML.
  const hostile = '<img src=x onerror="window.pwned=1">';
  await engage.http.inject({
    method: 'PUT',
    url: '/api/devices/cam-loading',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { name: hostile },
  });
  await page.waitForFunction(
    (name) => document.querySelector('[data-device="cam-loading"] h3')?.textContent === name,
    hostile,
  );
  assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
  await engage.http.inject({
    method: 'PUT',
    url: '/api/devices/cam-loading',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { name: 'Loading dock' },
  });
  await page.waitForFunction(
    () => document.querySelector('[data-device="cam-loading"] h3')?.textContent === 'Loading dock',
  );

  // Show a day of the cafeteria in the chart.
  await page.selectOption('#history-subject', 'site:hq-cafeteria');
  await page.locator('#history-note', { hasText: 'buckets of 1m' }).waitFor();
  await page.waitForTimeout(300); // let the chart finish drawing before the picture (not an assertion)
  await mkdir('test-output', { recursive: true });
  await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true });
  if (process.env.PEOPLE_COUNTER_DOCS_SCREENSHOT === '1') {
    await copyFile('test-output/dashboard.png', 'docs/dashboard.png');
  }
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  await phone.goto(engage.url);
  await phone.locator('[data-device="cam-entrance"]').waitFor();
  await phone.locator('#history-chart .uplot').waitFor();
  await phone.screenshot({ path: 'test-output/dashboard-phone.png', fullPage: true });
  const tooWide = await phone.evaluate(() =>
    Array.from(document.querySelectorAll('body *'))
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map((element) => `${element.tagName}.${element.className}`),
  );
  assert.deepEqual(tooWide, [], 'nothing sticks out sideways on a phone');
  assert.deepEqual(errors, []);
});

test('a photo dropped for a new camera goes to ingestion and its count appears', { skip }, async () => {
  const uploads: Array<{ deviceId: string; bytes: number }> = [];
  let demo: EngageService | undefined;
  const ingestPhoto = async (deviceId: string, jpeg: Buffer): Promise<PhotoMetadata> => {
    uploads.push({ deviceId, bytes: jpeg.length });
    const metadata: PhotoMetadata = {
      type: 'data',
      deviceID: deviceId,
      filePath: 'people-counter-images/image1f0e9d8c-7b6a-4f5e-9d4c-3b2a1f0e9d8c.jpg',
      creationTimestamp: Date.now() / 1000,
    };
    // Stand in for inference: count the photo a moment later.
    setTimeout(() => {
      demo?.store.recordResult(result(deviceId, 2, metadata.creationTimestamp), metadata.creationTimestamp);
      void demo?.engine.refresh();
    }, 50);
    return metadata;
  };
  demo = await startEngage(broker, { openWrites: true }, { ingestPhoto });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(demo.url);
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.selectOption('#upload-device', '__new__');
    const newId = (await page.locator('#upload-new-id').textContent())?.replace('New camera ID: ', '') ?? '';
    assert.match(newId, /^[0-9a-f-]{36}$/);
    const jpeg = await solidJpeg(64, 48);
    await page.setInputFiles('#upload-file', { name: 'door.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.click('#upload-form button[type="submit"]');
    await page.locator('#upload-status[data-kind="ok"]').waitFor();
    assert.deepEqual(uploads, [{ deviceId: newId, bytes: jpeg.length }]);
    await page.waitForFunction(
      (id) => document.querySelector(`[data-device="${id}"] [data-role="count"]`)?.textContent === '2',
      newId,
    );
  } finally {
    await page.close();
    await demo.stop();
  }
});

/**
 * "Tune counting" end to end in Chromium on the whole stack (`up`: broker, storage, the real model,
 * one inference instance, ingest, engage): collect 6 photos of one camera, label them, fit, apply;
 * the camera's next photo is counted with the new profile (its result carries the hash) and no
 * tuning photo is left in storage.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { parseAnalyticsSpec } from '../../src/analytics/counter-spec.js';
import { SINGLE_TILE } from '../../src/analytics/tiling.js';
import { TUNING_BUCKET } from '../../src/core/live-profile.js';
import { silentLogger } from '../../src/core/log.js';
import type { ResultMessage } from '../../src/core/messages.js';
import { type RunningStack, startStack } from '../../src/stack/stack.js';
import { binaryPath, missingBinary } from '../helpers/binaries.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { postPhoto, testStackConfig } from '../helpers/stack.js';

const skip = missingBinary('chromium');
const CAMERA = randomUUID();
const SLOW = 300_000;

let dataDir: string;
let stack: RunningStack;
let browser: Browser;
let results: MessageRecorder;

before(async () => {
  if (skip) return;
  dataDir = await mkdtemp(join(tmpdir(), 'pc-tuning-e2e-'));
  stack = await startStack(
    testStackConfig(dataDir, {
      // An admin account for the test's own recorder (the embedded broker refuses anonymous clients).
      mqtt: { username: 'test-admin', password: 'test-admin-password' },
      analytics: parseAnalyticsSpec('local'),
      workers: 1,
      batchSize: 1,
      maxWaitMs: 50,
      // The whole frame only: the same flow at a fourteenth of the model time.
      tuningTilings: [SINGLE_TILE],
      name: `tune-${randomUUID().slice(0, 8)}`,
    }),
    { logger: silentLogger() },
  );
  results = await MessageRecorder.start(stack.urls.mqtt, [stack.topics.results], {
    username: 'test-admin',
    password: 'test-admin-password',
  });
  browser = await chromium.launch({ executablePath: binaryPath('chromium'), args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await results?.stop();
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const counted = () =>
  results
    .on(stack.topics.results)
    .map((m) => m.json<ResultMessage>())
    .filter((r) => r.deviceID === CAMERA);

/** Posts a photo of the camera and waits for its result (one at a time: none supersedes another). */
async function photo(shade: number): Promise<ResultMessage> {
  const before = counted().length;
  await postPhoto(stack.urls.ingest, CAMERA, await solidJpeg(320, 240, { r: shade, g: 255 - shade, b: 128 }));
  await waitFor(() => counted().length > before, { timeoutMs: 60_000, message: 'the photo counted' });
  return counted().at(-1) as ResultMessage;
}

test('collect 6 photos, label, fit, apply: the next photo is counted with the new profile', {
  skip,
  timeout: 600_000,
}, async () => {
  await photo(10);
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(stack.urls.engage);
  const tile = page.locator(`[data-device="${CAMERA}"]`);
  await tile.waitFor();
  await tile.getByRole('button', { name: 'Tune counting' }).click();
  await page.locator('#tuning-frames').fill('6');
  assert.match((await page.locator('#tuning-retention').textContent()) ?? '', /24 h/);
  await page.locator('#tuning-start').click();
  await page.locator('#tuning-progress').waitFor();

  for (let i = 0; i < 6; i++) await photo(40 * (i + 1));
  await page.getByText('6 photos.').waitFor({ timeout: 60_000 });
  await page.getByText('0 of 6 labelled').waitFor();

  // Frame 1 by clicking two people, the others by typing the count; Enter saves and moves on.
  await page.locator('#tuning-stage img').waitFor();
  await page.locator('#tuning-stage').click({ position: { x: 40, y: 40 } });
  await page.locator('#tuning-stage').click({ position: { x: 120, y: 80 } });
  assert.equal(await page.locator('#tuning-stage .mark').count(), 2);
  assert.equal(await page.locator('#tuning-count').inputValue(), '2');
  await page.locator('#tuning-count').press('Enter');
  await page.getByText('1 of 6 labelled').waitFor();
  for (let i = 1; i < 6; i++) {
    // The labeller moves on after the save; typing before it shows the next frame types into the old one.
    await page.getByText(`Frame ${i + 1} of 6`).waitFor();
    await page.locator('#tuning-count').fill(String(i % 3));
    await page.locator('#tuning-count').press('Enter');
    await page.getByText(`${i + 1} of 6 labelled`).waitFor();
  }

  await page.locator('#tuning-fit-button').click();
  await page.locator('#tuning-apply').waitFor({ timeout: SLOW });
  assert.match(
    (await page.locator('#tuning-result').textContent()) ?? '',
    /cross-validated on 6 frames: now \d+\.\d, tuned \d+\.\d people \(fitted on counts: some frames have no marks\)\. It runs the model (once|\d+ times) per photo/,
  );
  await page.locator('#tuning-apply').click();
  await tile.locator('.tuned-badge').waitFor();

  const profile = (await (await fetch(`${stack.urls.engage}/api/devices/${CAMERA}/profile`)).json()) as {
    hash: string;
    source: string;
  };
  assert.equal(profile.source, 'tuning');
  const next = await waitFor(
    async () => {
      const result = await photo(250);
      return result.profile === profile.hash ? result : undefined;
    },
    { timeoutMs: 120_000, message: 'a photo counted with the applied profile' },
  );
  assert.equal(next.profile, profile.hash);
  const left = await readdir(join(dataDir, 'storage', TUNING_BUCKET)).catch(() => [] as string[]);
  assert.deepEqual(
    left.filter((name) => !name.startsWith('.')),
    [],
    'no tuning photo left in storage',
  );
  await page.close();
});

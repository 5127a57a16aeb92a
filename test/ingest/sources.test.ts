import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IMAGE_BUCKET } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { deadLetterMessageSchema, photoMetadataSchema } from '../../src/core/messages.js';
import { captureStdout } from '../../src/ingest/camera-source.js';
import { nextDelay, startSimulator } from '../../src/ingest/simulator.js';
import { deviceForFile, REJECTED_FOLDER } from '../../src/ingest/watch-source.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { noiseJpeg, solidJpeg } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { type Harness, startHarness, temporaryStore } from './harness.js';

describe('pure helpers of the sources', () => {
  test('deviceForFile: subfolder names the device unless one is fixed', () => {
    assert.deepEqual(deviceForFile(join('cam-1', 'a.jpg'), undefined), { deviceId: 'cam-1' });
    assert.ok('problem' in deviceForFile('a.jpg', undefined));
    assert.ok('problem' in deviceForFile(join('a', 'b', 'c.jpg'), undefined));
    assert.deepEqual(deviceForFile('a.jpg', 'fixed'), { deviceId: 'fixed' });
  });

  test('nextDelay: fixed without jitter, 50–150 % with it', () => {
    assert.equal(nextDelay(1000, false), 1000);
    assert.equal(
      nextDelay(1000, true, () => 0),
      500,
    );
    assert.equal(
      nextDelay(1000, true, () => 0.999),
      1499,
    );
  });
});

describe('sources with the embedded broker and a local store', () => {
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  let local: Awaited<ReturnType<typeof temporaryStore>>;
  let recorder: MessageRecorder;
  let metadataTopic: string;
  let deadLetterTopic: string;

  before(async () => {
    broker = await startEmbeddedBroker();
    local = await temporaryStore();
    const config = mqttConfigFor(broker.url);
    metadataTopic = config.metadataTopic;
    deadLetterTopic = `${config.prefix}/dead-letter`;
    recorder = await MessageRecorder.start(broker.url, [metadataTopic, deadLetterTopic]);
  });
  after(async () => {
    await recorder.stop();
    await broker.stop();
    await local.remove();
  });

  test('MQTT image topic: a good JPEG is ingested; bad input becomes dead letters', async () => {
    const harness: Harness = await startHarness(mqttConfigFor(broker.url), local.store, { mqttImages: true });
    try {
      const deviceId = randomUUID();
      const metadataBefore = recorder.on(metadataTopic).length;
      await harness.mqtt.publish(harness.mqtt.topics.deviceImage(deviceId), await noiseJpeg());
      const [message] = (await recorder.waitForCount(metadataTopic, metadataBefore + 1)).slice(-1);
      const metadata = photoMetadataSchema.parse(message!.json());
      assert.equal(metadata.deviceID, deviceId);
      assert.ok(await local.store.exists(IMAGE_BUCKET, metadata.filePath.split('/')[1]!));

      await harness.mqtt.publish(harness.mqtt.topics.deviceImage(deviceId), Buffer.from('not a jpeg'));
      await harness.mqtt.publish(harness.mqtt.topics.deviceImage('not-a-uuid'), await solidJpeg());
      const letters = (await recorder.waitForCount(deadLetterTopic, 2)).map((m) =>
        deadLetterMessageSchema.parse(m.json()),
      );
      const byDevice = new Map(letters.map((letter) => [letter.deviceID, letter]));
      assert.equal(byDevice.get(deviceId)?.reason, 'undecodable-image');
      assert.match(byDevice.get(deviceId)?.detail ?? '', /not a JPEG/);
      assert.equal(byDevice.get('not-a-uuid')?.reason, 'invalid-schema');
      assert.equal(byDevice.get('not-a-uuid')?.topic, harness.mqtt.topics.deviceImage('not-a-uuid'));
      assert.equal(recorder.on(metadataTopic).length, metadataBefore + 1, 'bad input published no metadata');

      // Still serving after bad input.
      await harness.mqtt.publish(harness.mqtt.topics.deviceImage(deviceId), await solidJpeg());
      await recorder.waitForCount(metadataTopic, metadataBefore + 2);
    } finally {
      await harness.stop();
    }
  });

  test('MQTT image topic: a burst of 60 photos is ingested completely (no loss)', async () => {
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, { mqttImages: true });
    try {
      const deviceId = randomUUID();
      const jpeg = await solidJpeg(160, 120);
      const metadataBefore = recorder.on(metadataTopic).length;
      const burst = 60;
      await Promise.all(
        Array.from({ length: burst }, () => harness.mqtt.publish(harness.mqtt.topics.deviceImage(deviceId), jpeg)),
      );
      await recorder.waitForCount(metadataTopic, metadataBefore + burst, 30_000);
      const ingested = recorder
        .on(metadataTopic)
        .slice(metadataBefore)
        .map((m) => photoMetadataSchema.parse(m.json()));
      assert.equal(new Set(ingested.map((m) => m.filePath)).size, burst);
    } finally {
      await harness.stop();
    }
  });

  test('MQTT image topic: a flood beyond the queue limit is shed with "overloaded" dead letters, none lost silently', async () => {
    const jpeg = await noiseJpeg(640, 480);
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, {
      mqttImages: true,
      mqttMaxQueuedBytes: jpeg.length * 3,
    });
    try {
      const deviceId = randomUUID();
      const metadataBefore = recorder.on(metadataTopic).length;
      const lettersBefore = recorder.on(deadLetterTopic).length;
      const flood = 40;
      await Promise.all(
        Array.from({ length: flood }, () => harness.mqtt.publish(harness.mqtt.topics.deviceImage(deviceId), jpeg)),
      );
      await waitFor(
        () =>
          recorder.on(metadataTopic).length - metadataBefore + recorder.on(deadLetterTopic).length - lettersBefore ===
          flood,
        { timeoutMs: 30_000, message: 'an outcome for every photo of the flood' },
      );
      const letters = recorder
        .on(deadLetterTopic)
        .slice(lettersBefore)
        .map((m) => deadLetterMessageSchema.parse(m.json()));
      assert.ok(letters.length > 0, 'the flood exceeded the queue');
      assert.ok(letters.every((letter) => letter.reason === 'overloaded' && letter.deviceID === deviceId));
      assert.ok(recorder.on(metadataTopic).length > metadataBefore, 'some photos were ingested');
    } finally {
      await harness.stop();
    }
  });

  test('--watch: files in device subfolders are ingested and deleted; bad ones go to .rejected', async () => {
    const inbox = await mkdtemp(join(tmpdir(), 'pc-inbox-'));
    const deviceId = randomUUID();
    await mkdir(join(inbox, deviceId));
    // A file present before start is picked up by the initial scan.
    await writeFile(join(inbox, deviceId, 'early.jpg'), await solidJpeg());
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, {
      watch: { dir: inbox, deviceId: undefined, moveTo: undefined },
    });
    try {
      const metadataBefore = recorder.on(metadataTopic).length;
      await writeFile(join(inbox, deviceId, 'late.jpg'), await noiseJpeg());
      await writeFile(join(inbox, deviceId, 'broken.jpg'), Buffer.from('garbage'));
      await writeFile(join(inbox, 'no-device.jpg'), await solidJpeg());
      const messages = await recorder.waitForCount(metadataTopic, metadataBefore + 2, 20_000);
      for (const message of messages.slice(metadataBefore)) {
        assert.equal(photoMetadataSchema.parse(message.json()).deviceID, deviceId);
      }
      const rejected = join(inbox, REJECTED_FOLDER);
      await waitFor(async () => (await readdir(rejected).catch(() => [])).length === 4, {
        timeoutMs: 20_000,
        message: 'two rejected files with their reasons',
      });
      const reason = await readFile(join(rejected, `${deviceId}__broken.jpg.reason.txt`), 'utf8');
      assert.match(reason, /not a JPEG/);
      assert.match(await readFile(join(rejected, 'no-device.jpg.reason.txt'), 'utf8'), /subfolder/);
      await waitFor(async () => (await readdir(join(inbox, deviceId))).length === 0, {
        message: 'ingested files deleted',
      });
    } finally {
      await harness.stop();
      await rm(inbox, { recursive: true, force: true });
    }
  });

  test("--watch with --device and --move-to: every file is that device's; ingested files are moved", async () => {
    const inbox = await mkdtemp(join(tmpdir(), 'pc-inbox-'));
    const done = await mkdtemp(join(tmpdir(), 'pc-done-'));
    const deviceId = randomUUID();
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, {
      watch: { dir: inbox, deviceId, moveTo: done },
    });
    try {
      const metadataBefore = recorder.on(metadataTopic).length;
      await writeFile(join(inbox, 'one.jpg'), await solidJpeg());
      await writeFile(join(inbox, '.partial.jpg.tmp'), Buffer.from('being written'));
      const [message] = (await recorder.waitForCount(metadataTopic, metadataBefore + 1, 20_000)).slice(-1);
      assert.equal(photoMetadataSchema.parse(message!.json()).deviceID, deviceId);
      await waitFor(async () => (await readdir(join(done, deviceId)).catch(() => [] as string[])).includes('one.jpg'), {
        message: 'file moved to --move-to/<device>/',
      });
      assert.deepEqual(await readdir(inbox), ['.partial.jpg.tmp'], 'hidden files are left alone');
    } finally {
      await harness.stop();
      await rm(inbox, { recursive: true, force: true });
      await rm(done, { recursive: true, force: true });
    }
  });

  test('simulator sends photos over REST and over MQTT', async () => {
    const images = await mkdtemp(join(tmpdir(), 'pc-sim-images-'));
    await writeFile(join(images, 'a.jpg'), await solidJpeg());
    await writeFile(join(images, 'b.jpeg'), await noiseJpeg());
    await writeFile(join(images, 'notes.txt'), 'ignored');
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, { mqttImages: true });
    try {
      for (const via of ['rest', 'mqtt'] as const) {
        const metadataBefore = recorder.on(metadataTopic).length;
        const simulator = await startSimulator({
          devices: 2,
          intervalMs: 20,
          imagesDir: images,
          via,
          url: harness.service.url,
          mqtt: mqttConfigFor(broker.url),
          count: 3,
          jitter: true,
          token: undefined,
          instanceId: `sim-${via}`,
          logger: silentLogger(),
        });
        const totals = await simulator.done;
        assert.deepEqual(totals, { sent: 6, failed: 0 });
        const messages = await recorder.waitForCount(metadataTopic, metadataBefore + 6);
        const devices = new Set(
          messages.slice(metadataBefore).map((m) => photoMetadataSchema.parse(m.json()).deviceID),
        );
        assert.deepEqual([...devices].sort(), [...simulator.deviceIds].sort());
      }
    } finally {
      await harness.stop();
      await rm(images, { recursive: true, force: true });
    }
  });

  test('camera command: photos from stdout are ingested; failures are logged and the schedule goes on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-camera-'));
    const photo = join(dir, 'frame.jpg');
    await writeFile(photo, await solidJpeg());
    const counter = join(dir, 'runs');
    // Fails on the first run (exit 3), succeeds afterwards: the source must keep going.
    const command = `if [ -f ${counter} ]; then cat ${photo}; else touch ${counter}; echo boom >&2; exit 3; fi`;
    const deviceId = randomUUID();
    const metadataBefore = recorder.on(metadataTopic).length;
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, {
      camera: { command, deviceId, intervalMs: 50, timeoutMs: 5_000 },
    });
    try {
      const messages = await recorder.waitForCount(metadataTopic, metadataBefore + 2);
      assert.equal(photoMetadataSchema.parse(messages.at(-1)!.json()).deviceID, deviceId);
    } finally {
      await harness.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('captureStdout', () => {
  test('returns stdout; reports exit status with a stderr excerpt; kills on timeout, overflow and abort', async () => {
    assert.equal((await captureStdout('printf abc', 5_000, 100)).toString(), 'abc');
    await assert.rejects(captureStdout('echo oops >&2; exit 4', 5_000, 100), /status 4; stderr: oops/);
    await assert.rejects(captureStdout('sleep 30', 100, 100), /timed out after 100 ms/);
    await assert.rejects(captureStdout('head -c 1000 /dev/zero', 5_000, 100), /more than 100 bytes/);
    const abort = new AbortController();
    const running = captureStdout('sleep 30', 60_000, 100, abort.signal);
    abort.abort();
    await assert.rejects(running, /was stopped/);
  });
});

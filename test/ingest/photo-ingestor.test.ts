import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { IMAGE_BUCKET, parseFilePath, photoObjectMetadata } from '../../src/core/ids.js';
import { DEFAULT_IMAGE_LIMITS, ImageRejectedError } from '../../src/core/image.js';
import { silentLogger } from '../../src/core/log.js';
import { photoMetadataSchema } from '../../src/core/messages.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';
import { MqttConnection } from '../../src/core/mqtt.js';
import { type ObjectStore, S3ObjectStore } from '../../src/core/storage/index.js';
import {
  buildPhotoMetadata,
  deviceIdRejection,
  InvalidDeviceIdError,
  InvalidTimestampError,
  PhotoIngestor,
  PublishFailedError,
  StorageUnavailableIngestError,
} from '../../src/ingest/photo-ingestor.js';
import { missingBinary } from '../helpers/binaries.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { noiseJpeg } from '../helpers/fixtures.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { startS3 } from '../helpers/s3rver.js';
import { temporaryStore } from './harness.js';

describe('device-ID policy and metadata building', () => {
  test('UUID v4 is required by default; any safe ID when allowed', () => {
    const uuid = randomUUID();
    assert.equal(deviceIdRejection(uuid, false), null);
    assert.match(deviceIdRejection('camera-7', false) ?? '', /UUID v4/);
    assert.equal(deviceIdRejection('camera-7', true), null);
    for (const bad of ['a/b', 'a#', 'a+b', 'a..b', '', 'x'.repeat(129), 'tab\there']) {
      assert.ok(deviceIdRejection(bad, true), `${JSON.stringify(bad)} must be refused even when any ID is allowed`);
    }
  });

  test('metadata is the seed format and names a key of our bucket', () => {
    const metadata = buildPhotoMetadata('dev', 'image0b5c4a36-5d0e-4a4b-9a3c-1f2e3d4c5b6a.jpg', 1_700_000_000.5);
    assert.deepEqual(metadata, {
      type: 'data',
      deviceID: 'dev',
      filePath: 'people-counter-images/image0b5c4a36-5d0e-4a4b-9a3c-1f2e3d4c5b6a.jpg',
      creationTimestamp: 1_700_000_000.5,
    });
    assert.deepEqual(photoObjectMetadata('dev', 1_700_000_000.5), {
      'device-id': 'dev',
      'creation-timestamp': '1700000000.5',
    });
  });
});

/** Ingests one photo through a real broker and store, and checks both ends. */
async function ingestAndVerify(brokerUrl: string, store: ObjectStore): Promise<void> {
  const config = mqttConfigFor(brokerUrl);
  const recorder = await MessageRecorder.start(brokerUrl, [config.metadataTopic]);
  const mqtt = await MqttConnection.connect({ config, service: 'ingest', instanceId: 't', logger: silentLogger() });
  try {
    const ingestor = new PhotoIngestor({
      store,
      mqtt,
      logger: silentLogger(),
      metrics: createMetricsRegistry('ingest', 't'),
      limits: DEFAULT_IMAGE_LIMITS,
      allowAnyDeviceId: false,
    });
    const deviceId = randomUUID();
    const jpeg = await noiseJpeg();
    const published = await ingestor.ingest(deviceId, jpeg, 1_750_000_000.25);
    const [message] = await recorder.waitForCount(config.metadataTopic, 1);
    const received = photoMetadataSchema.parse(message!.json());
    assert.deepEqual(received, published);
    assert.equal(received.deviceID, deviceId);
    assert.equal(received.creationTimestamp, 1_750_000_000.25);
    const parsed = parseFilePath(received.filePath);
    assert.ok(!('problem' in parsed));
    assert.match(parsed.key, /^image[0-9a-f-]{36}\.jpg$/);
    const stored = await store.get(IMAGE_BUCKET, parsed.key);
    assert.deepEqual(stored.body, jpeg);
    assert.equal(stored.metadata['device-id'], deviceId);
    assert.equal(stored.metadata['creation-timestamp'], '1750000000.25');

    await assert.rejects(ingestor.ingest('not-a-uuid', jpeg), InvalidDeviceIdError);
    await assert.rejects(ingestor.ingest(deviceId, jpeg, Date.now()), InvalidTimestampError);
    await assert.rejects(
      ingestor.ingest(deviceId, Buffer.from('hello')),
      (error: unknown) => error instanceof ImageRejectedError && error.problem === 'not-jpeg',
    );
    assert.equal((await store.list(IMAGE_BUCKET)).length, 1, 'refused photos leave nothing in storage');
  } finally {
    await mqtt.close();
    await recorder.stop();
  }
}

describe('PhotoIngestor against real brokers and stores', () => {
  test('embedded broker + local store', async () => {
    const broker = await startEmbeddedBroker();
    const local = await temporaryStore();
    try {
      await ingestAndVerify(broker.url, local.store);
    } finally {
      await broker.stop();
      await local.remove();
    }
  });

  test('Mosquitto + local store', { skip: missingBinary('mosquitto') }, async () => {
    const mosquitto = await startMosquitto();
    const local = await temporaryStore();
    try {
      await ingestAndVerify(mosquitto.url, local.store);
    } finally {
      await mosquitto.stop();
      await local.remove();
    }
  });

  describe('S3 (s3rver)', () => {
    let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
    before(async () => {
      broker = await startEmbeddedBroker();
    });
    after(async () => {
      await broker.stop();
    });

    test('stores in the bucket with object metadata, then publishes', async () => {
      const s3 = await startS3();
      const store = new S3ObjectStore(s3.config);
      try {
        await store.ensureBucket(IMAGE_BUCKET);
        await ingestAndVerify(broker.url, store);
      } finally {
        await store.close();
        await s3.stop();
      }
    });

    test('storage down: typed error and nothing published', async () => {
      const s3 = await startS3();
      const store = new S3ObjectStore(s3.config);
      const config = mqttConfigFor(broker.url);
      const recorder = await MessageRecorder.start(broker.url, [config.metadataTopic]);
      const mqtt = await MqttConnection.connect({ config, service: 'ingest', instanceId: 's', logger: silentLogger() });
      try {
        await store.ensureBucket(IMAGE_BUCKET);
        await s3.stop();
        const ingestor = new PhotoIngestor({
          store,
          mqtt,
          logger: silentLogger(),
          metrics: createMetricsRegistry('ingest', 's'),
          limits: DEFAULT_IMAGE_LIMITS,
          allowAnyDeviceId: false,
        });
        await assert.rejects(ingestor.ingest(randomUUID(), await noiseJpeg()), StorageUnavailableIngestError);
        // A marker published after the failure proves that nothing was published before it.
        await mqtt.publishJson(config.metadataTopic, { marker: true });
        const messages = await recorder.waitForCount(config.metadataTopic, 1);
        assert.deepEqual(messages[0]!.json(), { marker: true });
      } finally {
        await mqtt.close();
        await recorder.stop();
        await store.close();
      }
    });
  });

  test('broker gone at publish time: PublishFailedError and the photo is deleted', async () => {
    const broker = await startEmbeddedBroker();
    const local = await temporaryStore();
    const mqtt = await MqttConnection.connect({
      config: mqttConfigFor(broker.url),
      service: 'ingest',
      instanceId: 'p',
      logger: silentLogger(),
    });
    try {
      const ingestor = new PhotoIngestor({
        store: local.store,
        mqtt,
        logger: silentLogger(),
        metrics: createMetricsRegistry('ingest', 'p'),
        limits: DEFAULT_IMAGE_LIMITS,
        allowAnyDeviceId: false,
      });
      await broker.stop();
      await waitFor(() => !mqtt.connected, { message: 'client to notice the broker is gone' });
      await assert.rejects(
        ingestor.ingest(randomUUID(), await noiseJpeg()),
        (error: unknown) => error instanceof PublishFailedError && error.photoRemoved,
      );
      assert.deepEqual(await local.store.list(IMAGE_BUCKET), []);
    } finally {
      await mqtt.close();
      await local.remove();
    }
  });
});

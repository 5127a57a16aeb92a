import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningBroker, startBroker } from '../../src/broker/broker.js';
import { DEVICE_REGISTRY_FILE } from '../../src/core/device-credentials.js';
import { LiveDeviceRegistry, registryAccess, revokeDevice } from '../../src/core/device-registry.js';
import { IMAGE_BUCKET, parseFilePath } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';
import { MqttConnection } from '../../src/core/mqtt.js';
import { type ObjectStore, S3ObjectStore, StorageUnavailableError } from '../../src/core/storage/index.js';
import { startIngestService } from '../../src/ingest/service.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { hugeHeaderJpeg, noiseJpeg, solidJpeg, truncated } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { freePort, waitFor } from '../helpers/net.js';
import { startS3 } from '../helpers/s3rver.js';
import { type Harness, ingestConfig, postPhoto, startHarness, temporaryStore } from './harness.js';

interface ErrorBody {
  error: string;
  message: string;
}

/** A raw request, so that the path reaches the server exactly as written (fetch normalises it). */
function rawPost(baseUrl: string, path: string, body: Buffer): Promise<{ status: number; body: ErrorBody }> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as ErrorBody }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('REST API with the embedded broker and a local store', () => {
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  let local: Awaited<ReturnType<typeof temporaryStore>>;
  let harness: Harness;
  let recorder: MessageRecorder;
  let photo: Buffer;
  const maxBytes = 200_000;

  before(async () => {
    broker = await startEmbeddedBroker();
    local = await temporaryStore();
    harness = await startHarness(mqttConfigFor(broker.url), local.store, {
      limits: { maxBytes, maxPixels: 50_000_000 },
    });
    recorder = await MessageRecorder.start(broker.url, [harness.mqtt.topics.metadata]);
    photo = await noiseJpeg();
  });
  after(async () => {
    await recorder.stop();
    await harness.stop();
    await broker.stop();
    await local.remove();
  });

  async function expectGoodRequestStillWorks(): Promise<void> {
    const before = recorder.on(harness.mqtt.topics.metadata).length;
    const response = await postPhoto(harness.service.url, randomUUID(), photo);
    assert.equal(response.status, 201);
    await recorder.waitForCount(harness.mqtt.topics.metadata, before + 1);
  }

  async function objectCount(): Promise<number> {
    return (await local.store.list(IMAGE_BUCKET)).length;
  }

  test('201 with the published metadata; the object exists', async () => {
    const deviceId = randomUUID();
    for (const contentType of ['image/jpeg', 'application/octet-stream']) {
      const before = recorder.on(harness.mqtt.topics.metadata).length;
      const response = await postPhoto(harness.service.url, deviceId, photo, { 'content-type': contentType });
      assert.equal(response.status, 201);
      const body = (await response.json()) as { type: string; deviceID: string; filePath: string };
      assert.equal(body.type, 'data');
      assert.equal(body.deviceID, deviceId);
      const messages = await recorder.waitForCount(harness.mqtt.topics.metadata, before + 1);
      assert.deepEqual(messages.at(-1)!.json(), body);
      const parsed = parseFilePath(body.filePath);
      assert.ok(!('problem' in parsed));
      assert.ok(await local.store.exists(IMAGE_BUCKET, parsed.key));
    }
  });

  test('creationTimestamp query parameter is used; milliseconds are refused', async () => {
    const response = await postPhoto(
      harness.service.url,
      randomUUID(),
      photo,
      undefined,
      '?creationTimestamp=1700000000.5',
    );
    assert.equal(response.status, 201);
    assert.equal(((await response.json()) as { creationTimestamp: number }).creationTimestamp, 1_700_000_000.5);
    const ms = await postPhoto(harness.service.url, randomUUID(), photo, undefined, `?creationTimestamp=${Date.now()}`);
    assert.equal(ms.status, 400);
    assert.equal(((await ms.json()) as ErrorBody).error, 'invalid-timestamp');
  });

  test('a creationTimestamp beyond the allowed clock skew → 400 invalid-timestamp; within it → 201', async () => {
    const now = Math.floor(Date.now() / 1000);
    const future = await postPhoto(
      harness.service.url,
      randomUUID(),
      photo,
      undefined,
      '?creationTimestamp=99370000000',
    );
    assert.equal(future.status, 400);
    assert.equal(((await future.json()) as ErrorBody).error, 'invalid-timestamp');
    const tenMinutes = await postPhoto(
      harness.service.url,
      randomUUID(),
      photo,
      undefined,
      `?creationTimestamp=${now + 600}`,
    );
    assert.equal(tenMinutes.status, 400);
    const oneMinute = await postPhoto(
      harness.service.url,
      randomUUID(),
      photo,
      undefined,
      `?creationTimestamp=${now + 60}`,
    );
    assert.equal(oneMinute.status, 201);
  });

  test('a device UUID in upper case is the same device, announced in lower case', async () => {
    const deviceId = randomUUID();
    const response = await postPhoto(harness.service.url, deviceId.toUpperCase(), photo);
    assert.equal(response.status, 201);
    assert.equal(((await response.json()) as { deviceID: string }).deviceID, deviceId);
  });

  const badImages: Array<{ name: string; body: () => Promise<Buffer>; status: number[]; error: string }> = [
    { name: 'not a JPEG', body: async () => Buffer.from('hello, not a jpeg'), status: [400], error: 'not-jpeg' },
    { name: 'truncated JPEG', body: async () => truncated(await noiseJpeg()), status: [400], error: 'truncated' },
    { name: 'over the size limit', body: () => noiseJpeg(1000, 1000), status: [413], error: 'body-too-large' },
    { name: 'too many pixels', body: () => hugeHeaderJpeg(), status: [422, 413], error: 'too-many-pixels' },
  ];
  for (const bad of badImages) {
    test(`${bad.name} → ${bad.status.join('/')} ${bad.error}, nothing stored, service keeps serving`, async () => {
      const body = await bad.body();
      if (bad.error === 'body-too-large') assert.ok(body.length > maxBytes, 'fixture must exceed the limit');
      const count = await objectCount();
      const response = await postPhoto(harness.service.url, randomUUID(), body);
      assert.ok(bad.status.includes(response.status), `status ${response.status}`);
      const error = (await response.json()) as ErrorBody;
      assert.equal(error.error, bad.error);
      assert.ok(error.message.length > 0);
      assert.equal(await objectCount(), count);
      await expectGoodRequestStillWorks();
    });
  }

  test('empty body → 400 empty-body', async () => {
    const response = await postPhoto(harness.service.url, randomUUID(), Buffer.alloc(0));
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as ErrorBody).error, 'empty-body');
    await expectGoodRequestStillWorks();
  });

  test('another content type → 415 JSON', async () => {
    const response = await postPhoto(harness.service.url, randomUUID(), photo, { 'content-type': 'text/plain' });
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as ErrorBody).error, 'unsupported-media-type');
  });

  test('invalid device IDs → 400 invalid-device-id (percent-encoded separators too)', async () => {
    const count = await objectCount();
    for (const path of ['not-a-uuid', 'a%2Fb', `${randomUUID()}%2F..`, 'a%23b', 'a%2Bb', 'a..b']) {
      const response = await rawPost(harness.service.url, `/v1/devices/${path}/images`, photo);
      assert.equal(response.status, 400, path);
      assert.equal(response.body.error, 'invalid-device-id', path);
    }
    assert.equal(await objectCount(), count);
    await expectGoodRequestStillWorks();
  });

  test('unknown routes and an unencoded slash → 404 JSON', async () => {
    // A percent-encoded ".." segment is treated as a path segment by the router: no such route either.
    for (const path of ['/v1/devices/a/b/images', '/v1/devices/%2E%2E/images', '/v1/nothing']) {
      const response = await rawPost(harness.service.url, path, photo);
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not-found');
    }
  });

  test('health, metrics and OpenAPI', async () => {
    const health = await (await fetch(`${harness.service.url}/healthz`)).json();
    assert.deepEqual(health, { status: 'ok', checks: { mqtt: true, storage: true } });
    const metrics = await (await fetch(`${harness.service.url}/metrics`)).text();
    assert.match(metrics, /people_counter_ingest_photos_total\{[^}]*\} [1-9]/);
    assert.match(metrics, /people_counter_ingest_photos_rejected_total\{reason="not-jpeg"/);
    const openapi = (await (await fetch(`${harness.service.url}/openapi.json`)).json()) as { paths: object };
    assert.ok('/v1/devices/{deviceID}/images' in openapi.paths);
  });
});

describe('REST API failure modes', () => {
  test('without an outbox, broker down at publish time → 503 with Retry-After, no object left; serves again once it is back', async () => {
    const broker = await startEmbeddedBroker();
    const local = await temporaryStore();
    const harness = await startHarness(mqttConfigFor(broker.url), local.store);
    let restarted: RunningBroker | undefined;
    try {
      await broker.stop();
      await waitFor(() => !harness.mqtt.connected, { message: 'client to notice the broker is gone' });
      const response = await postPhoto(harness.service.url, randomUUID(), await noiseJpeg());
      assert.equal(response.status, 503);
      assert.ok(response.headers.get('retry-after'));
      assert.equal(((await response.json()) as ErrorBody).error, 'broker-unavailable');
      assert.deepEqual(await local.store.list(IMAGE_BUCKET), []);
      const health = await fetch(`${harness.service.url}/healthz`);
      assert.equal(health.status, 503);
      assert.equal(((await health.json()) as { checks: { mqtt: boolean } }).checks.mqtt, false);
      restarted = await startBroker({ host: '127.0.0.1', port: broker.port, logger: silentLogger() });
      await waitFor(() => harness.mqtt.connected, { message: 'client to reconnect' });
      assert.equal((await postPhoto(harness.service.url, randomUUID(), await noiseJpeg())).status, 201);
    } finally {
      await harness.stop();
      await restarted?.stop();
      await local.remove();
    }
  });

  test('storage down at store time → 503, nothing published; a later request succeeds', async () => {
    const broker = await startEmbeddedBroker();
    const s3 = await startS3();
    const store = new S3ObjectStore(s3.config);
    const harness = await startHarness(mqttConfigFor(broker.url), store);
    const recorder = await MessageRecorder.start(broker.url, [harness.mqtt.topics.metadata]);
    let restarted: Awaited<ReturnType<typeof startS3>> | undefined;
    try {
      await s3.stop();
      const response = await postPhoto(harness.service.url, randomUUID(), await solidJpeg());
      assert.equal(response.status, 503);
      assert.ok(response.headers.get('retry-after'));
      assert.equal(((await response.json()) as ErrorBody).error, 'storage-unavailable');
      restarted = await startS3(s3.port);
      await store.ensureBucket(IMAGE_BUCKET);
      const good = await postPhoto(harness.service.url, randomUUID(), await solidJpeg());
      assert.equal(good.status, 201);
      const messages = await recorder.waitForCount(harness.mqtt.topics.metadata, 1);
      assert.equal(messages.length, 1, 'only the successful photo was announced');
      assert.deepEqual(messages[0]!.json(), await good.json());
    } finally {
      await recorder.stop();
      await harness.stop();
      await store.close();
      await restarted?.stop();
      await broker.stop();
    }
  });

  test('without an outbox, starts while the broker is down (503 meanwhile) and serves once it is up', async () => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const local = await temporaryStore();
    const logger = silentLogger();
    const mqtt = MqttConnection.start({
      config: mqttConfigFor(url),
      service: 'ingest',
      instanceId: 'late',
      logger,
      reconnectMinMs: 100,
      reconnectMaxMs: 200,
    });
    const service = await startIngestService(ingestConfig({ mqttImages: true }), {
      store: local.store,
      mqtt,
      logger,
      metrics: createMetricsRegistry('ingest', 'late'),
      instanceId: 'late',
    });
    let broker: RunningBroker | undefined;
    try {
      const early = await postPhoto(service.url, randomUUID(), await solidJpeg());
      assert.equal(early.status, 503);
      assert.deepEqual(await local.store.list(IMAGE_BUCKET), []);
      broker = await startBroker({ host: '127.0.0.1', port, logger });
      await waitFor(() => mqtt.connected, { message: 'the service to connect' });
      assert.equal((await postPhoto(service.url, randomUUID(), await solidJpeg())).status, 201);
    } finally {
      await service.stop();
      await mqtt.close();
      await broker?.stop();
      await local.remove();
    }
  });

  test('storage unreachable at start: the service starts, /healthz reports it', async () => {
    const broker = await startEmbeddedBroker();
    const store = new S3ObjectStore({
      kind: 's3',
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'x',
      secretAccessKey: 'y',
    });
    const harness = await startHarness(mqttConfigFor(broker.url), store);
    try {
      const health = await fetch(`${harness.service.url}/healthz`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), { status: 'unhealthy', checks: { mqtt: true, storage: false } });
    } finally {
      await harness.stop();
      await store.close();
      await broker.stop();
    }
  });

  test('/healthz reports storage that can be read but not written as unhealthy', async () => {
    const broker = await startEmbeddedBroker();
    const local = await temporaryStore();
    // A read-only disk: listing and reading work, every write fails.
    const readOnly: ObjectStore = Object.assign(Object.create(local.store) as ObjectStore, {
      put: async () => {
        throw new StorageUnavailableError('EROFS: read-only file system');
      },
    });
    const harness = await startHarness(mqttConfigFor(broker.url), readOnly);
    try {
      const health = await fetch(`${harness.service.url}/healthz`);
      assert.equal(health.status, 503);
      assert.deepEqual(((await health.json()) as { checks: Record<string, boolean> }).checks, {
        mqtt: true,
        storage: false,
      });
    } finally {
      await harness.stop();
      await broker.stop();
      await local.remove();
    }
  });

  test('API token: 401 without it, 201 with it', async () => {
    const broker = await startEmbeddedBroker();
    const local = await temporaryStore();
    const harness = await startHarness(mqttConfigFor(broker.url), local.store, { token: 's3cret' });
    try {
      const photo = await solidJpeg();
      const denied = await postPhoto(harness.service.url, randomUUID(), photo);
      assert.equal(denied.status, 401);
      assert.equal(((await denied.json()) as ErrorBody).error, 'unauthorized');
      const allowed = await postPhoto(harness.service.url, randomUUID(), photo, {
        'content-type': 'image/jpeg',
        authorization: 'Bearer s3cret',
      });
      assert.equal(allowed.status, 201);
      // The scheme is case-insensitive (RFC 7235).
      const lowerCase = await postPhoto(harness.service.url, randomUUID(), photo, {
        'content-type': 'image/jpeg',
        authorization: 'bearer s3cret',
      });
      assert.equal(lowerCase.status, 201);
    } finally {
      await harness.stop();
      await broker.stop();
      await local.remove();
    }
  });

  test("registered devices: each posts with its own secret; another device's secret is 401 and stores nothing", async () => {
    const broker = await startEmbeddedBroker();
    const local = await temporaryStore();
    const registry = await LiveDeviceRegistry.open(join(local.dir, DEVICE_REGISTRY_FILE), { logger: silentLogger() });
    const [camera, other] = [randomUUID(), randomUUID()];
    const { secret } = await registry.add(camera, 1_800_000_000);
    const { secret: otherSecret } = await registry.add(other, 1_800_000_000);
    const harness = await startHarness(
      mqttConfigFor(broker.url),
      local.store,
      { token: 'shared-service-token' },
      registryAccess(registry, { openWhileEmpty: true }),
    );
    const post = (deviceId: string, bearer?: string) =>
      postPhoto(harness.service.url, deviceId, photo, {
        'content-type': 'image/jpeg',
        ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}),
      });
    const photo = await solidJpeg();
    try {
      for (const [deviceId, bearer] of [
        [camera, otherSecret],
        [camera, undefined],
        [camera, 'guess'],
        [randomUUID(), secret],
      ] as const) {
        const denied = await post(deviceId, bearer);
        assert.equal(denied.status, 401, `${deviceId} with ${bearer}`);
        assert.equal(((await denied.json()) as ErrorBody).error, 'unauthorized');
      }
      assert.deepEqual(await local.store.list(IMAGE_BUCKET), [], 'nothing stored');
      assert.equal((await post(camera, secret)).status, 201);
      assert.equal((await post(other, 'shared-service-token')).status, 201, 'the shared token passes for any device');
      // Revoked in the file (as `people-counter devices revoke` does): refused from then on.
      const changed = new Promise<void>((resolve) => registry.onChange(resolve));
      await revokeDevice(registry.path, camera);
      await changed;
      assert.equal((await post(camera, secret)).status, 401);
    } finally {
      await harness.stop();
      registry.close();
      await broker.stop();
      await local.remove();
    }
  });
});

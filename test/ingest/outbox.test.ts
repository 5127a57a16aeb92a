/**
 * The ingest outbox against the real embedded broker, over several outages: photos posted while
 * the broker is down get 202, and once it is back every device's latest photo is announced exactly
 * once, in order; superseded photos are deleted; a full outbox answers 503 and keeps nothing; the
 * outbox survives an ingest restart. Ingest reaches the broker through a gate, so that after a
 * restart the test's recorder is subscribed again before ingest can publish.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningBroker, startBroker } from '../../src/broker/broker.js';
import { filePathOf, IMAGE_BUCKET } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { nowSeconds, type PhotoMetadata } from '../../src/core/messages.js';
import { createMetricsRegistry, type Registry } from '../../src/core/metrics.js';
import { MqttConnection } from '../../src/core/mqtt.js';
import { type RunningIngestService, startIngestService } from '../../src/ingest/service.js';
import { startSimulator } from '../../src/ingest/simulator.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';
import { ingestConfig, postPhoto, temporaryStore } from './harness.js';

const MAX_DEVICES = 4;
const PHOTOS_PER_DEVICE = 3;
const ROUNDS = 3;
/** The round in which ingest is restarted during the outage. */
const RESTART_ROUND = 2;

interface RunningIngest {
  service: RunningIngestService;
  mqtt: MqttConnection;
  metrics: Registry;
  stop(): Promise<void>;
}

let broker: RunningBroker;
let gate: TcpGate;
let local: Awaited<ReturnType<typeof temporaryStore>>;
let outboxDir: string;
let recorder: MessageRecorder;
let photo: Buffer;

before(async () => {
  broker = await startEmbeddedBroker();
  gate = await startTcpGate(broker.port);
  local = await temporaryStore();
  outboxDir = await mkdtemp(join(tmpdir(), 'pc-outbox-'));
  recorder = await MessageRecorder.start(broker.url, [mqttConfigFor(broker.url).metadataTopic]);
  photo = await solidJpeg(16, 16);
});
after(async () => {
  await recorder.stop();
  await gate.stop();
  await broker.stop();
  await local.remove();
  await rm(outboxDir, { recursive: true, force: true });
});

async function startIngest(): Promise<RunningIngest> {
  const logger = silentLogger();
  const metrics = createMetricsRegistry('ingest', 'outbox');
  const mqtt = MqttConnection.start({
    config: mqttConfigFor(gate.url),
    service: 'ingest',
    instanceId: 'outbox',
    logger,
    reconnectMinMs: 100,
    reconnectMaxMs: 300,
  });
  const service = await startIngestService(ingestConfig({ outbox: { dir: outboxDir, maxDevices: MAX_DEVICES } }), {
    store: local.store,
    mqtt,
    logger,
    metrics,
    instanceId: 'outbox',
  });
  return {
    service,
    mqtt,
    metrics,
    stop: async () => {
      await service.stop();
      await mqtt.close();
    },
  };
}

/** Resolves once the connection is (dis)connected: at once, or at its next connect / close. */
async function connection(mqtt: MqttConnection, connected: boolean): Promise<void> {
  if (mqtt.connected === connected) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stop();
      resolve();
    };
    const stop = connected ? mqtt.onConnect(done) : mqtt.onDisconnect(done);
  });
}

async function metricValue(registry: Registry, name: string, reason?: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  return (metric?.values ?? [])
    .filter((value) => reason === undefined || value.labels.reason === reason)
    .reduce((sum, value) => sum + value.value, 0);
}

let timestamps = nowSeconds() - 10_000;
async function post(ingest: RunningIngest, deviceId: string, creationTimestamp = ++timestamps): Promise<Response> {
  return postPhoto(ingest.service.url, deviceId, photo, undefined, `?creationTimestamp=${creationTimestamp}`);
}

async function storedPhotos(): Promise<Set<string>> {
  return new Set((await local.store.list(IMAGE_BUCKET)).map((object) => filePathOf(object.key)));
}

const announced = () => recorder.on(mqttConfigFor(broker.url).metadataTopic).map((m) => m.json<PhotoMetadata>());

test('broker outages: 202 meanwhile, each latest photo announced exactly once after, in order; full → 503', async () => {
  let ingest = await startIngest();
  await connection(ingest.mqtt, true);
  /** Every photo that must be announced, in the order it must be. */
  const expected: string[] = [];
  /** What the metrics of the running ingest must say (they count from its start). */
  const zero = { superseded: 0, refusedFull: 0, published: 0 };
  let sinceStart = { ...zero };
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Broker up: unchanged behaviour.
      const direct = await post(ingest, randomUUID());
      assert.equal(direct.status, 201, `round ${round}: broker up`);
      expected.push(((await direct.json()) as PhotoMetadata).filePath);

      // Outage: ingest cannot reconnect until the gate opens again.
      gate.close();
      await broker.stop();
      await connection(ingest.mqtt, false);

      const devices = Array.from({ length: MAX_DEVICES }, () => randomUUID());
      const latest = new Map<string, string>();
      for (let n = 0; n < PHOTOS_PER_DEVICE; n += 1) {
        for (const device of devices) {
          const response = await post(ingest, device);
          assert.equal(response.status, 202, `round ${round}: broker down`);
          const body = (await response.json()) as PhotoMetadata;
          assert.equal(body.deviceID, device);
          if (latest.has(device)) sinceStart.superseded += 1;
          latest.delete(device); // re-inserted last: a superseding photo goes to the end of the queue
          latest.set(device, body.filePath);
        }
      }
      assert.equal(await metricValue(ingest.metrics, 'people_counter_ingest_outbox_entries'), MAX_DEVICES);
      // A photo taken before the queued one of its device: accepted, never counted, not kept.
      const [firstDevice] = devices;
      assert.ok(firstDevice);
      assert.equal((await post(ingest, firstDevice, timestamps - PHOTOS_PER_DEVICE * MAX_DEVICES)).status, 202);
      sinceStart.superseded += 1;

      if (round === RESTART_ROUND) {
        await ingest.stop();
        ingest = await startIngest();
        sinceStart = { ...zero };
        // The restored entry of a device is superseded like any other.
        const device = devices[1]!;
        const response = await post(ingest, device);
        assert.equal(response.status, 202, 'after the restart, still queueing');
        latest.delete(device);
        latest.set(device, ((await response.json()) as PhotoMetadata).filePath);
        sinceStart.superseded += 1;
      }

      // Full: a device the outbox has no room for is refused, and nothing of it is kept.
      const storedBefore = await storedPhotos();
      const refused = await post(ingest, randomUUID());
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.equal(((await refused.json()) as { error: string }).error, 'outbox-full');
      sinceStart.refusedFull += 1;

      // Nothing stored but what was announced or is queued: superseded photos are gone already.
      assert.deepEqual(await storedPhotos(), storedBefore);
      assert.deepEqual(storedBefore, new Set([...expected, ...latest.values()]));

      // Back: the recorder listens again before ingest may reconnect and publish.
      broker = await startBroker({ host: '127.0.0.1', port: broker.port, logger: silentLogger() });
      await waitFor(() => recorder.client.connected, { message: 'the recorder to reconnect' });
      await recorder.client.subscribeAsync(mqttConfigFor(broker.url).metadataTopic, { qos: 1 });
      gate.open();
      expected.push(...latest.values());
      sinceStart.published += latest.size;
      await recorder.waitForCount(mqttConfigFor(broker.url).metadataTopic, expected.length);
      await waitFor(async () => (await metricValue(ingest.metrics, 'people_counter_ingest_outbox_entries')) === 0, {
        message: 'the outbox to be empty',
      });

      // A photo published directly now is announced after anything the outbox sent: duplicates would precede it.
      const sentinel = await post(ingest, randomUUID());
      assert.equal(sentinel.status, 201, `round ${round}: back to normal`);
      expected.push(((await sentinel.json()) as PhotoMetadata).filePath);
      await recorder.waitForCount(mqttConfigFor(broker.url).metadataTopic, expected.length);

      const paths = announced().map((metadata) => metadata.filePath);
      assert.deepEqual(paths, expected, `round ${round}: every latest photo exactly once, in order, none lost`);
      assert.deepEqual(await storedPhotos(), new Set(expected), `round ${round}: no photo left behind`);
      assert.deepEqual(
        {
          superseded: await metricValue(ingest.metrics, 'people_counter_ingest_outbox_superseded_total'),
          refusedFull: await metricValue(ingest.metrics, 'people_counter_ingest_photos_rejected_total', 'outbox-full'),
          published: await metricValue(ingest.metrics, 'people_counter_ingest_outbox_published_total'),
        },
        sinceStart,
        `round ${round}: metrics`,
      );
    }
  } finally {
    await ingest.stop();
  }
});

test('the simulator (and `up --demo`) counts a 202 as a photo sent', async () => {
  const ingest = await startIngest();
  const images = await mkdtemp(join(tmpdir(), 'pc-outbox-images-'));
  try {
    await writeFile(join(images, 'a.jpg'), photo);
    await connection(ingest.mqtt, true);
    gate.close();
    await broker.stop();
    await connection(ingest.mqtt, false);
    const simulator = await startSimulator({
      devices: 2,
      intervalMs: 20,
      imagesDir: images,
      via: 'rest',
      url: ingest.service.url,
      mqtt: undefined,
      count: 2,
      jitter: false,
      token: undefined,
      instanceId: 'sim-outbox',
      logger: silentLogger(),
    });
    assert.deepEqual(await simulator.done, { sent: 4, failed: 0 });
    assert.equal(await metricValue(ingest.metrics, 'people_counter_ingest_outbox_entries'), 2);
  } finally {
    broker = await startBroker({ host: '127.0.0.1', port: broker.port, logger: silentLogger() });
    gate.open();
    await ingest.stop();
    await rm(images, { recursive: true, force: true });
  }
});

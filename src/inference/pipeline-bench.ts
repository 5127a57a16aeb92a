/**
 * `people-counter bench pipeline`: the whole pipeline in one process (embedded broker, temporary
 * local store, K inference instances sharing one counter) and the numbers that say whether the
 * coordination is cheap and exact. Prints measurements; asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FixedDelayCounter } from '../analytics/fixed-delay-counter.js';
import type { PeopleCounter } from '../analytics/people-counter.js';
import { startBroker } from '../broker/broker.js';
import { defaultMqttConfig } from '../core/config.js';
import { filePathOf, IMAGE_BUCKET, newImageKey } from '../core/ids.js';
import { silentLogger } from '../core/log.js';
import { createMessageAuth, generateMessageSecret } from '../core/message-auth.js';
import type { PhotoMetadata } from '../core/messages.js';
import { MqttConnection, redactUrl } from '../core/mqtt.js';
import { LocalObjectStore, type ObjectStore } from '../core/storage/index.js';
import { type InferenceInstance, startInferenceInstance } from './inference-service.js';
import { CREATION_TIMESTAMP_METADATA, DEVICE_ID_METADATA } from './orphan-sweeper.js';
import { type ClaimArbiter, RedisClaimArbiter } from './redis-arbiter.js';
import type { OutcomeQos } from './stream-session.js';

export interface PipelineBenchOptions {
  devices: number;
  photos: number;
  instances: number;
  /** Use the fixed-delay stand-in with this delay instead of the real model. */
  analyzerMs?: number;
  batchSize: number;
  maxWaitMs: number;
  /** Store every photo first, then publish all announcements at once (measures the broker path). */
  burst: boolean;
  /** Concurrent ingestion lanes. */
  lanes: number;
  timeoutMs: number;
  /** External brokers instead of the embedded one: instance i uses URL i mod n, the announcer the first. */
  mqttUrls?: string[];
  /** Claims decided by this Redis (redis://…) instead of the ordered stream. */
  arbiterUrl?: string;
  /** QoS of outcome messages (1 for NATS 2.9). */
  outcomeQos?: OutcomeQos;
}

export interface PipelineBenchResult {
  model: string;
  standIn: boolean;
  options: PipelineBenchOptions;
  ingestedPerSecond: number;
  /** Announcements received by every instance, per second of the ingestion phase. */
  metadataDeliveredPerSecond: number;
  /** Photos with an outcome per second, from the first announcement to the last outcome. */
  processedPerSecond: number;
  analysedPerSecond: number;
  analysesPerPhoto: number;
  coordinationMessagesPerPhoto: number;
  latencyMs: { p50: number; p99: number };
  coordinationMs: { p50: number; p99: number };
  claims: number;
  photosLeftInStorage: number;
  lost: number;
  duplicated: number;
  reprocessed: number;
  failed: number;
}

/** Stores a photo with the object metadata ingestion writes, then announces it (store first, then publish). */
export async function storeAndAnnounce(
  store: ObjectStore,
  connection: MqttConnection,
  deviceID: string,
  jpeg: Buffer,
  creationTimestamp = Date.now() / 1000,
): Promise<PhotoMetadata> {
  const key = newImageKey();
  await store.put(IMAGE_BUCKET, key, jpeg, {
    [DEVICE_ID_METADATA]: deviceID,
    [CREATION_TIMESTAMP_METADATA]: String(creationTimestamp),
  });
  const metadata: PhotoMetadata = { type: 'data', deviceID, filePath: filePathOf(key), creationTimestamp };
  await connection.publishJson(connection.topics.metadata, metadata, { qos: 1 });
  return metadata;
}

export async function runPipelineBench(
  options: PipelineBenchOptions,
  createCounter: () => Promise<PeopleCounter>,
): Promise<PipelineBenchResult> {
  const logger = silentLogger();
  const broker = options.mqttUrls ? undefined : await startBroker({ host: '127.0.0.1', port: 0, logger });
  const urls = options.mqttUrls ?? [broker?.url ?? ''];
  // A fresh topic prefix and fresh client IDs per run: an external broker keeps sessions and retained messages.
  const run = randomUUID().slice(0, 8);
  const mqttFor = (i: number) =>
    defaultMqttConfig({ url: urls[i % urls.length] ?? '', ...(broker ? {} : { prefix: `pc-bench-${run}` }) });
  const arbiters: ClaimArbiter[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-'));
  const store = new LocalObjectStore(dir);
  await store.ensureBucket(IMAGE_BUCKET);
  const standIn = options.analyzerMs !== undefined;
  const counter = options.analyzerMs !== undefined ? new FixedDelayCounter(options.analyzerMs) : await createCounter();
  const mqtt = mqttFor(0);
  const roundTrips: number[] = [];
  let coordinationMessages = 0;
  let metadataReceived = 0;
  let lastMetadataAt = 0;
  const instances: InferenceInstance[] = [];
  const outcomesByPath = new Map<string, Array<{ type: string; reprocessed: boolean }>>();
  const latencies: number[] = [];
  let lastOutcomeAt = 0;
  const client = MqttConnection.start({
    config: mqtt,
    service: 'simulate',
    instanceId: `bench-${run}`,
    logger,
    announceAvailability: false,
  });
  // Signed like a deployment with a secret, so the HMAC's cost is in the figures.
  const messageAuth = createMessageAuth(generateMessageSecret());
  try {
    for (let i = 0; i < options.instances; i++) {
      const arbiter = options.arbiterUrl
        ? new RedisClaimArbiter({ url: options.arbiterUrl, prefix: `pc-bench-${run}:` })
        : undefined;
      if (arbiter) arbiters.push(arbiter);
      instances.push(
        await startInferenceInstance(
          {
            mqtt: mqttFor(i),
            instanceId: `bench-${run}-${i}`,
            batchSize: options.batchSize,
            maxWaitMs: options.maxWaitMs,
            leaseMs: 30_000,
            heartbeatMs: 5_000,
            sweep: null,
            legacyResults: false,
            profiles: {},
            retry: { attempts: 3, baseMs: 100, maxMs: 1_000 },
            // One analysis at a time per instance, so that scaling is measured across instances.
            countConcurrency: 1,
            messageAuth,
            outcomeQos: options.outcomeQos ?? 2,
          },
          {
            counter,
            store,
            logger,
            ...(arbiter ? { arbiter } : {}),
            observer: {
              claimRoundTrip: (ms) => roundTrips.push(ms),
              // Every instance receives every message: count one instance's copy.
              coordinationMessage: i === 0 ? () => coordinationMessages++ : undefined,
              metadataMessage: () => {
                metadataReceived++;
                lastMetadataAt = Date.now();
              },
            },
          },
        ),
      );
    }
    await client.waitForConnection(10_000);
    await Promise.all(instances.map((instance) => instance.subscribed));
    const { topics } = client;
    client.onMessage(`${topics.prefix}/+`, (topic, payload) => {
      if (topic !== topics.results && topic !== topics.superseded && topic !== topics.deadLetter) return;
      const message = JSON.parse(payload.toString('utf8')) as {
        type: string;
        filePath?: string;
        reprocessed?: boolean;
        latencyMs?: number;
      };
      if (!message.filePath) return;
      const list = outcomesByPath.get(message.filePath) ?? [];
      list.push({ type: message.type, reprocessed: message.reprocessed === true });
      outcomesByPath.set(message.filePath, list);
      if (message.type === 'result' && message.latencyMs !== undefined) latencies.push(message.latencyMs);
      lastOutcomeAt = Date.now();
    });
    await client.subscribe([topics.results, topics.superseded, topics.deadLetter]);
    await new Promise((resolve) => setTimeout(resolve, 200)); // every subscription granted

    const base = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 120, b: 150 } } })
      .jpeg()
      .toBuffer();
    const photoBytes = (n: number) => Buffer.concat([base, Buffer.from(`#${n}`)]);
    const published: PhotoMetadata[] = [];
    const ingestStart = Date.now();
    let next = 0;
    if (options.burst) {
      const stored: Array<{ key: string; deviceID: string }> = [];
      for (let n = 0; n < options.photos; n++) {
        const key = newImageKey();
        const deviceID = `bench-device-${n % options.devices}`;
        await store.put(IMAGE_BUCKET, key, photoBytes(n), { [DEVICE_ID_METADATA]: deviceID });
        stored.push({ key, deviceID });
      }
      const publishStart = Date.now();
      await Promise.all(
        stored.map(({ key, deviceID }) => {
          const metadata: PhotoMetadata = {
            type: 'data',
            deviceID,
            filePath: filePathOf(key),
            creationTimestamp: Date.now() / 1000,
          };
          published.push(metadata);
          return client.publishJson(topics.metadata, metadata, { qos: 1 });
        }),
      );
      return await finish(publishStart);
    }
    await Promise.all(
      Array.from({ length: options.lanes }, async () => {
        for (let n = next++; n < options.photos; n = next++) {
          published.push(await storeAndAnnounce(store, client, `bench-device-${n % options.devices}`, photoBytes(n)));
        }
      }),
    );
    return await finish(ingestStart);

    async function finish(announceStart: number): Promise<PipelineBenchResult> {
      const ingestEnd = Date.now();
      const expectedDeliveries = options.photos * options.instances;
      const deadline = Date.now() + options.timeoutMs;
      while (Date.now() < deadline && published.some((photo) => !outcomesByPath.has(photo.filePath))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      while (metadataReceived < expectedDeliveries && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 300)); // late duplicates, if any, would arrive now
      const all = published.map((photo) => outcomesByPath.get(photo.filePath) ?? []);
      const processed = all.filter((list) => list.length > 0).length;
      const analysed = all.reduce((sum, list) => sum + list.filter((o) => o.type === 'result').length, 0);
      const seconds = Math.max(0.001, (lastOutcomeAt - announceStart) / 1000);
      return {
        model: counter.model,
        standIn,
        options,
        ingestedPerSecond: options.photos / Math.max(0.001, (ingestEnd - ingestStart) / 1000),
        metadataDeliveredPerSecond:
          metadataReceived /
          options.instances /
          Math.max(0.001, (Math.max(ingestEnd, lastMetadataAt) - announceStart) / 1000),
        processedPerSecond: processed / seconds,
        analysedPerSecond: analysed / seconds,
        analysesPerPhoto: analysed / options.photos,
        coordinationMessagesPerPhoto: coordinationMessages / options.photos,
        latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
        coordinationMs: { p50: percentile(roundTrips, 0.5), p99: percentile(roundTrips, 0.99) },
        claims: roundTrips.length,
        photosLeftInStorage: (await store.list(IMAGE_BUCKET)).length,
        lost: all.filter((list) => list.length === 0).length,
        duplicated: all.filter((list) => list.length > 1 && !list.some((o) => o.reprocessed)).length,
        reprocessed: all.filter((list) => list.some((o) => o.reprocessed)).length,
        failed: all.filter((list) => list.some((o) => o.type === 'dead-letter')).length,
      };
    }
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    await Promise.all(arbiters.map((arbiter) => arbiter.close()));
    await client.close();
    if (!standIn) await counter.close();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function percentile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

export function formatBenchResult(result: PipelineBenchResult): string {
  const { options: o } = result;
  const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  return [
    `pipeline bench: ${o.devices} devices, ${o.photos} photos, ${o.instances} instance(s), batch ${o.batchSize}, max-wait ${o.maxWaitMs} ms${o.burst ? ', burst announcements' : ''}`,
    `broker: ${o.mqttUrls ? o.mqttUrls.map(redactUrl).join(', ') : 'embedded'}; claims: ${o.arbiterUrl ? `Redis arbiter ${redactUrl(o.arbiterUrl)}` : 'ordered stream'}; outcomes at QoS ${o.outcomeQos ?? 2}`,
    `model: ${result.model}${result.standIn ? '  <-- STAND-IN (--analyzer-ms), NOT THE MODEL' : ''}`,
    `ingested:               ${f(result.ingestedPerSecond)} photos/s (store, then announce)`,
    `metadata delivered:     ${f(result.metadataDeliveredPerSecond)} msgs/s to each of ${o.instances} instance(s)`,
    `processed:              ${f(result.processedPerSecond)} photos/s with an outcome`,
    `analysed:               ${f(result.analysedPerSecond)} photos/s (${f(result.analysesPerPhoto, 3)} analyses per photo)`,
    `coordination messages:  ${f(result.coordinationMessagesPerPhoto, 3)} per photo (${result.claims} own claims came back)`,
    `end-to-end latency:     p50 ${f(result.latencyMs.p50, 0)} ms, p99 ${f(result.latencyMs.p99, 0)} ms (analysedAt - creationTimestamp)`,
    `coordination overhead:  p50 ${f(result.coordinationMs.p50, 2)} ms, p99 ${f(result.coordinationMs.p99, 2)} ms (claim published -> own claim seen)`,
    `photos left in storage: ${result.photosLeftInStorage}`,
    `lost outcomes:          ${result.lost}`,
    `duplicated outcomes:    ${result.duplicated} (undocumented) + ${result.reprocessed} flagged reprocessed`,
    `failed outcomes:        ${result.failed}`,
  ].join('\n');
}

/**
 * `people-counter bench pipeline`: the whole pipeline in one process (embedded broker, temporary
 * local store, K inference instances sharing one counter) and the numbers that say whether the
 * coordination is cheap and exact. Prints measurements; asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { FixedDelayCounter } from '../analytics/fixed-delay-counter.js';
import { startBroker } from '../broker/broker.js';
import { defaultMqttConfig } from '../core/config.js';
import { filePathOf, IMAGE_BUCKET, newImageKey, PHOTO_OBJECT_METADATA, photoObjectMetadata } from '../core/ids.js';
import { silentLogger } from '../core/log.js';
import { createMessageAuth, generateMessageSecret } from '../core/message-auth.js';
import type { PhotoMetadata } from '../core/messages.js';
import { MqttConnection, redactUrl } from '../core/mqtt.js';
import type { PeopleCounter } from '../core/people-counter.js';
import { LocalObjectStore, type ObjectStore } from '../core/storage/index.js';
import { type InferenceInstance, startInferenceInstance } from '../inference/inference-service.js';
import { type ClaimArbiter, RedisClaimArbiter } from '../inference/redis-arbiter.js';
import type { OutcomeQos } from '../inference/stream-session.js';

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
  /**
   * Every device sends one photo per interval, the devices spread evenly over it (a sustained
   * rate, for overload runs); without it the lanes send as fast as they can.
   */
  intervalMs?: number;
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
  /** Model runs per second (every call of the counter, failed ones included). */
  analysedPerSecond: number;
  /** Model runs ÷ photos announced. */
  analysesPerPhoto: number;
  coordinationMessagesPerPhoto: number;
  latencyMs: { p50: number; p99: number };
  /** Age of each published count: its photo announced → its result received. */
  countAgeMs: { p50: number; p90: number; p99: number; max: number };
  /** With `intervalMs`: how far the sender fell behind its schedule at worst. */
  paceLagMs?: number;
  coordinationMs: { p50: number; p99: number };
  /**
   * The same round trips split at the end of ingestion: claims made while the load generator still
   * stores and announces in this process, and the rest (docs/coordination.md, "Costs").
   */
  coordinationByPhaseMs: { ingesting: PhaseRoundTrips; afterIngest: PhaseRoundTrips };
  claims: number;
  photosLeftInStorage: number;
  lost: number;
  duplicated: number;
  reprocessed: number;
  failed: number;
}

export interface PhaseRoundTrips {
  p50: number;
  claims: number;
}

/**
 * Stores a photo with the object metadata ingestion writes, then announces it (store first, then
 * publish); `announcing` is called just before the publish.
 */
export async function storeAndAnnounce(
  store: ObjectStore,
  connection: MqttConnection,
  deviceID: string,
  jpeg: Buffer,
  announcing: (metadata: PhotoMetadata) => void = () => undefined,
): Promise<PhotoMetadata> {
  const key = newImageKey();
  const creationTimestamp = Date.now() / 1000;
  await store.put(IMAGE_BUCKET, key, jpeg, photoObjectMetadata(deviceID, creationTimestamp));
  const metadata: PhotoMetadata = { type: 'data', deviceID, filePath: filePathOf(key), creationTimestamp };
  announcing(metadata);
  await connection.publishJson(connection.topics.metadata, metadata, { qos: 1 });
  return metadata;
}

/** Photos sent when every device sends one per interval for a duration. */
export function pacedPhotoCount(devices: number, intervalMs: number, durationMs: number): number {
  return devices * Math.max(1, Math.floor(durationMs / intervalMs));
}

/** When photo n is due, from the start: device n mod D in round n div D, devices spread over the interval. */
export function pacedSendAt(n: number, devices: number, intervalMs: number): number {
  return Math.floor(n / devices) * intervalMs + ((n % devices) * intervalMs) / devices;
}

/** Counts every call of the counter: the model runs. */
function countingRuns(counter: PeopleCounter): { counter: PeopleCounter; runs: () => number } {
  let runs = 0;
  return {
    counter: {
      model: counter.model,
      count: (jpeg, profile) => {
        runs += 1;
        return counter.count(jpeg, profile);
      },
      close: () => counter.close(),
    },
    runs: () => runs,
  };
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
  const model = options.analyzerMs !== undefined ? new FixedDelayCounter(options.analyzerMs) : await createCounter();
  const { counter, runs: modelRuns } = countingRuns(model);
  const mqtt = mqttFor(0);
  /** Each claim's round trip and when it ended (ms since the epoch), to split them at the end of ingestion. */
  const roundTrips: Array<{ ms: number; endedAt: number }> = [];
  let coordinationMessages = 0;
  let metadataReceived = 0;
  let lastMetadataAt = 0;
  const instances: InferenceInstance[] = [];
  const outcomesByPath = new Map<string, Array<{ type: string; reprocessed: boolean }>>();
  const latencies: number[] = [];
  const announcedAt = new Map<string, number>();
  const countAges: number[] = [];
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
              claimRoundTrip: (ms) => {
                roundTrips.push({ ms, endedAt: Date.now() });
              },
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
      lastOutcomeAt = Date.now();
      if (message.type !== 'result') return;
      if (message.latencyMs !== undefined) latencies.push(message.latencyMs);
      const announced = announcedAt.get(message.filePath);
      if (announced !== undefined) countAges.push(lastOutcomeAt - announced);
    });
    await client.subscribe([topics.results, topics.superseded, topics.deadLetter]);
    await new Promise((resolve) => setTimeout(resolve, 200)); // every subscription granted

    const base = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 120, b: 150 } } })
      .jpeg()
      .toBuffer();
    const photoBytes = (n: number) => Buffer.concat([base, Buffer.from(`#${n}`)]);
    const published: PhotoMetadata[] = [];
    const announcing = (metadata: PhotoMetadata) => announcedAt.set(metadata.filePath, Date.now());
    const sendPhoto = async (n: number) => {
      published.push(
        await storeAndAnnounce(store, client, `bench-device-${n % options.devices}`, photoBytes(n), announcing),
      );
    };
    const ingestStart = Date.now();
    let next = 0;
    if (options.burst) {
      const stored: Array<{ key: string; deviceID: string }> = [];
      for (let n = 0; n < options.photos; n++) {
        const key = newImageKey();
        const deviceID = `bench-device-${n % options.devices}`;
        await store.put(IMAGE_BUCKET, key, photoBytes(n), { [PHOTO_OBJECT_METADATA.deviceId]: deviceID });
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
          announcing(metadata);
          return client.publishJson(topics.metadata, metadata, { qos: 1 });
        }),
      );
      return await finish(publishStart);
    }
    if (options.intervalMs !== undefined) {
      const paceLagMs = await sendPaced(options.intervalMs);
      return { ...(await finish(ingestStart)), paceLagMs };
    }
    await Promise.all(
      Array.from({ length: options.lanes }, async () => {
        for (let n = next++; n < options.photos; n = next++) await sendPhoto(n);
      }),
    );
    return await finish(ingestStart);

    /** Sends each photo when it is due (at most `lanes` under way); returns the worst lag behind schedule. */
    async function sendPaced(intervalMs: number): Promise<number> {
      let worstLag = 0;
      const underWay = new Set<Promise<void>>();
      for (let n = 0; n < options.photos; n++) {
        const due = ingestStart + pacedSendAt(n, options.devices, intervalMs);
        const early = due - Date.now();
        if (early > 0) await sleep(early);
        worstLag = Math.max(worstLag, Date.now() - due);
        const sending: Promise<void> = sendPhoto(n).finally(() => underWay.delete(sending));
        underWay.add(sending);
        if (underWay.size >= options.lanes) await Promise.race(underWay);
      }
      await Promise.all(underWay);
      return worstLag;
    }

    function phaseRoundTrips(inPhase: (endedAt: number) => boolean): PhaseRoundTrips {
      const chosen = roundTrips.filter(({ endedAt }) => inPhase(endedAt)).map(({ ms }) => ms);
      return { p50: percentile(chosen, 0.5), claims: chosen.length };
    }

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
      const analysed = modelRuns();
      const seconds = Math.max(0.001, (lastOutcomeAt - announceStart) / 1000);
      const roundTripMs = roundTrips.map(({ ms }) => ms);
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
        countAgeMs: {
          p50: percentile(countAges, 0.5),
          p90: percentile(countAges, 0.9),
          p99: percentile(countAges, 0.99),
          max: percentile(countAges, 1),
        },
        coordinationMs: { p50: percentile(roundTripMs, 0.5), p99: percentile(roundTripMs, 0.99) },
        coordinationByPhaseMs: {
          ingesting: phaseRoundTrips((endedAt) => endedAt <= ingestEnd),
          afterIngest: phaseRoundTrips((endedAt) => endedAt > ingestEnd),
        },
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
    if (!standIn) await model.close();
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
  const pace =
    o.intervalMs !== undefined
      ? `, every device one photo per ${o.intervalMs} ms for ${Math.ceil(o.photos / o.devices)} rounds`
      : '';
  const age = result.countAgeMs;
  const phases = result.coordinationByPhaseMs;
  return [
    `pipeline bench: ${o.devices} devices, ${o.photos} photos, ${o.instances} instance(s), batch ${o.batchSize}, max-wait ${o.maxWaitMs} ms${o.burst ? ', burst announcements' : ''}${pace}`,
    `broker: ${o.mqttUrls ? o.mqttUrls.map(redactUrl).join(', ') : 'embedded'}; claims: ${o.arbiterUrl ? `Redis arbiter ${redactUrl(o.arbiterUrl)}` : 'ordered stream'}; outcomes at QoS ${o.outcomeQos ?? 2}`,
    `model: ${result.model}${result.standIn ? '  <-- STAND-IN (--analyzer-ms), NOT THE MODEL' : ''}`,
    `ingested:               ${f(result.ingestedPerSecond)} photos/s (store, then announce)`,
    ...(result.paceLagMs !== undefined
      ? [`pacing:                 at worst ${f(result.paceLagMs, 0)} ms behind the devices' schedule`]
      : []),
    `metadata delivered:     ${f(result.metadataDeliveredPerSecond)} msgs/s to each of ${o.instances} instance(s)`,
    `processed:              ${f(result.processedPerSecond)} photos/s with an outcome`,
    `analysed:               ${f(result.analysedPerSecond)} model runs/s (${f(result.analysesPerPhoto, 3)} analyses per photo announced)`,
    `coordination messages:  ${f(result.coordinationMessagesPerPhoto, 3)} per photo (${result.claims} own claims came back)`,
    `end-to-end latency:     p50 ${f(result.latencyMs.p50, 0)} ms, p99 ${f(result.latencyMs.p99, 0)} ms (analysedAt - creationTimestamp)`,
    `count age:              p50 ${f(age.p50, 0)} ms, p90 ${f(age.p90, 0)} ms, p99 ${f(age.p99, 0)} ms, max ${f(age.max, 0)} ms (announced -> result received)`,
    `coordination overhead:  p50 ${f(result.coordinationMs.p50, 2)} ms, p99 ${f(result.coordinationMs.p99, 2)} ms (claim published -> own claim seen)`,
    `  by phase:             p50 ${f(phases.ingesting.p50, 2)} ms over ${phases.ingesting.claims} claims while ingesting, ${f(phases.afterIngest.p50, 2)} ms over ${phases.afterIngest.claims} after`,
    `photos left in storage: ${result.photosLeftInStorage}`,
    `lost outcomes:          ${result.lost}`,
    `duplicated outcomes:    ${result.duplicated} (undocumented) + ${result.reprocessed} flagged reprocessed`,
    `failed outcomes:        ${result.failed}`,
  ].join('\n');
}

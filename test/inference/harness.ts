/**
 * Shared set-up for the inference integration tests: a store, a recorder of every outcome, a
 * way to store-and-announce photos like ingestion does, and ONE invariant checker run over every
 * photo published.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// MQTT.js directly: the publishers stand in for devices, which do not run the services' MQTT wrapper.
import { connect, type MqttClient } from 'mqtt';
import type { MqttConfig } from '../../src/core/config.js';
import { filePathOf, IMAGE_BUCKET, newImageKey, photoObjectMetadata } from '../../src/core/ids.js';
import { createMessageAuth } from '../../src/core/message-auth.js';
import {
  type DeadLetterMessage,
  type DeadLetterReason,
  type PhotoMetadata,
  payloadExcerpt,
  type ResultMessage,
  type SupersededMessage,
} from '../../src/core/messages.js';
import { LocalObjectStore, type ObjectStore } from '../../src/core/storage/index.js';
import { makeTopics, type Topics } from '../../src/core/topics.js';
import type { InferenceConfig } from '../../src/inference/inference-service.js';
import { mqttConfigFor } from '../helpers/broker.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';

export interface PublishedPhoto {
  filePath: string;
  deviceID: string;
  creationTimestamp: number;
}

export interface Fixture {
  /** The local store's directory (for child-process instances). */
  dir: string;
  mqtt: MqttConfig;
  topics: Topics;
  store: ObjectStore;
  recorder: MessageRecorder;
  publishers: MqttClient[];
  published: PublishedPhoto[];
  invalid: Array<{ payload: string; reason: DeadLetterReason }>;
  stop(): Promise<void>;
}

export async function startFixture(brokerUrl: string, options: { store?: ObjectStore; publishers?: number } = {}) {
  const mqtt = mqttConfigFor(brokerUrl);
  const topics = makeTopics(mqtt.prefix, mqtt.metadataTopic);
  const dir = await mkdtemp(join(tmpdir(), 'pc-inference-'));
  const store = options.store ?? new LocalObjectStore(dir);
  await store.ensureBucket(IMAGE_BUCKET);
  const recorder = await MessageRecorder.start(brokerUrl, [
    topics.metadata,
    topics.results,
    topics.superseded,
    topics.deadLetter,
    topics.coordination,
    topics.availabilityWildcard,
  ]);
  const publishers = await Promise.all(
    Array.from({ length: options.publishers ?? 3 }, async (_, i) => {
      const client = connect(brokerUrl, { clientId: `test-publisher-${i}-${process.pid}`, reconnectPeriod: 200 });
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      return client;
    }),
  );
  const fixture: Fixture = {
    dir,
    mqtt,
    topics,
    store,
    recorder,
    publishers,
    published: [],
    invalid: [],
    stop: async () => {
      await recorder.stop();
      await Promise.all(publishers.map((client) => client.endAsync(true)));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** The shared secret of the test instances (in-process and child processes alike). */
export const TEST_MESSAGE_SECRET = 'inference-tests-shared-secret-0123456789';

export function testConfig(mqtt: MqttConfig, instanceId: string, overrides: Partial<InferenceConfig> = {}) {
  const config: InferenceConfig = {
    mqtt,
    instanceId,
    batchSize: 5,
    maxWaitMs: 100,
    leaseMs: 3_000,
    heartbeatMs: 1_000,
    messageAuth: createMessageAuth(TEST_MESSAGE_SECRET),
    sweep: null,
    legacyResults: false,
    profiles: {},
    retry: { attempts: 5, baseMs: 50, maxMs: 1_000 },
    // Two lanes so the fault tests also cover devices of one batch counted at the same time.
    countConcurrency: 2,
    ...overrides,
  };
  return config;
}

let jpeg: Buffer | undefined;
let sequence = 0;

/** Stores one photo (with ingestion's object metadata) and returns its metadata, unpublished. */
export async function storePhoto(fixture: Fixture, deviceID: string, objectMetadata = true): Promise<PhotoMetadata> {
  jpeg ??= await solidJpeg(16, 16);
  const key = newImageKey();
  sequence += 1;
  // Bytes after the JPEG's end marker make every photo unique (the stand-in counts from them).
  const body = Buffer.concat([jpeg, Buffer.from(`#${sequence}`)]);
  const creationTimestamp = Date.now() / 1000 + sequence / 1e6;
  await fixture.store.put(
    IMAGE_BUCKET,
    key,
    body,
    objectMetadata ? photoObjectMetadata(deviceID, creationTimestamp) : {},
  );
  return { type: 'data', deviceID, filePath: filePathOf(key), creationTimestamp };
}

/** Stores then announces `photos` photos of `devices` devices, spread over the concurrent publishers. */
export async function storeAndPublish(fixture: Fixture, photos: number, devices: number, prefix = 'cam') {
  const tasks = Array.from({ length: photos }, (_, i) => i);
  const perPublisher = fixture.publishers.map((client, p) =>
    (async () => {
      for (const i of tasks.filter((n) => n % fixture.publishers.length === p)) {
        const metadata = await storePhoto(fixture, `${prefix}-${i % devices}`);
        await client.publishAsync(fixture.topics.metadata, JSON.stringify(metadata), { qos: 1 });
        fixture.published.push(metadata);
      }
    })(),
  );
  await Promise.all(perPublisher);
}

export async function publishInvalid(fixture: Fixture, payload: string, reason: DeadLetterReason): Promise<void> {
  await fixture.publishers[0]?.publishAsync(fixture.topics.metadata, payload, { qos: 1 });
  fixture.invalid.push({ payload, reason });
}

interface Outcomes {
  results: ResultMessage[];
  superseded: SupersededMessage[];
  deadLetters: DeadLetterMessage[];
}

export function outcomes(fixture: Fixture): Outcomes {
  const { recorder, topics } = fixture;
  return {
    results: recorder.on(topics.results).map((m) => m.json<ResultMessage>()),
    superseded: recorder.on(topics.superseded).map((m) => m.json<SupersededMessage>()),
    deadLetters: recorder.on(topics.deadLetter).map((m) => m.json<DeadLetterMessage>()),
  };
}

function outcomesOf(all: Outcomes, filePath: string) {
  return [
    ...all.results.filter((m) => m.filePath === filePath),
    ...all.superseded.filter((m) => m.filePath === filePath),
    ...all.deadLetters.filter((m) => m.filePath === filePath && m.payload === undefined),
  ];
}

export async function waitForAllOutcomes(fixture: Fixture, timeoutMs = 30_000): Promise<void> {
  const missing = () => {
    const all = outcomes(fixture);
    return [
      ...fixture.published.filter((p) => outcomesOf(all, p.filePath).length === 0).map((p) => p.filePath),
      ...fixture.invalid
        .filter((bad) => !all.deadLetters.some((d) => d.payload === payloadExcerpt(bad.payload)))
        .map((bad) => bad.payload.slice(0, 60)),
    ];
  };
  await waitFor(() => missing().length === 0, {
    timeoutMs,
    intervalMs: 50,
    message: 'an outcome for every published photo and invalid message',
  }).catch((error: Error) => {
    throw new Error(`${error.message}; missing: ${missing().slice(0, 5).join(', ')}`);
  });
}

/**
 * The invariants, over every photo published: exactly one outcome per photo (more only when one
 * is flagged reprocessed), the latest photo per device of each batch counted, the others
 * superseded by it, each invalid message failed once with the right reason, and storage empty.
 */
export async function checkInvariants(fixture: Fixture): Promise<string[]> {
  const all = outcomes(fixture);
  const violations: string[] = [];
  const known = new Set(fixture.published.map((p) => p.filePath));
  for (const photo of fixture.published) {
    const found = outcomesOf(all, photo.filePath);
    const reprocessed = found.some((m) => m.reprocessed === true);
    if (found.length === 0) violations.push(`lost: ${photo.filePath} has no outcome`);
    if (found.length > 1 && !reprocessed) {
      violations.push(`duplicate: ${photo.filePath} has ${found.length} outcomes (${found.map((m) => m.type)})`);
    }
  }
  for (const message of [...all.results, ...all.superseded]) {
    if (!known.has(message.filePath)) violations.push(`outcome for a photo never published: ${message.filePath}`);
  }
  const resultsByBatch = new Map<string, ResultMessage[]>();
  for (const result of all.results) {
    resultsByBatch.set(result.batchId, [...(resultsByBatch.get(result.batchId) ?? []), result]);
  }
  for (const [batchId, results] of resultsByBatch) {
    const devices = results.map((r) => r.deviceID);
    if (new Set(devices).size !== devices.length) violations.push(`batch ${batchId} counted a device twice`);
    for (const result of results) {
      const replaced = all.superseded.filter((s) => s.batchId === batchId && s.supersededBy === result.filePath);
      // Fewer is allowed: a run stopped between a result and its superseded messages (its view lost in
      // a broker restart) leaves those photos to a later claim, which gives them their one outcome.
      if (replaced.length > result.superseded) {
        violations.push(`result ${result.filePath} says superseded=${result.superseded}, saw ${replaced.length}`);
      }
    }
  }
  for (const old of all.superseded) {
    const winner = (resultsByBatch.get(old.batchId) ?? []).find((r) => r.filePath === old.supersededBy);
    if (!winner) {
      // The counted photo may have failed instead (then it has a dead letter, not a result).
      const failed = all.deadLetters.some((d) => d.filePath === old.supersededBy);
      if (!failed) violations.push(`superseded ${old.filePath} points at ${old.supersededBy}, which has no outcome`);
      continue;
    }
    const newer =
      winner.creationTimestamp > old.creationTimestamp ||
      (winner.creationTimestamp === old.creationTimestamp && winner.filePath > old.filePath);
    if (winner.deviceID !== old.deviceID || !newer) {
      violations.push(`superseded ${old.filePath} by ${winner.filePath}, which is not the latest of its device`);
    }
  }
  for (const bad of fixture.invalid) {
    const letters = all.deadLetters.filter((d) => d.payload === payloadExcerpt(bad.payload));
    if (letters.length !== 1)
      violations.push(`invalid payload ${bad.payload.slice(0, 60)} has ${letters.length} dead letters`);
    else if (letters[0]?.reason !== bad.reason) {
      violations.push(
        `invalid payload ${bad.payload.slice(0, 60)}: reason ${letters[0]?.reason}, expected ${bad.reason}`,
      );
    }
  }
  // Deletion follows the outcome by a moment; give it that moment, not more.
  const leftover = async () => (await fixture.store.list(IMAGE_BUCKET)).filter((o) => known.has(filePathOf(o.key)));
  await waitFor(async () => (await leftover()).length === 0, { timeoutMs: 5_000 }).catch(() => undefined);
  const left = await leftover();
  if (left.length > 0) violations.push(`${left.length} photo(s) left in storage after their outcome`);
  return violations;
}

/**
 * A whole inference deployment in memory for deterministic fault tests: a fake broker with a
 * single total order, a memory store, a manual clock, instances on fake links, an announcer and
 * a recorder of every verified outcome. Crashing an instance freezes its links, store and counter
 * (a dead process does nothing more) and has the broker publish its will.
 */

import { filePathOf, IMAGE_BUCKET, newImageKey, photoObjectMetadata } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { createMessageAuth, type MessageAuth } from '../../src/core/message-auth.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import type { CountResult, PeopleCounter } from '../../src/core/people-counter.js';
import { makeTopics } from '../../src/core/topics.js';
import type { RunStep } from '../../src/inference/claim-run.js';
import {
  type InferenceConfig,
  type InferenceInstance,
  startInferenceInstance,
} from '../../src/inference/inference-service.js';
import { mqttConfigFor } from '../helpers/broker.js';
import { FakeBroker, type FakeLink } from '../helpers/fake-broker.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { MemoryStore } from '../helpers/memory-store.js';

const SECRET = 'fake-world-shared-secret-0123456789';

export interface Outcome {
  type: 'result' | 'superseded' | 'dead-letter';
  filePath?: string;
  reason?: string;
  reprocessed?: boolean;
  instanceId: string;
  payload?: string;
  /** Of a superseded photo: the newer photo of its device that was counted instead. */
  supersededBy?: string;
}

export interface WorldInstance {
  id: string;
  instance: InferenceInstance;
  link: FakeLink;
  frozen: boolean;
  /** While set, this instance's counts wait until `releaseCounts()`. */
  holdCounts: boolean;
  releaseCounts(): void;
  /** Photos this instance's model was asked to count. */
  analyses: number;
}

export class World {
  readonly clock = new ManualClock();
  readonly broker: FakeBroker;
  readonly store = new MemoryStore(() => this.clock.now());
  readonly mqtt = mqttConfigFor('mqtt://fake.invalid');
  readonly topics = makeTopics(this.mqtt.prefix, this.mqtt.metadataTopic);
  readonly auth: MessageAuth = createMessageAuth(SECRET);
  readonly instances = new Map<string, WorldInstance>();
  readonly announced: PhotoMetadata[] = [];
  readonly outcomes: Outcome[] = [];
  readonly coordination: Array<{ type: string }> = [];
  private readonly announcer: FakeLink;
  private readonly observers: FakeLink[];
  private sequence = 0;

  constructor(options: { persistence: boolean } = { persistence: false }) {
    this.broker = new FakeBroker(options);
    this.announcer = this.broker.link('announcer');
    const recorder = this.broker.link('recorder');
    const { results, superseded, deadLetter, coordination } = this.topics;
    recorder.onMessage((topic, payload) => {
      const verified = this.auth.verify(topic, payload);
      if (!verified.ok) return;
      if (topic === coordination) this.coordination.push(verified.value as { type: string });
      else this.outcomes.push(verified.value as Outcome);
    });
    const subscribe = () => void recorder.subscribe([results, superseded, deadLetter, coordination]);
    recorder.onConnect(subscribe);
    subscribe();
    this.observers = [this.announcer, recorder];
  }

  /** The broker comes back; the test's own clients (announcer, recorder) reconnect at once. */
  restartBroker(): void {
    this.broker.start();
    for (const link of this.observers) link.connect();
  }

  config(id: string, overrides: Partial<InferenceConfig> = {}): InferenceConfig {
    return {
      mqtt: this.mqtt,
      instanceId: id,
      batchSize: 5,
      maxWaitMs: 100,
      leaseMs: 3_000,
      heartbeatMs: 1_000,
      sweep: { intervalMs: 5_000, minAgeMs: 4_000 },
      legacyResults: false,
      profiles: {},
      retry: { attempts: 3, baseMs: 50, maxMs: 200 },
      countConcurrency: 2,
      messageAuth: this.auth,
      ...overrides,
    };
  }

  async start(
    id: string,
    overrides: Partial<InferenceConfig> = {},
    crashAt?: { step: RunStep; times?: number },
  ): Promise<WorldInstance> {
    const held: Array<() => void> = [];
    const entry: WorldInstance = {
      id,
      link: undefined as unknown as FakeLink,
      frozen: false,
      holdCounts: false,
      analyses: 0,
      releaseCounts: () => {
        for (const release of held.splice(0)) release();
      },
      instance: undefined as unknown as InferenceInstance,
    };
    const frozen = () => entry.frozen;
    const counter: PeopleCounter = {
      model: 'fake',
      count: async (jpeg): Promise<CountResult> => {
        entry.analyses += 1;
        if (entry.holdCounts) await new Promise<void>((resolve) => held.push(resolve));
        if (entry.frozen) await new Promise(() => undefined);
        return { count: jpeg.length % 10, detections: [], model: 'fake', ms: 0 };
      },
      close: async () => undefined,
    };
    let left = crashAt?.times ?? 1;
    entry.instance = await startInferenceInstance(this.config(id, overrides), {
      counter,
      store: this.store.view(frozen),
      logger: silentLogger(),
      clock: this.clock,
      link: (will) => {
        entry.link = this.broker.link(`pc-inference-${id}`, will);
        return entry.link;
      },
      random: () => 0.5,
      ...(crashAt
        ? {
            stepReached: (step: RunStep) => {
              if (step !== crashAt.step || entry.frozen) return;
              left -= 1;
              if (left <= 0) this.crash(id);
            },
          }
        : {}),
    });
    this.instances.set(id, entry);
    await this.settle();
    return entry;
  }

  /** The process dies: nothing of it runs any more; the broker publishes its will. */
  crash(id: string): void {
    const entry = this.instances.get(id);
    if (!entry) throw new Error(`no instance ${id}`);
    entry.frozen = true;
    this.broker.kill(entry.link);
  }

  /** Stores and announces `photos` photos of `devices` devices, like ingestion. */
  async announce(photos: number, devices: number, prefix = 'cam'): Promise<void> {
    for (let i = 0; i < photos; i++) {
      this.sequence += 1;
      const key = newImageKey();
      const deviceID = `${prefix}-${i % devices}`;
      const creationTimestamp = this.clock.now() / 1000 + this.sequence / 1e6;
      await this.store.put(
        IMAGE_BUCKET,
        key,
        Buffer.from(`photo ${this.sequence}`),
        photoObjectMetadata(deviceID, creationTimestamp),
      );
      const metadata: PhotoMetadata = { type: 'data', deviceID, filePath: filePathOf(key), creationTimestamp };
      this.announced.push(metadata);
      await this.announcer.publish(this.topics.metadata, JSON.stringify(metadata)).catch(() => undefined);
    }
    await this.settle();
  }

  /** Publishes a genuine message again, byte for byte (signing is deterministic), as a recorder of the stream could. */
  replay(topic: string, message: object): Promise<void> {
    return this.announcer.publish(topic, this.auth.sign(topic, message));
  }

  /** Publishes a raw message as a client without the secret would. */
  forge(topic: string, message: object): Promise<void> {
    return this.announcer.publish(topic, JSON.stringify(message));
  }

  settle(): Promise<void> {
    return this.broker.settle();
  }

  run(ms: number): Promise<void> {
    return this.clock.advance(ms, () => this.settle());
  }

  /** Per announced photo: how many outcomes, how many counted, whether still stored. */
  report() {
    let double = 0;
    let lost = 0;
    let reprocessed = 0;
    const problems: string[] = [];
    for (const photo of this.announced) {
      const found = this.outcomes.filter((o) => o.filePath === photo.filePath && o.payload === undefined);
      const counted = found.filter((o) => o.type === 'result').length;
      if (found.length === 0) {
        lost += 1;
        problems.push(`lost ${photo.filePath}`);
      }
      if (found.some((o) => o.reprocessed)) reprocessed += 1;
      if (counted > 1 || (found.length > 1 && !found.some((o) => o.reprocessed))) {
        double += 1;
        problems.push(
          `${found.length} outcomes for ${photo.filePath}: ${found.map((o) => `${o.type}@${o.instanceId}`)}`,
        );
      }
    }
    const left = this.store.objects.size;
    if (left > 0) problems.push(`${left} photo(s) left in storage`);
    return { photos: this.announced.length, double, lost, left, reprocessed, problems };
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.instances.values()]
        .filter((entry) => !entry.frozen)
        .map((entry) => {
          const stopped = entry.instance.stop();
          return Promise.race([stopped, this.run(60_000).then(() => stopped)]);
        }),
    );
  }
}

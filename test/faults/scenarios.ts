/**
 * The fault suite with real parts as separate OS processes: Mosquitto (persistence off and on)
 * or aedes (`people-counter broker`), s3rver, three `people-counter inference` processes with the
 * fixed-delay stand-in, and `people-counter engage`. One round = a burst of photos with one fault
 * in the middle; it reports per announced photo whether it got exactly one outcome, none counted
 * twice, none left stored, and whether engage's history holds exactly the counted outcomes.
 * Used by faults.test.ts (one round each, in `npm test`) and scripts/soak-faults.js (the soak).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// MQTT.js directly: probes and a misbehaving client that must act outside the services' MQTT wrapper.
import { connect, type MqttClient } from 'mqtt';
import { filePathOf, IMAGE_BUCKET, newImageKey, photoObjectMetadata } from '../../src/core/ids.js';
import { MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import { createObjectStore } from '../../src/core/storage/index.js';
import { makeTopics } from '../../src/core/topics.js';
import { CRASH_AT_ENV, type RunStep } from '../../src/inference/claim-run.js';
import { COORDINATION_VERSION } from '../../src/inference/coordination-messages.js';
import { mqttConfigFor } from '../helpers/broker.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort, waitFor } from '../helpers/net.js';
import {
  compareEngageHistory,
  countedResultIds,
  describeEngage,
  engageOn,
  heartbeatsOf,
  judgeOutcomes,
  observer,
  outcomesOf,
  type Received,
  waitUntilIdle,
} from '../helpers/pipeline-invariant.js';
import { describeOutputs, type ServiceProcess, spawnProcess, waitForHttp } from '../helpers/processes.js';
import { startS3 } from '../helpers/s3rver.js';
import { startTcpGate } from '../helpers/tcp-gate.js';

const SECRET = 'fault-suite-shared-secret-0123456789';
const PHOTOS = 30;
const DEVICES = 6;
const FAULT_AT = 10;
/** Where a stopped engage comes back (engage-restart). */
const ENGAGE_BACK_AT = 20;

export type BrokerKind = 'mosquitto' | 'mosquitto-persistent' | 'aedes';
export type Fault =
  | { kind: 'broker-restart'; signal: 'SIGTERM' | 'SIGKILL' }
  | { kind: 'instance-crash'; step: RunStep }
  | { kind: 'forged' }
  | { kind: 'engage-restart' };

export interface Scenario {
  name: string;
  broker: BrokerKind;
  fault: Fault;
}

export const SCENARIOS: Scenario[] = [
  ...(['mosquitto', 'mosquitto-persistent', 'aedes'] as const).flatMap((broker) =>
    (['SIGTERM', 'SIGKILL'] as const).map((signal) => ({
      name: `${broker} ${signal} restart`,
      broker,
      fault: { kind: 'broker-restart' as const, signal },
    })),
  ),
  ...(['counted', 'published', 'deleted', 'before-done'] as const).map((step) => ({
    name: `instance SIGKILL ${step === 'before-done' ? 'before done' : `after ${step}`}`,
    broker: 'mosquitto' as const,
    fault: { kind: 'instance-crash' as const, step },
  })),
  { name: 'forged messages', broker: 'mosquitto', fault: { kind: 'forged' } },
  { name: 'engage down mid-burst', broker: 'mosquitto', fault: { kind: 'engage-restart' } },
];

export interface RoundReport {
  scenario: string;
  photos: number;
  double: number;
  lost: number;
  left: number;
  reprocessed: number;
  /** Counted outcomes missing from engage's history, plus rows that are no counted outcome. */
  engageMismatch: number;
  problems: string[];
}

interface RunningBroker {
  url: string;
  port: number;
  restart(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  stop(): Promise<void>;
}

async function startBrokerOf(kind: BrokerKind): Promise<RunningBroker> {
  if (kind !== 'aedes') return startMosquitto({ persistence: kind === 'mosquitto-persistent' });
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  let child: ServiceProcess | undefined;
  const launch = async () => {
    // Anonymous on purpose: every client may publish, so only the message signatures stand between
    // a forger and the outcome of a photo (broker accounts are tested in test/broker).
    const started = spawnProcess('broker', [
      'broker',
      '--allow-anonymous',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'warn',
    ]);
    child = started;
    await waitFor(() => canConnect(url), { timeoutMs: 90_000, message: 'aedes to accept connections' });
  };
  await launch();
  return {
    url,
    port,
    restart: async (signal) => {
      await child?.stop(signal);
      await launch();
    },
    stop: async () => {
      await child?.stop('SIGKILL');
    },
  };
}

function canConnect(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const client = connect(url, { reconnectPeriod: 0, connectTimeout: 500 });
    client.once('connect', () => {
      client.end(true);
      resolve(true);
    });
    client.once('error', () => resolve(false));
    client.once('close', () => resolve(false));
  });
}

export async function runRound(scenario: Scenario, round: number): Promise<RoundReport> {
  const broker = await startBrokerOf(scenario.broker);
  const gate = await startTcpGate(broker.port);
  const s3 = await startS3();
  const store = createObjectStore(s3.config);
  await store.ensureBucket(IMAGE_BUCKET);
  const topics = makeTopics(mqttConfigFor(broker.url).prefix, mqttConfigFor(broker.url).metadataTopic);
  const received: Received[] = [];
  const tag = `${process.pid}-${round}-${Math.random().toString(16).slice(2, 8)}`;
  const recorder = await observer(
    broker.url,
    `fault-recorder-${tag}`,
    [topics.results, topics.superseded, topics.deadLetter, topics.coordination],
    SECRET,
    received,
  );
  const announcer = await observer(broker.url, `fault-announcer-${tag}`, [], SECRET);
  const engageDir = await mkdtemp(join(tmpdir(), 'pc-fault-engage-'));
  const engage = await engageOn(broker.url, engageDir, SECRET);
  const attacker: MqttClient = connect(broker.url, { clientId: `fault-attacker-${tag}`, reconnectPeriod: 20 });
  const instances: ServiceProcess[] = [];
  const announced: PhotoMetadata[] = [];
  const coordination = () => received.filter((r) => r.topic === topics.coordination).map((r) => r.value);
  try {
    const ids = ['i1', 'i2', 'i3'].map((id) => `${id}-${tag}`);
    for (const [index, id] of ids.entries()) {
      const crash = scenario.fault.kind === 'instance-crash' && index === 0;
      const env: Record<string, string> = {
        [MESSAGE_SECRET_ENV]: SECRET,
        PEOPLE_COUNTER_STORAGE: `s3://127.0.0.1:${s3.port}`,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...(crash && scenario.fault.kind === 'instance-crash'
          ? { [CRASH_AT_ENV]: `${scenario.fault.step}:${scenario.fault.step === 'before-done' ? 1 : 2}` }
          : {}),
      };
      instances.push(
        spawnProcess(
          id,
          [
            'inference',
            ...['--mqtt-url', gate.url, '--analytics', 'fixed-delay:20', '--instance-id', id],
            ...['--batch-size', '5', '--max-wait', crash ? '10ms' : '50ms', '--heartbeat', '300ms', '--lease', '2s'],
            ...['--sweep-interval', '1s', '--sweep-min-age', '3s', '--metrics-port', '0', '--log-level', 'error'],
          ],
          env,
        ),
      );
    }
    await waitFor(() => ids.every((id) => heartbeatsOf(received, topics, id).length > 0), {
      // Generous: on a loaded machine a Node process can take tens of seconds to start.
      timeoutMs: 120_000,
      message: 'a heartbeat from every instance',
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${describeOutputs(instances)}`);
    });

    for (let i = 0; i < PHOTOS; i++) {
      if (i === FAULT_AT) await injectFault(scenario.fault);
      if (i === ENGAGE_BACK_AT && scenario.fault.kind === 'engage-restart') await engage.start();
      announced.push(await storeAndAnnounce(i));
    }
    // Every photo has an outcome and storage is empty; then every live instance reports idle.
    const missing = () => announced.filter((photo) => outcomesOf(received, topics, photo.filePath).length === 0);
    await waitFor(async () => missing().length === 0 && (await store.list(IMAGE_BUCKET)).length === 0, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'an outcome for every photo and an empty bucket',
    }).catch(() => undefined);
    const live = ids.filter((_, index) => instances[index]?.running());
    await waitUntilIdle(received, topics, live, 20_000);

    const { double, lost, reprocessed, problems } = judgeOutcomes(
      announced.map((photo) => photo.filePath),
      received,
      topics,
    );
    const left = (await store.list(IMAGE_BUCKET)).length;
    if (left > 0) problems.push(`${left} photo(s) left in storage`);
    const engageMismatch = await compareEngageHistory(
      engage.db,
      countedResultIds(received, topics, 'mallory'),
      problems,
    );
    if (engageMismatch > 0) problems.push(await describeEngage(engage));
    if (scenario.fault.kind === 'instance-crash' && instances[0]?.running()) problems.push('the victim did not crash');
    if (received.some((r) => r.topic === topics.results && r.value.instanceId === 'mallory')) {
      problems.push('a forged result was accepted');
    }
    return {
      scenario: scenario.name,
      photos: announced.length,
      double,
      lost,
      left,
      reprocessed,
      engageMismatch,
      problems,
    };
  } finally {
    await Promise.all([...instances.map((instance) => instance.stop('SIGTERM', 5_000)), engage.stop()]);
    await rm(engageDir, { recursive: true, force: true });
    await Promise.all([recorder.client.endAsync(true), announcer.client.endAsync(true), attacker.endAsync(true)]);
    await gate.stop();
    await broker.stop();
    await store.close();
    await s3.stop();
  }

  async function storeAndAnnounce(i: number): Promise<PhotoMetadata> {
    const key = newImageKey();
    const deviceID = `cam-${i % DEVICES}`;
    const creationTimestamp = Date.now() / 1000 + i / 1e6;
    await store.put(
      IMAGE_BUCKET,
      key,
      Buffer.from(`photo ${tag} ${i}`),
      photoObjectMetadata(deviceID, creationTimestamp),
    );
    const metadata: PhotoMetadata = { type: 'data', deviceID, filePath: filePathOf(key), creationTimestamp };
    // An announcement lost to the fault is recovered by the sweeper, as in production.
    await announcer.client.publishAsync(topics.metadata, JSON.stringify(metadata), { qos: 1 }).catch(() => undefined);
    return metadata;
  }

  async function injectFault(fault: Fault): Promise<void> {
    if (fault.kind === 'broker-restart') {
      // The test's observers are back and subscribed before any instance can reconnect.
      gate.close();
      await broker.restart(fault.signal);
      await waitFor(() => recorder.ready() && announcer.ready(), {
        timeoutMs: 15_000,
        message: 'the observers to reconnect',
      });
      // Engage too: a broker that lost its session delivers nothing to it until it has re-subscribed.
      await waitForHttp(`${engage.url}/healthz`, engage.process(), 30_000);
      gate.open();
      return;
    }
    if (fault.kind === 'engage-restart') {
      // Results published meanwhile wait in engage's persistent session on the broker.
      await engage.stop();
      return;
    }
    if (fault.kind === 'forged') {
      const claim = coordination().find((m) => m.type === 'claim') as
        | { claimId?: string; instanceId?: string; session?: string }
        | undefined;
      const claimId = claim?.claimId ?? 'unknown';
      const instanceId = claim?.instanceId ?? 'unknown';
      const session = claim?.session ?? 'unknown';
      const filePaths = announced.map((photo) => photo.filePath);
      const v = COORDINATION_VERSION;
      const forged = [
        { type: 'done', version: v, claimId, instanceId, filePaths },
        { type: 'offline', version: v, instanceId, session },
        { type: 'expire', version: v, claimId, by: 'mallory' },
        {
          type: 'claim',
          version: v,
          claimId: `mallory:${tag}`,
          instanceId: 'mallory',
          session,
          filePaths,
          leaseMs: 3_600_000,
        },
      ];
      for (const message of forged) {
        await attacker.publishAsync(topics.coordination, JSON.stringify(message), { qos: 1 });
      }
      for (const photo of announced) {
        const result = {
          type: 'result',
          version: 1,
          resultId: `forged-${photo.filePath}`,
          deviceID: photo.deviceID,
          count: 999_999_999,
          filePath: photo.filePath,
          creationTimestamp: photo.creationTimestamp,
          superseded: 0,
          batchId: 'mallory',
          instanceId: 'mallory',
          model: 'forged',
          analysedAt: photo.creationTimestamp,
          latencyMs: 0,
        };
        await attacker.publishAsync(topics.results, JSON.stringify(result), { qos: 1 });
      }
    }
    // instance-crash: the victim kills itself at its step (PEOPLE_COUNTER_TEST_CRASH_AT).
  }
}

/** The soak table: one row per scenario. */
export function formatTable(reports: RoundReport[]): string {
  const rows = new Map<string, Omit<RoundReport, 'scenario' | 'problems'> & { rounds: number }>();
  for (const report of reports) {
    const row = rows.get(report.scenario) ?? {
      rounds: 0,
      photos: 0,
      double: 0,
      lost: 0,
      left: 0,
      reprocessed: 0,
      engageMismatch: 0,
    };
    row.rounds += 1;
    row.photos += report.photos;
    row.double += report.double;
    row.lost += report.lost;
    row.left += report.left;
    row.reprocessed += report.reprocessed;
    row.engageMismatch += report.engageMismatch;
    rows.set(report.scenario, row);
  }
  const lines = [
    '| scenario | rounds | photos | double | lost | left | reprocessed | engage ≠ counted |',
    '|----------|-------:|-------:|-------:|-----:|-----:|------------:|-----------------:|',
  ];
  for (const [name, r] of rows) {
    lines.push(
      `| ${name} | ${r.rounds} | ${r.photos} | ${r.double} | ${r.lost} | ${r.left} | ${r.reprocessed} | ${r.engageMismatch} |`,
    );
  }
  return lines.join('\n');
}

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
import { connect, type MqttClient } from 'mqtt';
import { filePathOf, IMAGE_BUCKET, newImageKey, photoObjectMetadata } from '../../src/core/ids.js';
import { createMessageAuth, MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import { createObjectStore } from '../../src/core/storage/index.js';
import { makeTopics } from '../../src/core/topics.js';
import { openSqlite } from '../../src/engage/sqlite.js';
import { CRASH_AT_ENV, type RunStep } from '../../src/inference/claim-run.js';
import { COORDINATION_VERSION } from '../../src/inference/coordination-messages.js';
import { mqttConfigFor } from '../helpers/broker.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort, waitFor } from '../helpers/net.js';
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

interface RunningEngage {
  readonly url: string;
  db: string;
  process(): ServiceProcess;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Engage as an operator runs it: its own process and SQLite file, a persistent MQTT session. */
async function engageOn(brokerUrl: string, dir: string): Promise<RunningEngage> {
  const db = join(dir, 'engage.db');
  let child: ServiceProcess | undefined;
  let url = '';
  const launch = async () => {
    const port = await freePort();
    child = spawnProcess(
      'engage',
      [
        'engage',
        ...['--mqtt-url', brokerUrl, '--host', '127.0.0.1', '--port', String(port), '--db', db],
        ...['--instance-id', 'fault-engage', '--no-ha-discovery', '--log-level', 'error'],
      ],
      { [MESSAGE_SECRET_ENV]: SECRET },
    );
    url = `http://127.0.0.1:${port}`;
    // Healthy = connected and subscribed on the current connection.
    await waitForHttp(`${url}/healthz`, child, 120_000);
  };
  const running: RunningEngage = {
    get url() {
      return url;
    },
    db,
    process: () => {
      if (!child) throw new Error('engage was never started');
      return child;
    },
    start: async () => {
      // The free port can be taken by another process before engage binds it (other test files run
      // alongside): then engage exits, or a stranger answers /healthz. Either way, start again.
      for (let attempt = 1; ; attempt++) {
        const failure = await launch().then(
          () => (child?.running() ? undefined : 'exited'),
          (error: Error) => error.message,
        );
        if (failure === undefined && (await isEngage(url))) return;
        await child?.stop('SIGTERM', 10_000);
        if (attempt === 3) throw new Error(`engage did not start: ${failure ?? 'another server answered'}`);
      }
    },
    stop: async () => {
      await child?.stop('SIGTERM', 10_000);
    },
  };
  await running.start();
  return running;
}

/** Engage's health names its own checks: a stranger on the port does not. */
async function isEngage(url: string): Promise<boolean> {
  const body = (await fetch(`${url}/healthz`)
    .then((response) => response.json())
    .catch(() => undefined)) as { checks?: Record<string, boolean> } | undefined;
  return body?.checks?.subscribed === true && body.checks.database === true;
}

/** The result IDs engage stored (read beside the running engage: SQLite in WAL mode). */
function storedResultIds(db: string): Set<string> {
  const sqlite = openSqlite(db);
  try {
    const rows = sqlite.prepare('SELECT result_id FROM counts').all() as Array<{ result_id: string }>;
    return new Set(rows.map((row) => row.result_id));
  } finally {
    sqlite.close();
  }
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

interface Received {
  topic: string;
  value: Record<string, unknown>;
}

/** A client of the test that reconnects quickly, re-subscribing when the broker lost its session. */
async function observer(url: string, clientId: string, filters: string[], received?: Received[]) {
  const client = connect(url, { clientId, clean: false, reconnectPeriod: 20, connectTimeout: 2_000 });
  const auth = createMessageAuth(SECRET);
  let subscribed = false;
  client.on('connect', (packet) => {
    if (filters.length === 0) return;
    subscribed = packet.sessionPresent;
    if (!packet.sessionPresent) {
      void client
        .subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])))
        .then(() => {
          subscribed = true;
        })
        .catch(() => undefined);
    }
  });
  client.on('close', () => {
    subscribed = false;
  });
  client.on('message', (topic, payload) => {
    const verified = auth.verify(topic, payload);
    if (verified.ok) received?.push({ topic, value: verified.value as Record<string, unknown> });
  });
  const ready = () => client.connected && (filters.length === 0 || subscribed);
  await waitFor(ready, { timeoutMs: 10_000, message: `${clientId} to connect and subscribe` });
  return { client, ready };
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
    received,
  );
  const announcer = await observer(broker.url, `fault-announcer-${tag}`, []);
  const engageDir = await mkdtemp(join(tmpdir(), 'pc-fault-engage-'));
  const engage = await engageOn(broker.url, engageDir);
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
    const heartbeatOf = (id: string) =>
      coordination().filter((m) => m.type === 'heartbeat' && m.instanceId === id) as Array<{
        pending: number;
        activeClaims: number;
      }>;
    await waitFor(() => ids.every((id) => heartbeatOf(id).length > 0), {
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
    const missing = () => announced.filter((photo) => outcomesOf(photo.filePath).length === 0);
    await waitFor(async () => missing().length === 0 && (await store.list(IMAGE_BUCKET)).length === 0, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'an outcome for every photo and an empty bucket',
    }).catch(() => undefined);
    const live = ids.filter((_, index) => instances[index]?.running());
    const beatsNow = live.map((id) => heartbeatOf(id).length);
    await waitFor(
      () =>
        live.every((id, index) => {
          const beats = heartbeatOf(id);
          const last = beats.at(-1);
          return beats.length > (beatsNow[index] ?? 0) + 1 && last?.pending === 0 && last.activeClaims === 0;
        }),
      { timeoutMs: 20_000, message: 'every instance idle' },
    ).catch(() => undefined);

    const problems: string[] = [];
    let double = 0;
    let lost = 0;
    let reprocessed = 0;
    for (const photo of announced) {
      const found = outcomesOf(photo.filePath);
      const counted = found.filter((o) => o.type === 'result').length;
      if (found.length === 0) {
        lost += 1;
        problems.push(`lost ${photo.filePath}`);
      }
      if (found.some((o) => o.reprocessed === true)) reprocessed += 1;
      if (counted > 1 || (found.length > 1 && !found.some((o) => o.reprocessed === true))) {
        double += 1;
        problems.push(
          `${found.length} outcomes for ${photo.filePath} (${found.map((o) => `${o.type}@${o.instanceId}:${String(o.resultId ?? '')}`)})`,
        );
      }
    }
    const left = (await store.list(IMAGE_BUCKET)).length;
    if (left > 0) problems.push(`${left} photo(s) left in storage`);
    const engageMismatch = await compareEngageHistory(problems);
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

  /**
   * Engage's history must hold exactly the counted outcomes: each `result` once, nothing else.
   * It may still be catching up (a restarted engage drains its persistent session), so wait a while.
   */
  async function compareEngageHistory(problems: string[]): Promise<number> {
    const counted = new Set(
      received
        .filter((r) => r.topic === topics.results && r.value.instanceId !== 'mallory')
        .map((r) => String(r.value.resultId)),
    );
    const sameAsCounted = (stored: Set<string>) =>
      stored.size === counted.size && [...counted].every((id) => stored.has(id));
    await waitFor(() => sameAsCounted(storedResultIds(engage.db)), {
      timeoutMs: 20_000,
      message: 'engage to store every counted outcome',
    }).catch(() => undefined);
    const stored = storedResultIds(engage.db);
    const missing = [...counted].filter((id) => !stored.has(id));
    const extra = [...stored].filter((id) => !counted.has(id));
    if (missing.length > 0) {
      const child = engage.process();
      const health = await fetch(`${engage.url}/healthz`)
        .then(async (response) => `${response.status} ${await response.text()}`)
        .catch((error: Error) => error.message);
      problems.push(
        `engage is missing ${missing.length} of ${counted.size} counted outcome(s), stored ${stored.size}; ` +
          `engage ${child.running() ? 'running' : `exited ${child.child.exitCode ?? child.child.signalCode}`}, ` +
          `healthz ${health}; output: ${child.output().slice(-600)}`,
      );
    }
    if (extra.length > 0) problems.push(`engage stored ${extra.length} row(s) that are no counted outcome`);
    return missing.length + extra.length;
  }

  /**
   * The distinct outcomes of a photo. A QoS 1 message delivered twice (the broker re-sends what a
   * restart left unacknowledged) is one outcome: same resultId, same body.
   */
  function outcomesOf(filePath: string) {
    const distinct = new Map<string, Record<string, unknown>>();
    for (const r of received) {
      if (r.topic === topics.coordination || r.value.filePath !== filePath || r.value.payload !== undefined) continue;
      distinct.set(typeof r.value.resultId === 'string' ? r.value.resultId : JSON.stringify(r.value), r.value);
    }
    return [...distinct.values()];
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
        | { claimId?: string; instanceId?: string }
        | undefined;
      const claimId = claim?.claimId ?? 'unknown';
      const instanceId = claim?.instanceId ?? 'unknown';
      const filePaths = announced.map((photo) => photo.filePath);
      const v = COORDINATION_VERSION;
      const forged = [
        { type: 'done', version: v, claimId, instanceId, filePaths },
        { type: 'offline', version: v, instanceId },
        { type: 'expire', version: v, claimId, by: 'mallory' },
        { type: 'claim', version: v, claimId: `mallory:${tag}`, instanceId: 'mallory', filePaths, leaseMs: 3_600_000 },
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
  const rows = new Map<
    string,
    {
      rounds: number;
      photos: number;
      double: number;
      lost: number;
      left: number;
      reprocessed: number;
      engageMismatch: number;
    }
  >();
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

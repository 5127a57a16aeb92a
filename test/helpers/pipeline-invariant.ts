/**
 * The pipeline's invariant as the fault suites check it, with real parts: every announced photo
 * gets exactly one outcome (more only when flagged `reprocessed`), none counted twice, and engage's
 * history holds exactly the counted outcomes. Also the test's MQTT observer that records what it
 * checks, and engage as its own process. Used by test/faults and test/system/nats-cluster.
 */
import { join } from 'node:path';
// MQTT.js directly: the invariant's observer must not share code (availability, wills, fail-fast) with what it checks.
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { createMessageAuth, MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import type { Topics } from '../../src/core/topics.js';
import { openSqlite } from '../../src/engage/sqlite.js';
import { freePort, waitFor } from './net.js';
import { type ServiceProcess, spawnProcess, waitForHttp } from './processes.js';

/** A verified message the observer received. */
export interface Received {
  topic: string;
  value: Record<string, unknown>;
}

export interface Observer {
  client: MqttClient;
  /** Connected, and subscribed on the current connection. */
  ready(): boolean;
}

/**
 * A client of the test that reconnects quickly, re-subscribing when the broker lost its session,
 * and records the messages signed with `secret` into `received`.
 */
export async function observer(
  url: string,
  clientId: string,
  filters: string[],
  secret: string,
  received?: Received[],
  options: IClientOptions = {},
): Promise<Observer> {
  const client = connect(url, { clientId, clean: false, reconnectPeriod: 20, connectTimeout: 2_000, ...options });
  const auth = createMessageAuth(secret);
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

/**
 * The distinct outcomes of a photo. A QoS 1 message delivered twice (the broker re-sends what a
 * restart left unacknowledged) is one outcome: same resultId, same body.
 */
export function outcomesOf(received: Received[], topics: Topics, filePath: string): Array<Record<string, unknown>> {
  const distinct = new Map<string, Record<string, unknown>>();
  for (const r of received) {
    if (r.topic === topics.coordination || r.value.filePath !== filePath || r.value.payload !== undefined) continue;
    distinct.set(typeof r.value.resultId === 'string' ? r.value.resultId : JSON.stringify(r.value), r.value);
  }
  return [...distinct.values()];
}

/** The coordination messages that name a photo, in arrival order: where a lost photo went. */
function coordinationNaming(received: Received[], topics: Topics, filePath: string): string {
  const naming = received
    .filter((r) => r.topic === topics.coordination && (r.value.filePaths as unknown[] | undefined)?.includes(filePath))
    .map((r) => `${String(r.value.type)}@${String(r.value.instanceId)}:${String(r.value.claimId)}`);
  return naming.length > 0 ? naming.join(', ') : 'none';
}

/** The heartbeats an instance published, as the observer received them. */
export function heartbeatsOf(received: Received[], topics: Topics, instanceId: string) {
  return received
    .filter((r) => r.topic === topics.coordination && r.value.type === 'heartbeat' && r.value.instanceId === instanceId)
    .map((r) => r.value as { pending: number; activeClaims: number });
}

/**
 * Until every instance named has reported itself idle (nothing pending, no active claim) in a
 * heartbeat sent after this call, or the timeout; never throws (the verdict says what is wrong).
 */
export async function waitUntilIdle(received: Received[], topics: Topics, ids: string[], timeoutMs: number) {
  const beatsNow = ids.map((id) => heartbeatsOf(received, topics, id).length);
  await waitFor(
    () =>
      ids.every((id, index) => {
        const beats = heartbeatsOf(received, topics, id);
        const last = beats.at(-1);
        return beats.length > (beatsNow[index] ?? 0) + 1 && last?.pending === 0 && last.activeClaims === 0;
      }),
    { timeoutMs, message: 'every instance idle' },
  ).catch(() => undefined);
}

export interface OutcomeVerdict {
  /** Photos counted twice, or with several outcomes none of which is flagged reprocessed. */
  double: number;
  /** Photos without any outcome. */
  lost: number;
  /** Photos with an outcome flagged `reprocessed` (the documented exception). */
  reprocessed: number;
  problems: string[];
}

/** Exactly one outcome per photo (more only when flagged reprocessed), none counted twice. */
export function judgeOutcomes(filePaths: string[], received: Received[], topics: Topics): OutcomeVerdict {
  const verdict: OutcomeVerdict = { double: 0, lost: 0, reprocessed: 0, problems: [] };
  for (const filePath of filePaths) {
    const found = outcomesOf(received, topics, filePath);
    const counted = found.filter((o) => o.type === 'result').length;
    const flagged = found.some((o) => o.reprocessed === true);
    if (found.length === 0) {
      verdict.lost += 1;
      verdict.problems.push(
        `lost ${filePath} (coordination naming it: ${coordinationNaming(received, topics, filePath)})`,
      );
    }
    if (flagged) verdict.reprocessed += 1;
    if (counted > 1 || (found.length > 1 && !flagged)) {
      verdict.double += 1;
      verdict.problems.push(
        `${found.length} outcomes for ${filePath} (${found.map((o) => `${o.type}@${o.instanceId}:${String(o.resultId ?? '')}`)})`,
      );
    }
  }
  return verdict;
}

/** The resultIds of the counted outcomes received, from instances other than `except`. */
export function countedResultIds(received: Received[], topics: Topics, except?: string): Set<string> {
  return new Set(
    received
      .filter((r) => r.topic === topics.results && r.value.instanceId !== except)
      .map((r) => String(r.value.resultId)),
  );
}

/** The result IDs engage stored (read beside the running engage: SQLite in WAL mode). */
export function storedResultIds(db: string): Set<string> {
  const sqlite = openSqlite(db);
  try {
    const rows = sqlite.prepare('SELECT result_id FROM counts').all() as Array<{ result_id: string }>;
    return new Set(rows.map((row) => row.result_id));
  } finally {
    sqlite.close();
  }
}

/**
 * Engage's history must hold exactly the counted outcomes: each `result` once, nothing else.
 * It may still be catching up (a restarted engage drains its persistent session), so wait a while.
 * Returns the number of mismatches and names them in `problems`.
 */
export async function compareEngageHistory(db: string, counted: Set<string>, problems: string[]): Promise<number> {
  const sameAsCounted = (stored: Set<string>) =>
    stored.size === counted.size && [...counted].every((id) => stored.has(id));
  await waitFor(() => sameAsCounted(storedResultIds(db)), {
    timeoutMs: 20_000,
    message: 'engage to store every counted outcome',
  }).catch(() => undefined);
  const stored = storedResultIds(db);
  const missing = [...counted].filter((id) => !stored.has(id));
  const extra = [...stored].filter((id) => !counted.has(id));
  if (missing.length > 0) {
    problems.push(`engage is missing ${missing.length} counted outcome(s): ${missing.slice(0, 5).join(', ')}`);
  }
  if (extra.length > 0) {
    problems.push(`engage stored ${extra.length} row(s) that are no counted outcome: ${extra.slice(0, 5).join(', ')}`);
  }
  return missing.length + extra.length;
}

export interface RunningEngage {
  readonly url: string;
  db: string;
  process(): ServiceProcess;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Engage as an operator runs it: its own process and SQLite file in `dir`, a persistent MQTT
 * session, signatures checked with `secret`; started and healthy when this resolves.
 */
export async function engageOn(
  brokerUrl: string,
  dir: string,
  secret: string,
  instanceId = 'fault-engage',
): Promise<RunningEngage> {
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
        ...['--instance-id', instanceId, '--no-ha-discovery', '--log-level', 'error'],
      ],
      { [MESSAGE_SECRET_ENV]: secret },
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

/** Engage's state for a failure message: running or how it exited, its health and its last output. */
export async function describeEngage(engage: RunningEngage): Promise<string> {
  const child = engage.process();
  const health = await fetch(`${engage.url}/healthz`)
    .then(async (response) => `${response.status} ${await response.text()}`)
    .catch((error: Error) => error.message);
  const state = child.running() ? 'running' : `exited ${child.child.exitCode ?? child.child.signalCode}`;
  return `engage ${state}, healthz ${health}; output: ${child.output().slice(-600)}`;
}

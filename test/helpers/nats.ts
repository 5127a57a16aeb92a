/**
 * Debian's `nats-server` as a cluster on loopback for system tests: every node with JetStream (its
 * own store folder) and an MQTT 3.1.1 listener, routes to every other node, MQTT streams replicated
 * on every node so that the cluster keeps a quorum with one node down, and the MQTT message stream
 * created first with limits retention, as docs/system.md recommends. Nodes can be SIGKILLed and
 * started again on the same ports and store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// MQTT.js directly: a bare probe of whether NATS serves MQTT, with no service identity or availability messages.
import { connect } from 'mqtt';
import { z } from 'zod';
import { freePorts, waitFor } from './net.js';
import { endChild, killOnExit } from './processes.js';

export interface NatsNode {
  name: string;
  /** The node's MQTT listener (MQTT 3.1.1 only). */
  mqttUrl: string;
  running(): boolean;
  /** The node's JetStream server health: true once it is current with the cluster's meta group. */
  healthy(): Promise<boolean>;
  /** Sends `signal` (SIGTERM: SIGKILL after a timeout) and waits for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts the node again (same ports, same store) and waits until it serves MQTT with JetStream. */
  start(): Promise<void>;
  /** The node's recent log, for failure messages. */
  output(): string;
}

export interface RunningNatsCluster {
  nodes: NatsNode[];
  /** Every node's recent log. */
  describe(): string;
  /** Stops every node and removes the store folders. */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 5_000;
const READY_TIMEOUT_MS = 90_000;
const OUTPUT_LIMIT = 50_000;
const PORT_ATTEMPTS = 3;

interface Ports {
  client: number;
  monitor: number;
  route: number;
  mqtt: number;
}

/**
 * Starts `size` nodes at once (JetStream needs a quorum to elect its leader) and waits for all. A
 * port taken by another test process between choosing and binding it starts over on new ports.
 */
export async function startNatsCluster(size = 3): Promise<RunningNatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size);
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS || !(error as Error).message.includes('address already in use')) throw error;
    }
  }
}

async function startNatsClusterOnce(size: number): Promise<RunningNatsCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-nats-'));
  const free = await freePorts(4 * size);
  const ports: Ports[] = Array.from({ length: size }, (_, i) => {
    const [client = 0, monitor = 0, route = 0, mqtt = 0] = free.slice(4 * i, 4 * i + 4);
    return { client, monitor, route, mqtt };
  });
  const nodes = await Promise.all(ports.map((own, i) => natsNode(`n${i + 1}`, dir, own, ports)));
  const [first] = ports;
  if (!first) throw new Error('a NATS cluster needs at least one node');
  const cluster: RunningNatsCluster = {
    nodes,
    describe: () => nodes.map((node) => `----- nats ${node.name} -----\n${node.output().trimEnd()}`).join('\n'),
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop('SIGTERM')));
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((node) => node.launch()));
    // Before any MQTT client connects: the first one makes NATS create its MQTT streams.
    await createMqttMessageStream(first.client, Math.min(3, size));
    await Promise.all(nodes.map((node) => node.start()));
  } catch (error) {
    const described = cluster.describe();
    await cluster.stop();
    throw new Error(`${(error as Error).message}\n${described}`);
  }
  return cluster;
}

interface StartableNatsNode extends NatsNode {
  /** Starts the process and waits for its JetStream server, not for MQTT. */
  launch(): Promise<void>;
}

async function natsNode(name: string, dir: string, own: Ports, all: Ports[]): Promise<StartableNatsNode> {
  const storeDir = join(dir, name);
  await mkdir(storeDir, { recursive: true });
  const config = join(dir, `${name}.conf`);
  const routes = all.filter((other) => other !== own).map((other) => `"nats-route://127.0.0.1:${other.route}"`);
  await writeFile(
    config,
    [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${own.client}`,
      `http: 127.0.0.1:${own.monitor}`,
      `jetstream { store_dir: "${storeDir}" }`,
      `cluster { name: pc-test, listen: 127.0.0.1:${own.route}, routes: [${routes.join(', ')}] }`,
      // Replicated on every node: one node down leaves a quorum. Its default counts the routes (2 here).
      `mqtt { listen: 127.0.0.1:${own.mqtt}, stream_replicas: ${Math.min(3, all.length)} }`,
      '',
    ].join('\n'),
  );
  const mqttUrl = `mqtt://127.0.0.1:${own.mqtt}`;
  let child: ChildProcess | undefined;
  let output = '';
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const waitUntilServing = (what: string, check: () => Promise<boolean>) =>
    waitFor(
      async () => {
        if (child?.exitCode !== null && child?.exitCode !== undefined) {
          throw new Error(`nats ${name} exited with ${child.exitCode}:\n${output}`);
        }
        return check();
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 200, message: `nats ${name} to serve ${what}` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its log ends:\n${output.slice(-6_000)}`);
    });
  const node: StartableNatsNode = {
    name,
    mqttUrl,
    running,
    healthy: () => jetStreamHealthy(own.monitor),
    output: () => output,
    stop: (signal = 'SIGTERM') => endChild(child, signal, STOP_TIMEOUT_MS),
    launch: async () => {
      if (running()) return;
      const started = spawn('nats-server', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      killOnExit(started);
      child = started;
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
      };
      started.stdout?.on('data', keep);
      started.stderr?.on('data', keep);
      await waitUntilServing('JetStream', () => jetStreamHealthy(own.monitor));
    },
    start: async () => {
      await node.launch();
      await waitUntilServing('MQTT with JetStream', () => mqttServes(mqttUrl));
    },
  };
  return node;
}

/**
 * The monitoring endpoint's health of the node's JetStream server (meta group current). Not every
 * stream and consumer: a restarted 2.9.10 node was seen to report one consumer "not current" for
 * minutes while it served MQTT (docs/system.md, "The system test").
 */
async function jetStreamHealthy(monitorPort: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-server-only=true`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** An MQTT client can connect and subscribe at QoS 1 (which needs the MQTT streams in JetStream). */
function mqttServes(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const client = connect(url, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 2_000,
      clientId: `nats-probe-${Math.random().toString(16).slice(2)}`,
    });
    let answered = false;
    // A subscription that JetStream cannot serve yet may get no answer at all.
    const timer = setTimeout(() => done(false), 5_000);
    const done = (ok: boolean) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      client.end(true);
      resolve(ok);
    };
    client.once('connect', () => {
      client
        .subscribeAsync({ 'pc-probe/ready': { qos: 1 } })
        .then((granted) => done(granted.every((grant) => grant.qos === 1)))
        .catch(() => done(false));
    });
    client.once('error', () => done(false));
    client.once('close', () => done(false));
  });
}

/** What NATS 2.9 stores MQTT QoS 1 messages in (server/mqtt.go: mqttStreamName, mqttStreamSubjectPrefix). */
const MQTT_MESSAGE_STREAM = '$MQTT_msgs';
const MQTT_MESSAGE_SUBJECTS = '$MQTT.msgs.>';
/** How long a QoS 1 message stays available to a subscriber that has not received it yet. */
const MQTT_MESSAGE_MAX_AGE_NS = 3_600 * 1e9;

const streamCreateAnswer = z.object({ error: z.object({ description: z.string() }).optional() });

/**
 * Creates NATS's MQTT message stream with limits retention before its MQTT layer would create it
 * with interest retention (docs/system.md, "Settings"). With interest retention, NATS 2.9.10 can
 * delete a message from every replica before every subscriber has received it: a replica that
 * applies a consumer's acknowledgement before it has stored the message asks the whole stream to
 * delete that message (server/stream.go, ackMsg; replaced by pre-acks in 2.9.16).
 */
async function createMqttMessageStream(clientPort: number, replicas: number): Promise<void> {
  const config = {
    name: MQTT_MESSAGE_STREAM,
    subjects: [MQTT_MESSAGE_SUBJECTS],
    retention: 'limits',
    storage: 'file',
    discard: 'old',
    num_replicas: replicas,
    max_age: MQTT_MESSAGE_MAX_AGE_NS,
  };
  let lastError = 'no answer';
  await waitFor(
    async () => {
      const answer = await natsRequest(
        clientPort,
        `$JS.API.STREAM.CREATE.${MQTT_MESSAGE_STREAM}`,
        JSON.stringify(config),
      )
        .then((text) => streamCreateAnswer.parse(JSON.parse(text)))
        .catch((error: Error) => ({ error: { description: error.message } }));
      lastError = answer.error?.description ?? '';
      return answer.error === undefined;
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, message: `the ${MQTT_MESSAGE_STREAM} stream` },
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${lastError}`);
  });
}

/** One request and its answer over NATS's text protocol (INFO/CONNECT/SUB/PUB/MSG): no client library. */
function natsRequest(port: number, subject: string, payload: string, timeoutMs = 5_000): Promise<string> {
  const inbox = `_INBOX.pc-test-${process.pid}`;
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no answer on ${subject} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (result: string | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (typeof result === 'string') resolve(result);
      else reject(result);
    };
    socket.once('connect', () => {
      const body = Buffer.from(payload, 'utf8');
      socket.write(`CONNECT {"verbose":false,"pedantic":false}\r\nSUB ${inbox} 1\r\n`);
      socket.write(`PUB ${subject} ${inbox} ${body.length}\r\n`);
      socket.write(Buffer.concat([body, Buffer.from('\r\n')]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const error = /-ERR ([^\r]*)\r\n/.exec(text);
      if (error) return finish(new Error(`NATS refused: ${error[1]}`));
      const header = new RegExp(`MSG ${inbox.replaceAll('.', '\\.')} 1 (\\d+)\r\n`).exec(text);
      if (!header) return;
      const start = header.index + header[0].length;
      const length = Number(header[1]);
      if (received.length >= start + length) finish(received.subarray(start, start + length).toString('utf8'));
    });
    socket.once('error', finish);
  });
}

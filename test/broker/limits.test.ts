/**
 * The embedded broker's listener is bounded (docs/security.md): idle sockets over the per-address
 * cap are closed at once and counted, a real client still connects and gets its messages, and a
 * socket that never sends CONNECT is closed after the handshake timeout.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, test } from 'node:test';
// MQTT.js directly: these tests drive the broker with plain clients, as any device or tool would.
import { connectAsync } from 'mqtt';
import { DEFAULT_CONNECT_TIMEOUT_MS, type RunningBroker, startBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';
import { closed, connectionMetric, idleSocket } from '../helpers/connections.js';
import { waitFor } from '../helpers/net.js';

/** The flood comes from another loopback address than the legitimate client (127.0.0.1). */
const FLOOD_ADDRESS = '127.0.0.2';

/** Connects from 127.0.0.1, subscribes, publishes to itself and returns what came back. */
async function roundTrip(broker: RunningBroker): Promise<string> {
  const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    await client.subscribeAsync('limits/test', { qos: 1 });
    const received = new Promise<string>((resolve) =>
      client.once('message', (_topic, payload) => resolve(`${payload}`)),
    );
    await client.publishAsync('limits/test', 'still here', { qos: 1 });
    return await received;
  } finally {
    await client.endAsync();
  }
}

describe('the MQTT listener under a flood of idle sockets', () => {
  const sockets: Socket[] = [];
  const brokers: RunningBroker[] = [];
  after(async () => {
    for (const socket of sockets) socket.destroy();
    for (const broker of brokers) await broker.stop();
  });

  test('sockets over the per-address cap are closed; a client from another address works; metrics count them', async () => {
    const metrics = createMetricsRegistry('broker', 'limits-test');
    const broker = await startBroker({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      connectionLimits: { maxConnections: 100, maxConnectionsPerAddress: 3 },
      metrics,
    });
    brokers.push(broker);
    const open = () => connectionMetric(metrics, 'people_counter_connections_open', { listener: 'mqtt' });
    for (let i = 0; i < 3; i++) sockets.push(await idleSocket(broker.port, FLOOD_ADDRESS));
    await waitFor(async () => (await open()) === 3, { message: 'three idle sockets accepted' });

    const extra = [];
    for (let i = 0; i < 10; i++) extra.push(await idleSocket(broker.port, FLOOD_ADDRESS));
    sockets.push(...extra);
    await Promise.all(extra.map(closed));
    assert.ok(
      sockets.slice(0, 3).every((socket) => !socket.closed),
      'the sockets within the cap wait for their CONNECT timeout',
    );

    assert.equal(await roundTrip(broker), 'still here');
    assert.equal(
      await connectionMetric(metrics, 'people_counter_connections_refused_total', {
        listener: 'mqtt',
        reason: 'per-address',
      }),
      10,
    );
    assert.equal(
      await connectionMetric(metrics, 'people_counter_connections_refused_total', {
        listener: 'mqtt',
        reason: 'total',
      }),
      0,
    );
  });

  test('a socket that never sends CONNECT is closed after the handshake timeout', async () => {
    const metrics = createMetricsRegistry('broker', 'connect-timeout-test');
    const broker = await startBroker({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      connectTimeoutMs: 200,
      metrics,
    });
    brokers.push(broker);
    const silent = await idleSocket(broker.port, FLOOD_ADDRESS);
    const openedAt = Date.now();
    sockets.push(silent);
    await closed(silent);
    const openMs = Date.now() - openedAt;
    assert.ok(openMs >= 150 && openMs < DEFAULT_CONNECT_TIMEOUT_MS, `closed by the 200 ms timeout, after ${openMs} ms`);
    await waitFor(
      async () => (await connectionMetric(metrics, 'people_counter_connections_open', { listener: 'mqtt' })) === 0,
      { message: 'the silent socket no longer counted' },
    );
    assert.equal(await roundTrip(broker), 'still here', 'a client that sends CONNECT at once is unaffected');
  });
});

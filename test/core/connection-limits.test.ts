/**
 * Bounded HTTP listeners (docs/security.md): a flood of idle sockets from one address over its cap
 * is closed at once, a client from another address is still served, the metrics count the
 * refusals, and idle sockets within the cap are closed by the header timeout.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { type ConnectionLimits, remoteKey } from '../../src/core/connection-limits.js';
import { createHttpServer, type HttpServer, listen } from '../../src/core/http.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';
import { closed, connectionMetric, getOnce, idleSocket } from '../helpers/connections.js';
import { waitFor } from '../helpers/net.js';

/** The flood comes from another loopback address than the legitimate client (127.0.0.1). */
const FLOOD_ADDRESS = '127.0.0.2';

async function startServer(limits: ConnectionLimits, requestTimeoutMs = 60_000) {
  const registry = createMetricsRegistry('engage', 'limits-test');
  const app: HttpServer = createHttpServer({
    title: 'test',
    description: 'test',
    logger: silentLogger(),
    metrics: registry,
    connectionLimits: limits,
    requestTimeoutMs,
  });
  const url = await listen(app, '127.0.0.1', 0);
  return { app, registry, url, port: Number(new URL(url).port) };
}

test('remote addresses are counted as IPv4 whether or not they come IPv4-mapped', () => {
  assert.equal(remoteKey('::ffff:10.0.0.7'), '10.0.0.7');
  assert.equal(remoteKey('10.0.0.7'), '10.0.0.7');
  assert.equal(remoteKey('::1'), '::1');
  assert.equal(remoteKey(undefined), 'unknown');
});

describe('an HTTP listener under a flood of idle sockets', () => {
  const sockets: Socket[] = [];
  const servers: HttpServer[] = [];
  after(async () => {
    for (const socket of sockets) socket.destroy();
    for (const app of servers) await app.close();
  });

  test('sockets over the per-address cap are closed; another address is served; metrics count them', async () => {
    const { app, registry, url, port } = await startServer({ maxConnections: 100, maxConnectionsPerAddress: 3 });
    servers.push(app);
    const open = () => connectionMetric(registry, 'people_counter_connections_open', { listener: 'http' });
    for (let i = 0; i < 3; i++) sockets.push(await idleSocket(port, FLOOD_ADDRESS));
    await waitFor(async () => (await open()) === 3, { message: 'three idle sockets accepted' });

    const extra = [];
    for (let i = 0; i < 5; i++) extra.push(await idleSocket(port, FLOOD_ADDRESS));
    sockets.push(...extra);
    await Promise.all(extra.map(closed));
    assert.ok(
      sockets.slice(0, 3).every((socket) => !socket.closed),
      'the sockets within the cap stay open',
    );

    assert.equal((await getOnce(`${url}/healthz`)).status, 200, 'a client from another address is served');
    const exposition = (await getOnce(`${url}/metrics`)).body;
    assert.match(exposition, /people_counter_connections_refused_total\{[^}]*reason="per-address"[^}]*\} 5/);
    assert.match(exposition, /people_counter_connections_refused_total\{[^}]*reason="total"[^}]*\} 0/);
    assert.equal(
      await connectionMetric(registry, 'people_counter_connections_refused_total', {
        listener: 'http',
        reason: 'per-address',
      }),
      5,
    );
    for (const socket of sockets.slice(0, 3)) socket.destroy();
    await waitFor(async () => (await open()) === 0, { message: 'closed sockets no longer counted' });
  });

  test('sockets over the total cap are closed before the server sees them', async () => {
    const { app, registry, url, port } = await startServer({ maxConnections: 4, maxConnectionsPerAddress: 100 });
    servers.push(app);
    const flood = [];
    for (let i = 0; i < 4; i++) flood.push(await idleSocket(port, FLOOD_ADDRESS));
    sockets.push(...flood);
    await waitFor(
      async () => (await connectionMetric(registry, 'people_counter_connections_open', { listener: 'http' })) === 4,
      { message: 'four idle sockets accepted' },
    );
    const over = await idleSocket(port, FLOOD_ADDRESS);
    sockets.push(over);
    await closed(over);
    assert.equal(
      await connectionMetric(registry, 'people_counter_connections_refused_total', {
        listener: 'http',
        reason: 'total',
      }),
      1,
    );
    // The total cap is the last resort: once the flood's sockets go, everyone is served again.
    for (const socket of flood) socket.destroy();
    await waitFor(
      async () => (await connectionMetric(registry, 'people_counter_connections_open', { listener: 'http' })) === 0,
      { message: 'the flood gone' },
    );
    assert.equal((await getOnce(`${url}/healthz`)).status, 200);
  });

  test('an idle socket within the caps is closed once the header timeout passes', async () => {
    const { app, url, port } = await startServer({ maxConnections: 100, maxConnectionsPerAddress: 100 }, 300);
    servers.push(app);
    const idle = await idleSocket(port, FLOOD_ADDRESS);
    sockets.push(idle);
    const answer: Buffer[] = [];
    idle.on('data', (chunk: Buffer) => answer.push(chunk));
    await closed(idle);
    assert.match(Buffer.concat(answer).toString(), /^HTTP\/1\.1 408/);
    assert.equal((await getOnce(`${url}/healthz`)).status, 200);
  });
});

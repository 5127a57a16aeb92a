/** Idle sockets and the connection metrics, for the tests of bounded listeners (src/core/connection-limits.ts). */
import { once } from 'node:events';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Registry } from 'prom-client';

/** A TCP connection from `localAddress` (another loopback address stands for another client) that sends nothing. */
export async function idleSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  // A refused socket may be reset rather than closed; 'close' is what the tests wait for.
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Resolves when the socket has closed (at once if it already has). */
export async function closed(socket: Socket): Promise<void> {
  if (socket.closed) return;
  await once(socket, 'close');
}

/** The value of one series of a connection metric in `registry` (0 when it has none). */
export async function connectionMetric(
  registry: Registry,
  name: 'people_counter_connections_open' | 'people_counter_connections_refused_total',
  labels: Record<string, string>,
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const series = metric?.values.find((value) =>
    Object.entries(labels).every(([key, label]) => value.labels[key] === label),
  );
  return series?.value ?? 0;
}

/** A GET on a connection of its own that closes after the answer (fetch would keep it open and counted). */
export function getOnce(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    }).on('error', reject);
  });
}

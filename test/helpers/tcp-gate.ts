/**
 * A TCP relay in front of a broker that a test can close to new connections: after a broker
 * restart the test's own observers reconnect first, then the gate opens for the services, so
 * that no outcome is published before the observers listen again.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpGate {
  port: number;
  url: string;
  /** New connections are refused until `open()`; existing ones stay. */
  close(): void;
  open(): void;
  stop(): Promise<void>;
}

export async function startTcpGate(targetPort: number): Promise<TcpGate> {
  let accepting = true;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (!accepting) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    close: () => {
      accepting = false;
    },
    open: () => {
      accepting = true;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

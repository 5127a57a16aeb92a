/**
 * The embedded MQTT broker (aedes): MQTT 3.1.1 over TCP, in this process, for `up`, tests and
 * small sites. Note: aedes 1.2 refuses MQTT 5 and its `$share` subscriptions deliver nothing.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from '../core/log.js';

export interface BrokerOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  logger: Logger;
}

export interface RunningBroker {
  host: string;
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { username, password, logger } = options;
  if ((username === undefined) !== (password === undefined)) {
    throw new Error('broker authentication needs both a username and a password');
  }
  const broker = await Aedes.createBroker({
    // Our client IDs are longer than the MQTT 3.1 limit of 23 that aedes applies by default.
    maxClientsIdLength: 128,
    authenticate: (_client, givenUser, givenPassword, done) => {
      if (username === undefined) return done(null, true);
      const ok =
        givenUser === username && givenPassword !== undefined && safeEqual(givenPassword, Buffer.from(password ?? ''));
      if (!ok) logger.warn({ user: givenUser }, 'MQTT authentication failed');
      done(null, ok);
    },
  });
  broker.on('clientError', (client, error) => logger.debug({ client: client.id, err: error }, 'MQTT client error'));
  const server: Server = createServer((socket) => {
    // Small MQTT packets must not wait for Nagle's algorithm (~40 ms per round trip on loopback).
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // The broker's timers would keep the process alive.
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `mqtt://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  logger.info({ url, auth: username !== undefined }, 'embedded MQTT broker listening');
  return {
    host: options.host,
    port,
    url,
    stop: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function safeEqual(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}

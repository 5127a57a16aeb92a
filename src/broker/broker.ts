/**
 * The embedded MQTT broker (aedes): MQTT 3.1.1 over TCP, in this process, for `up`, tests and
 * small sites. With credentials, every client authenticates and publishes only where its role
 * allows (src/broker/access.ts); a client publishing elsewhere is disconnected. Packets larger
 * than `maxPacketBytes` cut the connection at their header. Note: aedes 1.2 refuses MQTT 5 and
 * its `$share` subscriptions deliver nothing.
 */
import { createServer, type Server } from 'node:net';
import { Aedes, type Client } from 'aedes';
import { type ConnectionLimits, limitConnections } from '../core/connection-limits.js';
import { DEFAULT_IMAGE_LIMITS } from '../core/image.js';
import type { Logger } from '../core/log.js';
import type { Registry } from '../core/metrics.js';
import { DEFAULT_DISCOVERY_PREFIX, makeTopics } from '../core/topics.js';
import {
  type AccessRules,
  authenticateClient,
  type BrokerCredentials,
  type ClientIdentity,
  isRefusal,
  mayPublish,
  maySubscribe,
  stillAuthorized,
} from './access.js';
import { limitPacketSize } from './packet-size.js';

/**
 * Messages the broker delivers at once; more wait in its queue. aedes' default of 100 is reached
 * by a burst of announcements fanned out to every instance, and a claim then queues behind them
 * (docs/coordination.md, "Costs": 13 idle A/B pairs, claim round trip p50 4.89 → 4.54 ms).
 */
const DELIVERY_CONCURRENCY = 1000;

/**
 * A client sends CONNECT as its first packet, one round trip after the TCP handshake: a few seconds
 * cover slow links, and a socket that says nothing stops holding a connection slot soon.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** Room for the largest photo a device may publish, its topic and the MQTT header. */
export const DEFAULT_MAX_PACKET_BYTES = DEFAULT_IMAGE_LIMITS.maxBytes + 65_536;

export interface BrokerOptions {
  host: string;
  port: number;
  /** Accounts and their rights; undefined = anonymous clients may do anything (tests, loopback demos). */
  credentials?: BrokerCredentials;
  /** The topics the access rules protect; default the default prefix and Home Assistant discovery prefix. */
  access?: Partial<AccessRules>;
  maxPacketBytes?: number;
  /** Caps on open connections (default DEFAULT_CONNECTION_LIMITS). */
  connectionLimits?: ConnectionLimits;
  /** Time a client has to send CONNECT after opening the socket; default DEFAULT_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
  /** Where the connection counts go (`listener="mqtt"`); none: not counted. */
  metrics?: Registry;
  logger: Logger;
}

export interface RunningBroker {
  host: string;
  port: number;
  url: string;
  stop(): Promise<void>;
}

function describe(identity: ClientIdentity | undefined): string {
  if (!identity) return 'anonymous';
  return identity.role === 'device' ? `device ${identity.deviceId}` : `${identity.role} (${identity.username})`;
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { credentials, logger } = options;
  const rules: AccessRules = {
    topics: options.access?.topics ?? makeTopics(),
    discoveryPrefix: options.access?.discoveryPrefix ?? DEFAULT_DISCOVERY_PREFIX,
  };
  const maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  const identities = new WeakMap<Client, ClientIdentity>();
  /** Connected devices, looked at again when the device registry changes (a revocation disconnects). */
  const devices = new Set<Client>();
  const refuse = (client: Client, what: string) => {
    logger.warn({ client: client.id, who: describe(identities.get(client)) }, `MQTT ${what} refused`);
    return new Error(`not authorized: ${what}`);
  };
  const broker = await Aedes.createBroker({
    // Our client IDs are longer than the MQTT 3.1 limit of 23 that aedes applies by default.
    maxClientsIdLength: 128,
    concurrency: DELIVERY_CONCURRENCY,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    authenticate: (client, username, password, done) => {
      if (credentials === undefined) return done(null, true);
      authenticateClient(credentials, { clientId: client.id, username, password }).then(
        (result) => {
          if (isRefusal(result)) {
            logger.warn({ user: username, client: client.id, reason: result.reason }, 'MQTT connection refused');
            return done(null, false);
          }
          identities.set(client, result);
          if (result.role === 'device') devices.add(client);
          done(null, true);
        },
        (error: unknown) => {
          logger.error({ err: error, user: username, client: client.id }, 'MQTT authentication failed with an error');
          done(null, false);
        },
      );
    },
    authorizePublish: (client, packet, done) => {
      const identity = client ? identities.get(client) : undefined;
      if (credentials === undefined || client === null || (identity && mayPublish(identity, packet.topic, rules))) {
        return done(null);
      }
      done(refuse(client, `publish on ${packet.topic}`));
    },
    authorizeSubscribe: (client, subscription, done) => {
      const identity = identities.get(client);
      if (credentials === undefined || (identity && maySubscribe(identity, subscription.topic, rules))) {
        return done(null, subscription);
      }
      refuse(client, `subscription to ${subscription.topic}`);
      // A null grant answers this one filter with "failure" (0x80) and keeps the connection.
      done(null, null);
    },
  });
  broker.on('clientError', (client, error) => logger.debug({ client: client.id, err: error }, 'MQTT client error'));
  broker.on('clientDisconnect', (client) => devices.delete(client));
  const disconnectRevoked = () => {
    for (const client of devices) {
      const identity = identities.get(client);
      if (client.closed) devices.delete(client);
      else if (credentials && identity && !stillAuthorized(credentials, identity)) {
        logger.warn({ client: client.id, who: describe(identity) }, 'device credential revoked; disconnected');
        devices.delete(client);
        client.close();
      }
    }
  };
  const stopFollowingRegistry = credentials?.devices?.onChange(disconnectRevoked);
  const server: Server = createServer();
  limitConnections(server, {
    listener: 'mqtt',
    logger,
    ...(options.connectionLimits ? { limits: options.connectionLimits } : {}),
    ...(options.metrics ? { registry: options.metrics } : {}),
  });
  server.on('connection', (socket) => {
    if (socket.destroyed) return; // refused by the connection caps
    // Small MQTT packets must not wait for Nagle's algorithm (~40 ms per round trip on loopback).
    socket.setNoDelay(true);
    broker.handle(
      limitPacketSize(socket, maxPacketBytes, (announced) =>
        logger.warn(
          { remote: socket.remoteAddress, bytes: announced, limit: maxPacketBytes },
          'MQTT packet larger than the limit; connection closed',
        ),
      ),
    );
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
  logger.info({ url, auth: credentials !== undefined, maxPacketBytes }, 'embedded MQTT broker listening');
  if (credentials === undefined) logger.warn({ url }, 'the embedded broker accepts anonymous clients with full rights');
  return {
    host: options.host,
    port,
    url,
    stop: async () => {
      stopFollowingRegistry?.();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

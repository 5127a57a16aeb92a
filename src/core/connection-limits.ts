/**
 * Bounded listeners: every socket a server of ours accepts (MQTT, HTTP) counts against a total cap
 * and a cap per remote address, so that a flood of idle connections cannot use up the file
 * descriptors and memory every other client needs, and one address cannot take them all. Over a
 * cap the socket is closed at once and counted in the metrics. How long an accepted socket may sit
 * idle is each protocol's business (MQTT CONNECT timeout, HTTP header and keep-alive timeouts).
 */
import type { Server, Socket } from 'node:net';
import { z } from 'zod';
import type { Logger } from './log.js';
import { Counter, Gauge, type Registry } from './metrics.js';

/**
 * A few hundred cameras and dashboards per listener with room to spare; per address, a site of
 * cameras behind one NAT address or a proxy's pooled connections (docs/security.md).
 */
export const DEFAULT_CONNECTION_LIMITS = { maxConnections: 1000, maxConnectionsPerAddress: 100 } as const;

export const connectionLimitsSchema = z.object({
  /** Open connections of the listener at most; more are closed at once. */
  maxConnections: z.number().int().positive(),
  /** Open connections from one remote address at most. */
  maxConnectionsPerAddress: z.number().int().positive(),
});
export type ConnectionLimits = z.infer<typeof connectionLimitsSchema>;

export type RefusalReason = 'total' | 'per-address';

interface ConnectionMetrics {
  open: Gauge<'listener'>;
  refused: Counter<'listener' | 'reason'>;
}

/** One pair of metrics per registry, however many listeners count into it. */
const metricsByRegistry = new WeakMap<Registry, ConnectionMetrics>();

function connectionMetrics(registry: Registry): ConnectionMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    metrics = {
      open: new Gauge({
        name: 'people_counter_connections_open',
        help: 'Connections open on a listener',
        labelNames: ['listener'],
        registers: [registry],
      }),
      refused: new Counter({
        name: 'people_counter_connections_refused_total',
        help: 'Connections closed on arrival because a cap was reached (total, per-address)',
        labelNames: ['listener', 'reason'],
        registers: [registry],
      }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

export interface LimitConnectionsOptions {
  /** The `listener` label: `mqtt`, `http`. */
  listener: string;
  limits?: ConnectionLimits;
  /** Where the open and refused counts go; none: not counted. */
  registry?: Registry;
  logger?: Logger;
}

/** At most one warning per listener in this time: a flood is seen in the metrics, not in the logs. */
const WARN_INTERVAL_MS = 60_000;

/** The address a socket's peer is counted under (IPv4-mapped IPv6 as IPv4). Pure. */
export function remoteKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

/**
 * Puts `server` under `limits`. Call it before the server accepts anything. The total cap is
 * node's own `maxConnections` (the socket is closed before anyone sees it); the per-address cap
 * destroys the socket in a `connection` listener that runs first, so the server's own `connection`
 * listeners get a socket that is already destroyed and must leave it alone.
 */
export function limitConnections(server: Server, options: LimitConnectionsOptions): void {
  const { listener, logger } = options;
  const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
  const metrics = options.registry ? connectionMetrics(options.registry) : undefined;
  const openByAddress = new Map<string, number>();
  let lastWarningAt = Number.NEGATIVE_INFINITY;

  const refuse = (reason: RefusalReason, remote: string) => {
    metrics?.refused.inc({ listener, reason });
    const now = Date.now();
    if (now - lastWarningAt < WARN_INTERVAL_MS) return;
    lastWarningAt = now;
    logger?.warn(
      { listener, reason, remote, ...limits },
      'connection refused over the cap (more refusals this minute are only counted in the metrics)',
    );
  };

  // Zero-valued series from the start: a dashboard sees "none refused" rather than "no data".
  metrics?.open.inc({ listener }, 0);
  for (const reason of ['total', 'per-address'] satisfies RefusalReason[])
    metrics?.refused.inc({ listener, reason }, 0);

  server.maxConnections = limits.maxConnections;
  server.on('drop', (dropped) => refuse('total', remoteKey(dropped?.remoteAddress)));
  server.prependListener('connection', (socket: Socket) => {
    const remote = remoteKey(socket.remoteAddress);
    const open = openByAddress.get(remote) ?? 0;
    if (open >= limits.maxConnectionsPerAddress) {
      socket.destroy();
      refuse('per-address', remote);
      return;
    }
    openByAddress.set(remote, open + 1);
    metrics?.open.inc({ listener });
    socket.once('close', () => {
      const left = (openByAddress.get(remote) ?? 1) - 1;
      if (left > 0) openByAddress.set(remote, left);
      else openByAddress.delete(remote);
      metrics?.open.dec({ listener });
    });
  });
}

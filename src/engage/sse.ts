/**
 * `GET /api/events`: Server-Sent Events for the dashboard. A `snapshot` first (devices, sites,
 * recent alerts, alert rules), then every live event as it happens, and a comment line as heartbeat so that
 * proxies keep the stream open.
 */
import type { ServerResponse } from 'node:http';
import type { HttpServer } from '../core/http.js';
import type { EngageEngine } from './engine.js';
import type { LiveEvents } from './events.js';
import type { EngageMetrics } from './metrics.js';
import type { EngageStore } from './store.js';

const HEARTBEAT_MS = 15_000;

function write(stream: ServerResponse, event: string, data: unknown): void {
  stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export function registerEventStream(
  app: HttpServer,
  deps: { engine: EngageEngine; events: LiveEvents; store: EngageStore; metrics: EngageMetrics },
): void {
  const open = new Set<ServerResponse>();

  app.get('/api/events', { schema: { hide: true } }, (request, reply) => {
    reply.hijack();
    const stream = reply.raw;
    stream.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    stream.write('retry: 2000\n\n');
    const devices = deps.engine.devices();
    write(stream, 'snapshot', {
      devices,
      sites: deps.engine.sites(devices),
      alerts: deps.store.recentAlerts(20),
      rules: deps.engine.rules(),
      zones: deps.store.allZones(),
    });
    const unsubscribe = deps.events.subscribe((event) => write(stream, event.type, event.data));
    const heartbeat = setInterval(() => stream.write(': heartbeat\n\n'), HEARTBEAT_MS);
    open.add(stream);
    deps.metrics.sseClients.set(open.size);
    request.raw.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(stream);
      deps.metrics.sseClients.set(open.size);
    });
  });

  // Streams never end on their own; end them so that the server can close.
  app.addHook('preClose', async () => {
    for (const stream of open) stream.end();
  });
}

/**
 * Serves the dashboard (plain HTML/CSS/ES modules in src/engage/web, no build step), and uPlot and
 * Swagger UI (`/docs`, for /openapi.json) from node_modules. tsc does not copy non-TS files, so the web folder is found from the package root,
 * which works from src/ and from dist/ alike.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { HttpServer } from '../core/http.js';

/** The nearest folder at or above `start` that holds package.json. */
export function packageRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const webRoot = (): string => join(packageRoot(), 'src', 'engage', 'web');

export function registerWebAssets(app: HttpServer): void {
  const uplotDist = dirname(createRequire(import.meta.url).resolve('uplot'));
  app.register(fastifyStatic, { root: webRoot(), prefix: '/', index: 'index.html', cacheControl: false });
  app.register(fastifyStatic, {
    root: uplotDist,
    prefix: '/vendor/uplot/',
    decorateReply: false,
    allowedPath: (path) => path === '/uPlot.esm.js' || path === '/uPlot.min.css',
  });
  // The API's reference, served from node_modules like uPlot: no CDN.
  app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/')) return;
    // Small files that change with each release: always revalidate. Everything is served from here.
    reply.header('cache-control', 'no-cache');
    reply.header(
      'content-security-policy',
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
  });
}

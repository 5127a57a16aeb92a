/** The bearer-auth plugin: a route inside its scope is refused without a key; one outside is open. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crossSiteGuard } from '../../src/core/cross-site.js';
import { bearerChallenge, createHttpServer, HttpError, type HttpServer } from '../../src/core/http.js';
import { bearerAuth, guardedScope, notFoundBehindGuards, principalOf } from '../../src/core/http-auth.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';

const KEY = 'plugin-test-key';

function server(hook?: 'onRequest' | 'preHandler'): HttpServer {
  const app = createHttpServer({
    title: 'test',
    description: 'test',
    logger: silentLogger(),
    metrics: createMetricsRegistry('engage', 'http-auth-test'),
  });
  const keyed = (scope: HttpServer) =>
    bearerAuth(scope, {
      ...(hook ? { hook } : {}),
      queryParameter: 'access_token',
      verify: (token) => {
        if (token === undefined) throw bearerChallenge('send a key');
        if (token !== KEY) throw new HttpError(403, 'forbidden', 'unknown key');
        return 'caller-1';
      },
    });
  guardedScope(app, [keyed], (scope) => {
    scope.get('/private', async (request) => ({ who: principalOf(request) ?? null }));
    scope.post('/private', async () => ({ ok: true }));
    notFoundBehindGuards(scope, '/private/');
  });
  app.register(async (scope: HttpServer) => {
    scope.get('/public', async (request) => ({ who: principalOf(request) ?? null }));
  });
  return app;
}

describe('bearerAuth', () => {
  test('a route inside the scope is refused without a key (401 + challenge) or with a wrong one (403)', async () => {
    const app = server();
    try {
      const missing = await app.inject({ url: '/private' });
      assert.equal(missing.statusCode, 401);
      assert.equal(missing.headers['www-authenticate'], 'Bearer');
      assert.deepEqual(missing.json(), { error: 'unauthorized', message: 'send a key' });
      const wrong = await app.inject({ url: '/private', headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.statusCode, 403);
      assert.equal(wrong.json().error, 'forbidden');
      const ok = await app.inject({ url: '/private', headers: { authorization: `bearer ${KEY}` } });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { who: 'caller-1' }, 'the identity verify returned is the request’s');
    } finally {
      await app.close();
    }
  });

  test('routes outside the scope, health and metrics stay open', async () => {
    const app = server();
    try {
      const open = await app.inject({ url: '/public' });
      assert.equal(open.statusCode, 200);
      assert.deepEqual(open.json(), { who: null });
      assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/nowhere' })).statusCode, 404);
    } finally {
      await app.close();
    }
  });

  test('the query parameter carries the key on GET only', async () => {
    const app = server();
    try {
      assert.equal((await app.inject({ url: `/private?access_token=${KEY}` })).statusCode, 200);
      const post = await app.inject({ method: 'POST', url: `/private?access_token=${KEY}`, payload: {} });
      assert.equal(post.statusCode, 401);
    } finally {
      await app.close();
    }
  });

  test('unknown paths under a guarded prefix answer 404 only behind the check', async () => {
    const app = server();
    try {
      assert.equal((await app.inject({ url: '/private/else' })).statusCode, 401);
      const known = await app.inject({
        method: 'DELETE',
        url: '/private/else',
        headers: { authorization: `Bearer ${KEY}` },
      });
      assert.equal(known.statusCode, 404);
      assert.deepEqual(known.json(), { error: 'not-found', message: 'no route for DELETE /private/else' });
      const openapi = (await app.inject({ url: '/openapi.json' })).json();
      assert.ok(openapi.paths['/private'], 'guarded routes are in the OpenAPI document');
      assert.equal(openapi.paths['/private/*'], undefined, 'the catch-all is not');
    } finally {
      await app.close();
    }
  });

  test('preHandler: validation and media-type answers come before the check', async () => {
    const app = server('preHandler');
    try {
      const body = await app.inject({
        method: 'POST',
        url: '/private',
        payload: 'x',
        headers: { 'content-type': 'application/x-unknown' },
      });
      assert.equal(body.statusCode, 415);
      assert.equal((await app.inject({ method: 'POST', url: '/private', payload: {} })).statusCode, 401);
    } finally {
      await app.close();
    }
  });

  test('guards run in the order given', async () => {
    const order: string[] = [];
    const app = createHttpServer({
      title: 'test',
      description: 'test',
      logger: silentLogger(),
      metrics: createMetricsRegistry('engage', 'http-auth-order'),
    });
    const first = (scope: HttpServer) => bearerAuth(scope, { verify: () => void order.push('auth') });
    const second = crossSiteGuard([]);
    guardedScope(
      app,
      [first, second, (scope) => scope.addHook('onRequest', async () => void order.push('next'))],
      (scope) => scope.post('/write', async () => ({ ok: true })),
    );
    try {
      const crossSite = await app.inject({
        method: 'POST',
        url: '/write',
        payload: {},
        headers: { 'sec-fetch-site': 'cross-site' },
      });
      assert.equal(crossSite.statusCode, 403);
      assert.equal(crossSite.json().error, 'cross-site-request');
      assert.deepEqual(order, ['auth'], 'auth ran first, the cross-site guard stopped the rest');
    } finally {
      await app.close();
    }
  });
});

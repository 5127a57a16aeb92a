/** The shared HTTP server: Host check, framing protection, timeouts and JSON errors from every layer. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import {
  bearerToken,
  clientErrorResponse,
  createHttpServer,
  type HttpServer,
  hostAllowed,
  listen,
} from '../../src/core/http.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';

function server(options: { allowedHosts?: string[]; requestTimeoutMs?: number } = {}): HttpServer {
  const app = createHttpServer({
    title: 'test',
    description: 'test',
    logger: silentLogger(),
    metrics: createMetricsRegistry('engage', 'http-test'),
    ...options,
  });
  app.after(() => {
    app.get('/things/:id', { schema: { params: z.object({ id: z.string() }) } }, async (request) => ({
      id: request.params.id,
    }));
    app.post('/things', async () => ({ ok: true }));
  });
  return app;
}

/** Sends raw bytes and resolves with everything the server answered before closing. */
function rawRequest(url: string, head: string, body = ''): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head + body));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.setTimeout(10_000, () => reject(new Error('no answer')));
  });
}

const jsonBody = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: string };

describe('Host names (DNS rebinding)', () => {
  test('loopback names and the configured hosts pass, others do not', () => {
    for (const host of ['localhost:8080', '127.0.0.1', '127.1.2.3:80', '[::1]:8080', 'app.localhost', 'Dash.Example']) {
      assert.ok(hostAllowed(host, ['dash.example']), host);
    }
    for (const host of [undefined, 'attacker.example', 'attacker.example:8080', '127.0.0.1.attacker.example']) {
      assert.equal(hostAllowed(host, ['dash.example']), false, String(host));
    }
  });

  test('a request for another host gets 403 in the JSON error format; every answer forbids framing', async () => {
    const app = server({ allowedHosts: [] });
    try {
      const refused = await app.inject({ method: 'POST', url: '/things', headers: { host: 'attacker.example' } });
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json<{ error: string }>().error, 'forbidden-host');
      const fine = await app.inject({ method: 'POST', url: '/things', headers: { host: 'localhost:8080' } });
      assert.equal(fine.statusCode, 200);
      assert.equal(fine.headers['x-frame-options'], 'DENY');
    } finally {
      await app.close();
    }
  });
});

describe('errors before any route runs', () => {
  let app: HttpServer;
  let url: string;
  before(async () => {
    app = server({ requestTimeoutMs: 300 });
    url = await listen(app, '127.0.0.1', 0);
  });
  after(async () => {
    await app.close();
  });

  test('414 for an over-long path parameter, in the JSON error format', async () => {
    const response = await fetch(`${url}/things/${'a'.repeat(500)}`);
    assert.equal(response.status, 414);
    assert.equal(((await response.json()) as { error: string }).error, 'uri-too-long');
  });

  test('431 for oversized headers, in the JSON error format', async () => {
    const answer = await rawRequest(
      url,
      `GET /things/1 HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 431 /);
    assert.equal(jsonBody(answer).error, 'headers-too-large');
  });

  test('a body that never finishes arriving is answered 408 and the connection closed', async () => {
    const answer = await rawRequest(
      url,
      'POST /things HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
      '{"a":',
    );
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal(jsonBody(answer).error, 'request-timeout');
  });

  test('the raw error response is well formed', () => {
    const response = clientErrorResponse('HPE_HEADER_OVERFLOW');
    const body = response.slice(response.indexOf('\r\n\r\n') + 4);
    assert.match(response, new RegExp(`Content-Length: ${Buffer.byteLength(body)}\r\n`));
  });
});

describe('bearerToken', () => {
  test('the scheme is case-insensitive; anything else is no token', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer abc'), 'abc');
    assert.equal(bearerToken('BEARER  abc '), 'abc');
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(bearerToken('Bearer'), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHttpPeopleCounter } from '../../src/analytics/http-counter.js';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../../src/analytics/local-counter.js';
import { type AnalyticsService, startAnalyticsService } from '../../src/analytics/service.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';
import { CounterBusyError, UnusableImageError } from '../../src/core/people-counter.js';
import { noiseJpeg, solidJpeg, truncated } from '../helpers/fixtures.js';

describe('analytics REST service', () => {
  let counter: LocalPeopleCounter;
  let service: AnalyticsService;
  let open: AnalyticsService;
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const post = (body: Buffer | string, headers: Record<string, string>, query = '') =>
    fetch(`${service.url}/v1/count${query}`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', ...headers },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  before(async () => {
    counter = await createLocalPeopleCounter({ workers: 1, queueLimit: 0 });
    const deps = { counter, logger: silentLogger() };
    service = await startAnalyticsService(
      {
        host: '127.0.0.1',
        port: 0,
        apiKeys: ['key-alpha', 'key-beta'],
        profiles: { strict: { scoreThreshold: 0.9 } },
        imageLimits: { maxBytes: 300_000, maxPixels: 4_000_000 },
      },
      { ...deps, metrics: createMetricsRegistry('analytics', 'test-keys') },
    );
    open = await startAnalyticsService(
      { host: '127.0.0.1', port: 0, apiKeys: [] },
      { ...deps, metrics: createMetricsRegistry('analytics', 'test-open') },
    );
  });
  after(async () => {
    await service.stop();
    await open.stop();
    await counter.close();
  });

  it('requires a known API key', async () => {
    const photo = await solidJpeg();
    const missing = await post(photo, {});
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { error: string }).error, 'unauthorized');
    assert.equal((await post(photo, auth('wrong'))).status, 403);
    assert.equal((await fetch(`${service.url}/v1/usage`)).status, 401);
  });

  it('counts a photo and meters usage per key', async () => {
    const response = await post(await solidJpeg(), auth('key-alpha'), '?profile=strict');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { count: number; model: string; ms: number };
    assert.equal(body.count, 0);
    assert.match(body.model, /centernet/);
    assert.ok(body.ms > 0);
    await post('not a jpeg', auth('key-alpha'));
    const alpha = (await (await fetch(`${service.url}/v1/usage`, { headers: auth('key-alpha') })).json()) as {
      key: string;
      requests: number;
      photos: number;
      computeMs: number;
    };
    assert.equal(alpha.requests, 2);
    assert.equal(alpha.photos, 1);
    assert.ok(alpha.computeMs > 0);
    assert.doesNotMatch(alpha.key, /alpha/);
    const beta = (await (await fetch(`${service.url}/v1/usage`, { headers: auth('key-beta') })).json()) as {
      requests: number;
    };
    assert.equal(beta.requests, 0);
  });

  it('answers bad input with clear 4xx errors', async () => {
    const key = auth('key-alpha');
    const cases: Array<[Response, number, string]> = [
      [await post('hello', key), 415, 'not-jpeg'],
      [await post(truncated(await noiseJpeg(400, 300), 0.5), key), 422, 'truncated'],
      [await post(await noiseJpeg(1000, 800), key), 413, 'body-too-large'],
      [await post(await solidJpeg(), key, '?profile=nope'), 400, 'unknown-profile'],
      [await post(await solidJpeg(), key, '?threshold=2'), 400, 'invalid-request'],
      [await post(await solidJpeg(), key, `?camera=${'c'.repeat(129)}`), 400, 'invalid-request'],
    ];
    for (const [response, status, code] of cases) {
      const body = (await response.json()) as { error: string; message: string };
      assert.equal(response.status, status, JSON.stringify(body));
      assert.equal(body.error, code);
      assert.ok(body.message.length > 0);
    }
    const wrongType = await fetch(`${service.url}/v1/count`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...key },
      body: 'hello',
    });
    assert.equal(wrongType.status, 415);
    assert.equal(((await wrongType.json()) as { error: string }).error, 'unsupported-media-type');
  });

  it('sheds load with 503 and Retry-After when the queue is full', async () => {
    const photo = await noiseJpeg(400, 300);
    const responses = await Promise.all([1, 2, 3].map(() => post(photo, auth('key-beta'))));
    const statuses = responses.map((r) => r.status).sort();
    assert.equal(statuses[0], 200);
    assert.equal(statuses[2], 503);
    assert.equal(responses.find((r) => r.status === 503)?.headers.get('retry-after'), '1');
  });

  it('serves health, metrics and the OpenAPI document', async () => {
    assert.equal((await fetch(`${service.url}/healthz`)).status, 200);
    assert.match(await (await fetch(`${service.url}/metrics`)).text(), /people_counter_analytics_requests_total/);
    const openapi = (await (await fetch(`${service.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(openapi.paths['/v1/count']);
    assert.ok(openapi.paths['/v1/usage']);
  });

  it('is open without keys and meters callers as "open"', async () => {
    const response = await fetch(`${open.url}/v1/count`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(await solidJpeg()),
    });
    assert.equal(response.status, 200);
    const usage = (await (await fetch(`${open.url}/v1/usage`)).json()) as { key: string; photos: number };
    assert.deepEqual([usage.key, usage.photos], ['open', 1]);
  });

  it('is usable through the HTTP PeopleCounter client', async () => {
    const client = createHttpPeopleCounter({ url: service.url, apiKey: 'key-beta' });
    const result = await client.count(await solidJpeg(), { scoreThreshold: 0.3 });
    assert.equal(result.count, 0);
    // The camera travels with the photo: a quiet camera is checked for crowds once, not on every photo.
    const passes = [];
    for (let i = 0; i < 2; i++) passes.push((await client.count(await solidJpeg(), {}, 'quiet-camera')).passes);
    assert.deepEqual(passes, [2, 1]);
    assert.match(client.model, /centernet/);
    await assert.rejects(client.count(Buffer.from('junk')), UnusableImageError);
    const photo = await noiseJpeg(400, 300);
    const outcomes = await Promise.allSettled([1, 2, 3].map(() => client.count(photo)));
    assert.ok(outcomes.some((o) => o.status === 'rejected' && o.reason instanceof CounterBusyError));
    await assert.rejects(createHttpPeopleCounter({ url: service.url, apiKey: 'nope' }).count(photo), /403/);
  });
});

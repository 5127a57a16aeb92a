/**
 * Cross-site writes (docs/security.md): a page on another site gets 403 and changes nothing, with
 * or without a token; the dashboard's own pages, configured origins and header-less clients (curl)
 * keep working; text and form bodies get 415.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { RunningBroker } from '../../src/broker/broker.js';
import { crossSiteProblem, originSchema } from '../../src/core/cross-site.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import type { EngageService } from '../../src/engage/service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { startEngage } from './fixtures.js';

const HOST = '127.0.0.1:8080';
const EVIL = 'http://evil.example';
const TRUSTED = 'https://dashboard.example';
const TOKEN = 'cross-site-token-1';

/** Headers of a request from a page of `origin` as a browser sends them. */
const fromPage = (origin: string, fetchSite?: string) => ({
  host: HOST,
  origin,
  ...(fetchSite !== undefined ? { 'sec-fetch-site': fetchSite } : {}),
});
const crossSiteVariants = [
  { name: 'Origin of another site', headers: fromPage(EVIL) },
  { name: 'Sec-Fetch-Site: cross-site', headers: { host: HOST, 'sec-fetch-site': 'cross-site' } },
  { name: 'Sec-Fetch-Site: same-site', headers: fromPage('http://other.127.0.0.1.example', 'same-site') },
  { name: 'Origin null (sandboxed page)', headers: fromPage('null') },
];

let broker: RunningBroker;
before(async () => {
  broker = await startEmbeddedBroker();
});
after(async () => {
  await broker.stop();
});

describe('the rule (pure)', () => {
  const check = (headers: Partial<{ method: string; origin: string; fetchSite: string }>, trusted: string[] = []) =>
    crossSiteProblem({ method: 'POST', host: HOST, origin: undefined, fetchSite: undefined, ...headers }, trusted);

  test('reads pass; writes pass from the same origin, without browser headers, or from a trusted origin', () => {
    assert.equal(check({ method: 'GET', origin: EVIL, fetchSite: 'cross-site' }), undefined);
    assert.equal(check({}), undefined, 'curl: neither header');
    assert.equal(check({ fetchSite: 'same-origin', origin: `http://${HOST}` }), undefined);
    assert.equal(check({ fetchSite: 'none' }), undefined, 'typed in the address bar');
    assert.equal(check({ origin: `http://${HOST}` }), undefined, 'an older browser: Origin only');
    assert.equal(check({ origin: 'HTTP://127.0.0.1:8080' }), undefined, 'case-insensitive');
    assert.equal(check({ origin: TRUSTED, fetchSite: 'cross-site' }, [TRUSTED]), undefined);
  });

  test('writes from another site, a sibling site or an opaque origin are refused', () => {
    assert.match(check({ origin: EVIL }) ?? '', /evil\.example/);
    assert.match(check({ fetchSite: 'cross-site' }) ?? '', /cross-site/);
    assert.match(check({ fetchSite: 'same-site', origin: 'http://a.127.0.0.1.example' }) ?? '', /same-site/);
    assert.ok(check({ origin: 'null' }));
    assert.ok(check({ origin: `http://${HOST}`, fetchSite: 'cross-site' }), 'Sec-Fetch-Site wins over Origin');
    assert.ok(check({ origin: 'http://127.0.0.1:9999' }), 'another port is another origin');
    assert.ok(check({ method: 'DELETE', origin: EVIL }, [TRUSTED]));
  });

  test('configured origins are bare scheme://host[:port]', () => {
    assert.equal(originSchema.parse('https://Dashboard.Example/'), 'https://dashboard.example');
    assert.equal(originSchema.parse('http://10.0.0.5:8080'), 'http://10.0.0.5:8080');
    for (const bad of ['dashboard.example', 'https://dashboard.example/path', 'https://x.example?q=1']) {
      assert.equal(originSchema.safeParse(bad).success, false, bad);
    }
  });
});

describe('engage with open writes (as `up` runs it)', () => {
  let engage: EngageService;
  const uploads: string[] = [];
  const inject = (options: InjectOptions) => engage.http.inject(options);
  before(async () => {
    const ingestPhoto = async (deviceId: string): Promise<PhotoMetadata> => {
      uploads.push(deviceId);
      return {
        type: 'data',
        deviceID: deviceId,
        filePath: 'people-counter-images/image0b7a1c9e-8f7d-4c2b-9a51-6f0e2d3c4b5a.jpg',
        creationTimestamp: 1_800_000_000,
      };
    };
    engage = await startEngage(broker, { openWrites: true, allowedOrigins: [TRUSTED] }, { ingestPhoto });
    // State to attack: a named device, a rule, a profile with an earlier revision to revert to.
    const setUp: Array<InjectOptions & { url: string }> = [
      { method: 'PUT', url: '/api/devices/cam-1', payload: { name: 'Front door' } },
      { method: 'PUT', url: '/api/alert-rules/full', payload: { scope: 'device', target: 'cam-1', raiseAtCount: 5 } },
      { method: 'PUT', url: '/api/devices/cam-1/profile', payload: { scoreThreshold: 0.4 } },
      { method: 'PUT', url: '/api/devices/cam-1/profile', payload: { scoreThreshold: 0.5 } },
    ];
    for (const request of setUp) assert.equal((await inject(request)).statusCode, 200, request.url);
  });
  after(async () => {
    await engage.stop();
  });

  const state = async () => ({
    device: (await inject({ url: '/api/devices/cam-1' })).json(),
    rules: (await inject({ url: '/api/alert-rules' })).json(),
    profile: (await inject({ url: '/api/devices/cam-1/profile/history' })).json(),
    uploads: [...uploads],
  });

  test('every kind of state-changing route refuses a cross-site request with 403 and changes nothing', async () => {
    const before = await state();
    const jpeg = await solidJpeg(8, 8);
    const writes: InjectOptions[] = [
      { method: 'PUT', url: '/api/devices/cam-1', payload: { name: 'pwned' } },
      { method: 'PUT', url: '/api/alert-rules/full', payload: { scope: 'device', target: 'cam-1', raiseAtCount: 1 } },
      { method: 'DELETE', url: '/api/alert-rules/full' },
      { method: 'PUT', url: '/api/devices/cam-1/profile', payload: { scoreThreshold: 0.9 } },
      { method: 'DELETE', url: '/api/devices/cam-1/profile' },
      { method: 'POST', url: '/api/devices/cam-1/profile/revert' },
      {
        method: 'POST',
        url: '/api/devices/cam-1/images?wait=0',
        payload: jpeg,
        headers: { 'content-type': 'image/jpeg' },
      },
    ];
    for (const write of writes) {
      for (const variant of crossSiteVariants) {
        const headers = { ...(write.headers as Record<string, string> | undefined), ...variant.headers };
        const response = await inject({ ...write, headers });
        const what = `${write.method} ${write.url} (${variant.name})`;
        assert.equal(response.statusCode, 403, what);
        assert.equal(response.json().error, 'cross-site-request', what);
        assert.match(response.json().message, /own pages/, what);
      }
    }
    assert.deepEqual(await state(), before);
  });

  test('a cross-site HTML form (urlencoded, multipart or text/plain) changes nothing', async () => {
    const before = await state();
    for (const contentType of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      const response = await inject({
        method: 'POST',
        url: '/api/devices/cam-1/profile/revert',
        payload: 'a=b',
        headers: { ...fromPage(EVIL), 'content-type': contentType },
      });
      assert.equal(response.statusCode, 403, contentType);
    }
    assert.deepEqual(await state(), before);
  });

  test('a JSON route refuses text and form bodies even without browser headers (415)', async () => {
    const before = await state();
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await inject({
        method: 'PUT',
        url: '/api/devices/cam-1',
        payload: JSON.stringify({ name: 'pwned' }),
        headers: { 'content-type': contentType },
      });
      assert.equal(response.statusCode, 415, contentType);
      assert.equal(response.json().error, 'unsupported-media-type', contentType);
    }
    assert.deepEqual(await state(), before);
  });

  test('cross-site reads still work (the dashboard is embeddable in nothing, but readable)', async () => {
    const response = await inject({ url: '/api/devices', headers: fromPage(EVIL, 'cross-site') });
    assert.equal(response.statusCode, 200);
  });

  test("the dashboard's own pages, a trusted origin and curl-like clients still change things", async () => {
    const sameOrigin = await inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: { name: 'Same origin' },
      headers: fromPage(`http://${HOST}`, 'same-origin'),
    });
    assert.equal(sameOrigin.statusCode, 200);
    assert.equal(sameOrigin.json().name, 'Same origin');
    const olderBrowser = await inject({
      method: 'POST',
      url: '/api/devices/cam-1/profile/revert',
      headers: fromPage(`http://${HOST}`),
    });
    assert.equal(olderBrowser.statusCode, 200, 'Origin naming the Host, no Sec-Fetch-Site');
    const proxied = await inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: { name: 'Behind a proxy' },
      headers: fromPage(TRUSTED, 'cross-site'),
    });
    assert.equal(proxied.statusCode, 200, '--allowed-origins');
    const curl = await inject({ method: 'PUT', url: '/api/devices/cam-1', payload: { name: 'Curl' } });
    assert.equal(curl.statusCode, 200);
    const upload = await inject({
      method: 'POST',
      url: '/api/devices/cam-2/images?wait=0',
      payload: await solidJpeg(8, 8),
      headers: { 'content-type': 'image/jpeg' },
    });
    assert.equal(upload.statusCode, 201, 'photo uploads keep their image content type');
    assert.deepEqual(uploads, ['cam-2']);
    assert.equal((await inject({ url: '/api/devices/cam-1' })).json().name, 'Curl');
  });
});

describe('engage with a token', () => {
  let engage: EngageService;
  before(async () => {
    engage = await startEngage(broker, { token: TOKEN });
  });
  after(async () => {
    await engage.stop();
  });

  test('the right token does not make a cross-site request acceptable', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const crossSite = await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: { name: 'pwned' },
      headers: { ...auth, ...fromPage(EVIL, 'cross-site') },
    });
    assert.equal(crossSite.statusCode, 403);
    assert.equal(crossSite.json().error, 'cross-site-request');
    assert.equal((await engage.http.inject({ url: '/api/devices/cam-1' })).statusCode, 404, 'no device created');
    const curl = await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: { name: 'Front door' },
      headers: auth,
    });
    assert.equal(curl.statusCode, 200);
  });
});

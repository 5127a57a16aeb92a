/** The REST API through fastify's inject: parameters, auth, history, CSV, rules, uploads. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningBroker } from '../../src/broker/broker.js';
import { DEVICE_REGISTRY_FILE } from '../../src/core/device-credentials.js';
import { LiveDeviceRegistry } from '../../src/core/device-registry.js';
import { HttpError } from '../../src/core/http.js';
import { silentLogger } from '../../src/core/log.js';
import type { PhotoMetadata } from '../../src/core/messages.js';
import type { EngageService } from '../../src/engage/service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { freePort } from '../helpers/net.js';
import { result, startEngage } from './fixtures.js';

const TOKEN = 'api-test-token-1';
const auth = { authorization: `Bearer ${TOKEN}` };

let broker: RunningBroker;
before(async () => {
  broker = await startEmbeddedBroker();
});
after(async () => {
  await broker.stop();
});

describe('with a token configured', () => {
  let engage: EngageService;
  const now = Math.floor(Date.now() / 1000);
  before(async () => {
    engage = await startEngage(broker, { token: TOKEN });
    for (let i = 0; i < 10; i++) engage.store.recordResult(result('cam-1', i, now - 600 + i * 60), now);
    engage.store.recordResult(result('cam-2', 5, now - 3600), now);
  });
  after(async () => {
    await engage.stop();
  });

  test('writes need the right bearer token; reads are open', async () => {
    const body = { name: 'Front door', site: 'lobby', capacity: 8 };
    const missing = await engage.http.inject({ method: 'PUT', url: '/api/devices/cam-1', payload: body });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    const wrong = await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: body,
      headers: { authorization: 'Bearer nope-nope-nope' },
    });
    assert.equal(wrong.statusCode, 401);
    const ok = await engage.http.inject({ method: 'PUT', url: '/api/devices/cam-1', payload: body, headers: auth });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().name, 'Front door');
    assert.equal(ok.json().count, 9);
    const list = await engage.http.inject({ url: '/api/devices' });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json().map((d: { id: string }) => d.id),
      ['cam-2', 'cam-1'],
    );
  });

  test('bad device IDs, bodies and ranges get clear 400s; unknown things 404', async () => {
    const badId = await engage.http.inject({ method: 'PUT', url: '/api/devices/a%2Fb', payload: {}, headers: auth });
    assert.equal(badId.statusCode, 400);
    assert.match(badId.json().message, /separator/);
    const badBody = await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: { capacity: -3, colour: 'red' },
      headers: auth,
    });
    assert.equal(badBody.statusCode, 400);
    assert.equal(badBody.json().error, 'invalid-request');
    const badSite = await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-1',
      payload: { site: 'a/b' },
      headers: auth,
    });
    assert.equal(badSite.statusCode, 400);
    const badFrom = await engage.http.inject({ url: '/api/devices/cam-1/counts?from=tuesday' });
    assert.equal(badFrom.statusCode, 400);
    assert.deepEqual(badFrom.json(), {
      error: 'invalid-range',
      message: 'from is not a time: "tuesday" (use ISO 8601 like 2026-01-31T12:00:00Z, or unix seconds)',
    });
    const badBucket = await engage.http.inject({ url: '/api/devices/cam-1/counts?bucket=5m' });
    assert.equal(badBucket.statusCode, 400);
    const reversed = await engage.http.inject({ url: `/api/devices/cam-1/counts?from=${now}&to=${now - 10}` });
    assert.equal(reversed.statusCode, 400);
    const unknown = await engage.http.inject({ url: '/api/devices/cam-9/counts' });
    assert.equal(unknown.statusCode, 404);
    const unknownSite = await engage.http.inject({ url: '/api/sites/nowhere/occupancy' });
    assert.equal(unknownSite.statusCode, 404);
  });

  test('history as JSON and CSV, from ISO or unix seconds', async () => {
    const from = new Date((now - 600) * 1000).toISOString();
    const raw = await engage.http.inject({ url: `/api/devices/cam-1/counts?from=${from}&to=${now}&bucket=raw` });
    assert.equal(raw.statusCode, 200);
    assert.equal(raw.json().bucket, 'raw');
    assert.deepEqual(
      raw.json().points.map((p: { avg: number }) => p.avg),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const hourly = await engage.http.inject({ url: `/api/devices/cam-1/counts?from=${now - 7200}&bucket=1h` });
    const total = hourly.json().points.reduce((sum: number, p: { n: number }) => sum + p.n, 0);
    assert.equal(total, 10);
    const csv = await engage.http.inject({
      url: `/api/devices/cam-1/counts.csv?from=${now - 600}&to=${now}&bucket=raw`,
    });
    assert.equal(csv.statusCode, 200);
    assert.match(csv.headers['content-type'] as string, /^text\/csv/);
    assert.match(
      csv.headers['content-disposition'] as string,
      /filename="Front-door_\d{4}-\d\d-\d\dT\d\d-\d\dZ_.*\.csv"/,
    );
    const lines = csv.body.trim().split('\r\n');
    assert.equal(lines[0], 'time,unix_seconds,device,avg,min,max,samples');
    assert.equal(lines.length, 11);
  });

  test('site occupancy sums live devices and names the stale ones', async () => {
    await engage.http.inject({
      method: 'PUT',
      url: '/api/devices/cam-2',
      payload: { site: 'lobby', capacity: 4 },
      headers: auth,
    });
    await engage.http.inject({ method: 'PUT', url: '/api/devices/cam-1', payload: { site: 'lobby' }, headers: auth });
    const occupancy = await engage.http.inject({ url: '/api/sites/lobby/occupancy' });
    assert.equal(occupancy.statusCode, 200);
    const body = occupancy.json();
    assert.equal(body.count, 9, 'cam-2 (silent for an hour) is left out');
    assert.equal(body.capacity, 12);
    assert.deepEqual(body.staleDevices, ['cam-2']);
    const sites = await engage.http.inject({ url: '/api/sites' });
    assert.deepEqual(
      sites.json().map((s: { site: string }) => s.site),
      ['lobby'],
    );
    const devices = (await engage.http.inject({ url: '/api/devices' })).json();
    const cam1 = devices.find((d: { id: string }) => d.id === 'cam-1');
    assert.deepEqual([cam1.photoIntervalSeconds, cam1.state], [60, 'live'], 'a photo a minute, the last a minute ago');
    const cam2 = devices.find((d: { id: string }) => d.id === 'cam-2');
    assert.equal(cam2.stale, true);
    assert.equal(cam2.photoIntervalSeconds, null, 'one photo: no interval');
    assert.equal(cam2.state, 'offline', 'an hour is more than 10 × the longest interval judged (--stale-after / 2)');
    const siteCsv = await engage.http.inject({ url: `/api/sites/lobby/counts.csv?from=${now - 600}&bucket=1m` });
    assert.equal(siteCsv.statusCode, 200);
    assert.match(siteCsv.body, /^time,unix_seconds,site,avg,min,max,samples\r\n/);
  });

  test('alert rules: create, list, validate, delete', async () => {
    const bad = await engage.http.inject({
      method: 'PUT',
      url: '/api/alert-rules/lobby-full',
      payload: { scope: 'site', target: 'lobby' },
      headers: auth,
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message, /exactly one of raiseAtPercent or raiseAtCount/);
    // A level in % of capacity where there is no capacity could never apply: refused, saying what to do.
    engage.store.upsertDevice('cam-uncapped', { name: 'Back door', site: 'yard' }, now);
    for (const [scope, target, reason] of [
      [
        'device',
        'cam-uncapped',
        /^camera Back door has no capacity, so a level in % of capacity cannot apply: set its capacity/,
      ],
      ['site', 'yard', /^site yard has no capacity \(none of its cameras has one\)/],
    ] as const) {
      const uncapped = await engage.http.inject({
        method: 'PUT',
        url: '/api/alert-rules/uncapped',
        payload: { scope, target, raiseAtPercent: 90 },
        headers: auth,
      });
      assert.equal(uncapped.statusCode, 400);
      assert.equal(uncapped.json().error, 'no-capacity');
      assert.match(uncapped.json().message, reason);
    }
    engage.store.upsertDevice('cam-uncapped', { site: null }, now);
    const created = await engage.http.inject({
      method: 'PUT',
      url: '/api/alert-rules/lobby-full',
      payload: { scope: 'site', target: 'lobby', raiseAtPercent: 50 },
      headers: auth,
    });
    assert.equal(created.statusCode, 200);
    assert.deepEqual(created.json(), {
      id: 'lobby-full',
      scope: 'site',
      target: 'lobby',
      direction: 'above',
      raiseAtPercent: 50,
      clearBelowPercent: 90,
      holdSeconds: 0,
      active: true,
      pendingSince: null,
    });
    // 9 people of 12 is 75 % ≥ 50 %: raised at once (no hold time).
    const alerts = (await engage.http.inject({ url: '/api/alerts' })).json();
    assert.equal(alerts[0].state, 'raised');
    assert.equal(alerts[0].count, 9);
    assert.equal((await engage.http.inject({ url: '/api/alert-rules' })).json().length, 1);
    const unauthorised = await engage.http.inject({ method: 'DELETE', url: '/api/alert-rules/lobby-full' });
    assert.equal(unauthorised.statusCode, 401);
    const deleted = await engage.http.inject({ method: 'DELETE', url: '/api/alert-rules/lobby-full', headers: auth });
    assert.equal(deleted.statusCode, 204);
    const again = await engage.http.inject({ method: 'DELETE', url: '/api/alert-rules/lobby-full', headers: auth });
    assert.equal(again.statusCode, 404);
  });

  test('OpenAPI, metrics and health are served', async () => {
    const openapi = (await engage.http.inject({ url: '/openapi.json' })).json();
    assert.ok(openapi.paths['/api/devices/{id}/counts']);
    assert.ok(openapi.paths['/api/sites/{site}/occupancy']);
    const metrics = (await engage.http.inject({ url: '/metrics' })).body;
    assert.match(metrics, /people_counter_engage_results_stored_total/);
    assert.match(metrics, /people_counter_engage_alerts_raised_total\{[^}]*\} 1/);
    assert.equal((await engage.http.inject({ url: '/healthz' })).statusCode, 200);
  });
});

describe('access policies', () => {
  test('no token: writes are refused with how to set one', async () => {
    const engage = await startEngage(broker, {});
    try {
      const response = await engage.http.inject({ method: 'PUT', url: '/api/devices/cam-1', payload: { capacity: 3 } });
      assert.equal(response.statusCode, 403);
      assert.match(response.json().message, /PEOPLE_COUNTER_ENGAGE_TOKEN/);
      assert.equal((await engage.http.inject({ url: '/api/devices' })).statusCode, 200);
    } finally {
      await engage.stop();
    }
  });

  test('open writes accept changes without a token', async () => {
    const engage = await startEngage(broker, { openWrites: true });
    try {
      const response = await engage.http.inject({ method: 'PUT', url: '/api/devices/cam-1', payload: { capacity: 3 } });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().capacity, 3);
    } finally {
      await engage.stop();
    }
  });

  test('protected reads need the token, by header or access_token query', async () => {
    const engage = await startEngage(broker, { token: TOKEN, protectReads: true });
    try {
      assert.equal((await engage.http.inject({ url: '/api/devices' })).statusCode, 401);
      assert.equal((await engage.http.inject({ url: '/api/devices', headers: auth })).statusCode, 200);
      assert.equal((await engage.http.inject({ url: `/api/devices?access_token=${TOKEN}` })).statusCode, 200);
      assert.equal((await engage.http.inject({ url: '/' })).statusCode, 200, 'the page itself holds no data');
    } finally {
      await engage.stop();
    }
  });
});

describe('photo uploads', () => {
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
  const post = (
    engage: EngageService,
    url: string,
    payload: Buffer | string,
    headers: Record<string, string> = { 'content-type': 'image/jpeg' },
  ) => engage.http.inject({ method: 'POST', url, payload, headers });

  test('go to an in-process ingest function and answer with the count once the photo is counted', async () => {
    const received: Array<[string, Buffer]> = [];
    const filePath = 'people-counter-images/image0b7a1c9e-8f7d-4c2b-9a51-6f0e2d3c4b5a.jpg';
    let publisher: MessageRecorder | undefined;
    const ingestPhoto = async (deviceId: string, photo: Buffer): Promise<PhotoMetadata> => {
      received.push([deviceId, photo]);
      // Inference's part: the photo's result arrives on MQTT while the upload waits.
      const counted = {
        ...result(deviceId, 2, 1_800_000_000),
        filePath,
        latencyMs: 1400,
        detections: [{ box: [1, 2, 30, 40] as [number, number, number, number], score: 0.9 }],
      };
      await publisher?.client.publishAsync('people-counter/results', JSON.stringify(counted), { qos: 1 });
      return { type: 'data', deviceID: deviceId, filePath, creationTimestamp: 1_800_000_000 };
    };
    const engage = await startEngage(broker, { openWrites: true }, { ingestPhoto });
    publisher = await MessageRecorder.start(broker.url, ['people-counter/results']);
    try {
      const response = await post(engage, '/api/devices/cam-7/images', jpeg);
      assert.equal(response.statusCode, 201);
      assert.equal(response.json().deviceID, 'cam-7');
      assert.deepEqual(response.json().outcome, {
        status: 'counted',
        count: 2,
        detections: [{ box: [1, 2, 30, 40], score: 0.9 }],
        latencyMs: 1400,
        model: 'test-model',
      });
      assert.deepEqual(received, [['cam-7', jpeg]]);
      const noWait = await post(engage, '/api/devices/cam-8/images?wait=0', jpeg, {
        'content-type': 'application/octet-stream',
      });
      assert.equal(noWait.statusCode, 201);
      assert.equal(noWait.json().outcome.status, 'counted', 'an outcome that came first is remembered');
      const wrongType = await post(engage, '/api/devices/cam-7/images', 'hello', { 'content-type': 'text/plain' });
      assert.equal(wrongType.statusCode, 415);
    } finally {
      await publisher?.stop();
      await engage.stop();
    }
  });

  test('a refused photo keeps its 4xx and reason; an oversized one names the limit', async () => {
    const ingestPhoto = async (): Promise<PhotoMetadata> => {
      throw new HttpError(415, 'unsupported-format', 'HEIC/HEIF photos are not supported; send JPEG, PNG or WebP');
    };
    const engage = await startEngage(broker, { openWrites: true, maxUploadBytes: 1000 }, { ingestPhoto });
    try {
      const heic = await post(engage, '/api/devices/cam-7/images', jpeg, { 'content-type': 'image/heic' });
      assert.equal(heic.statusCode, 415);
      assert.equal(heic.json().error, 'unsupported-format');
      const big = await post(engage, '/api/devices/cam-7/images', Buffer.alloc(1_500_000));
      assert.equal(big.statusCode, 413);
      assert.deepEqual(big.json(), {
        error: 'image-too-large',
        message: 'the photo is 1.5 MB; the limit is 1 kB per photo',
      });
    } finally {
      await engage.stop();
    }
  });

  test('are forwarded to the ingest REST API with its device token, status and body passed through; 502 when it is down', async () => {
    const seen: Array<{
      url: string | undefined;
      type: string | undefined;
      authorization: string | undefined;
      bytes: number;
    }> = [];
    const ingest: Server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({
          url: request.url,
          type: request.headers['content-type'],
          authorization: request.headers.authorization,
          bytes: Buffer.concat(chunks).length,
        });
        response.writeHead(422, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'not-jpeg', message: 'that is not a JPEG' }));
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => ingest.listen(port, '127.0.0.1', resolve));
    const engage = await startEngage(broker, {
      token: TOKEN,
      ingestUrl: `http://127.0.0.1:${port}`,
      ingestToken: 'device-token',
    });
    try {
      const response = await post(engage, '/api/devices/cam-7/images?wait=0', jpeg, {
        'content-type': 'image/jpeg',
        ...auth,
      });
      assert.equal(response.statusCode, 422);
      assert.deepEqual(response.json(), { error: 'not-jpeg', message: 'that is not a JPEG' });
      assert.deepEqual(seen, [
        {
          url: '/v1/devices/cam-7/images',
          type: 'image/jpeg',
          authorization: 'Bearer device-token',
          bytes: jpeg.length,
        },
      ]);
      await new Promise<void>((resolve) => ingest.close(() => resolve()));
      const down = await post(engage, '/api/devices/cam-7/images', jpeg, { 'content-type': 'image/jpeg', ...auth });
      assert.equal(down.statusCode, 502);
      assert.equal(down.json().error, 'ingest-unreachable');
      assert.match(down.json().message, /people-counter ingest/);
    } finally {
      ingest.close();
      await engage.stop();
    }
  });
});

describe('device credentials', () => {
  let dir: string;
  let registry: LiveDeviceRegistry;
  let engage: EngageService;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pc-engage-devices-'));
    registry = await LiveDeviceRegistry.open(join(dir, DEVICE_REGISTRY_FILE), { logger: silentLogger() });
    engage = await startEngage(broker, { token: TOKEN }, { devices: registry });
  });
  after(async () => {
    await engage.stop();
    registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('register (secret once, with the token), list without secrets, revoke', async () => {
    const deviceId = '0b7c1c5e-7a44-4c7e-9b8a-2f1d3c4e5a6b';
    const url = '/api/devices/credentials';
    const config = await engage.http.inject({ url: '/api/config' });
    assert.equal(config.json().deviceCredentials, true);
    const unauthorized = await engage.http.inject({ method: 'POST', url, payload: { deviceId } });
    assert.equal(unauthorized.statusCode, 401);
    const added = await engage.http.inject({ method: 'POST', url, payload: { deviceId }, headers: auth });
    assert.equal(added.statusCode, 201);
    const { secret } = added.json() as { secret: string };
    assert.ok(await registry.verify(deviceId, secret));
    const twice = await engage.http.inject({ method: 'POST', url, payload: { deviceId }, headers: auth });
    assert.equal(twice.statusCode, 409);
    const reserved = await engage.http.inject({
      method: 'POST',
      url,
      payload: { deviceId: 'pc-ingest-x' },
      headers: auth,
    });
    assert.equal(reserved.statusCode, 400);
    const listed = await engage.http.inject({ url });
    assert.deepEqual(
      listed.json().map((device: { deviceId: string }) => device.deviceId),
      [deviceId],
    );
    assert.equal(listed.body.includes(secret), false);
    assert.equal((await engage.http.inject({ method: 'DELETE', url: `${url}/${deviceId}` })).statusCode, 401);
    const revoked = await engage.http.inject({ method: 'DELETE', url: `${url}/${deviceId}`, headers: auth });
    assert.equal(revoked.statusCode, 204);
    assert.equal(await registry.verify(deviceId, secret), undefined);
    const again = await engage.http.inject({ method: 'DELETE', url: `${url}/${deviceId}`, headers: auth });
    assert.equal(again.statusCode, 404);
  });
});

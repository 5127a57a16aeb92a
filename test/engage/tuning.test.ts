/**
 * Live profiles and the "Tune counting" flow through engage's REST API (fastify inject), with a real
 * broker, a real local object store and the real model for candidate boxes and fits. Inference's part
 * (copying a photo to the tuning bucket, then publishing its result) is played by the test.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalPeopleCounter, type LocalPeopleCounter } from '../../src/analytics/local-counter.js';
import { SINGLE_TILE } from '../../src/analytics/tiling.js';
import { tuningModelOf } from '../../src/analytics/tuning-fit.js';
import type { RunningBroker } from '../../src/broker/broker.js';
import { parseFilePath } from '../../src/core/ids.js';
import { profileHash, TUNING_BUCKET, tuningKey } from '../../src/core/live-profile.js';
import { LocalObjectStore } from '../../src/core/storage/index.js';
import { makeTopics } from '../../src/core/topics.js';
import type { EngageService } from '../../src/engage/service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { noiseJpeg, solidJpeg, truncated } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { result, startEngage } from './fixtures.js';

const TOKEN = 'tuning-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const topics = makeTopics();
const CAMERA = 'cam-tune';

let broker: RunningBroker;
let engage: EngageService;
let counter: LocalPeopleCounter;
let store: LocalObjectStore;
let dir: string;
let recorder: MessageRecorder;
let clock = Date.now() / 1000;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-tuning-'));
  store = new LocalObjectStore(dir);
  broker = await startEmbeddedBroker();
  counter = await createLocalPeopleCounter({ workers: 1 });
  engage = await startEngage(
    broker,
    { token: TOKEN, tuningRetentionMs: 3_600_000 },
    {
      tuningStore: store,
      tuningModel: () => Promise.resolve(tuningModelOf(counter)),
      // The whole frame only: the fit's logic is the same, at a fourteenth of the model time.
      tuningTilings: [SINGLE_TILE],
      nowSeconds: () => clock,
    },
  );
  recorder = await MessageRecorder.start(broker.url, [topics.deviceProfileWildcard, topics.deviceCollectWildcard]);
  engage.store.upsertDevice(CAMERA, { name: 'Tuned camera' }, clock);
  await engage.engine.refresh();
});

after(async () => {
  await recorder?.stop();
  await engage?.stop();
  await counter?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

const tuningObjects = () => store.list(TUNING_BUCKET);

/** What inference does for a collecting camera: copy the photo, then publish its result. */
async function cameraPhoto(sessionId: string | undefined, jpeg: Buffer): Promise<string> {
  const counted = result(CAMERA, 3, clock);
  const parsed = parseFilePath(counted.filePath);
  if ('problem' in parsed) throw new Error(parsed.problem);
  if (sessionId) await store.put(TUNING_BUCKET, tuningKey(sessionId, parsed.key), jpeg);
  await recorder.client.publishAsync(topics.results, JSON.stringify(counted), { qos: 1 });
  return tuningKey(sessionId ?? '', parsed.key);
}

async function session(id: string) {
  const response = await engage.http.inject({ url: `/api/tuning/sessions/${id}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as {
    frames: Array<{ key: string; count: number | null; candidates: unknown[] | null; problem: string | null }>;
    collecting: boolean;
    labelled: number;
    fit: {
      state: string;
      message: string | null;
      result: { maeBefore: number; maeAfter: number; method: string; passes: number; tiling: string } | null;
    } | null;
  };
}

async function startSession(frames: number) {
  const response = await engage.http.inject({
    method: 'POST',
    url: '/api/tuning/sessions',
    headers: auth,
    payload: { deviceId: CAMERA, frames },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json() as { id: string; expiresAt: number };
}

/** Waits until the latest collect request on the broker is the session's (undefined: cleared). */
const collectRequest = (sessionId: string | undefined) =>
  waitFor(
    () => {
      const latest = recorder.on(topics.deviceCollect(CAMERA)).at(-1);
      if (!latest) return false;
      return sessionId === undefined
        ? latest.payload.length === 0
        : latest.payload.length > 0 && latest.json<{ sessionId: string }>().sessionId === sessionId;
    },
    { message: `collect request ${sessionId ?? 'cleared'}` },
  );

const label = (id: string, key: string, payload: unknown) =>
  engage.http.inject({
    method: 'PUT',
    url: `/api/tuning/sessions/${id}/frames/${key}/label`,
    headers: auth,
    payload: payload as object,
  });

describe('live camera profiles', () => {
  test('PUT validates, versions, publishes retained; revert and DELETE publish too', async () => {
    const url = `/api/devices/${CAMERA}/profile`;
    const unauthorised = await engage.http.inject({ method: 'PUT', url, payload: { scoreThreshold: 0.3 } });
    assert.equal(unauthorised.statusCode, 401);
    const bad = await engage.http.inject({ method: 'PUT', url, headers: auth, payload: { scoreThreshold: 2 } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message, /scoreThreshold/);
    const unknownField = await engage.http.inject({ method: 'PUT', url, headers: auth, payload: { treshold: 0.3 } });
    assert.equal(unknownField.statusCode, 400);
    assert.equal((await engage.http.inject({ url })).statusCode, 404);

    const first = await engage.http.inject({ method: 'PUT', url, headers: auth, payload: { scoreThreshold: 0.3 } });
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.json().revision, 1);
    assert.equal(first.json().hash, profileHash({ scoreThreshold: 0.3 }));
    const second = await engage.http.inject({
      method: 'PUT',
      url,
      headers: auth,
      payload: { scoreThreshold: 0.25, correction: { scale: 1.5, offset: 0 } },
    });
    assert.equal(second.json().revision, 2);
    const [published] = (await recorder.waitForCount(topics.deviceProfile(CAMERA), 2)).slice(-1);
    assert.equal(published?.json<{ hash: string }>().hash, second.json().hash);

    const reverted = await engage.http.inject({ method: 'POST', url: `${url}/revert`, headers: auth });
    assert.equal(reverted.statusCode, 200);
    assert.deepEqual(reverted.json().profile, { scoreThreshold: 0.3 });
    assert.equal(reverted.json().revision, 3);
    assert.equal((await engage.http.inject({ url })).json().hash, first.json().hash);
    const history = await engage.http.inject({ url: `${url}/history` });
    assert.deepEqual(
      history.json().map((r: { revision: number }) => r.revision),
      [3, 2, 1],
    );

    const removed = await engage.http.inject({ method: 'DELETE', url, headers: auth });
    assert.equal(removed.statusCode, 204);
    const messages = await recorder.waitForCount(topics.deviceProfile(CAMERA), 4);
    assert.equal(messages.at(-1)?.payload.length, 0, 'an empty retained message removes the profile');
    assert.equal((await engage.http.inject({ url })).statusCode, 404);
    assert.equal((await engage.http.inject({ method: 'DELETE', url, headers: auth })).statusCode, 404);

    const openapi = (await engage.http.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    for (const path of [
      '/api/devices/{id}/profile',
      '/api/tuning/sessions',
      '/api/tuning/sessions/{session}/fit',
      '/api/tuning/sessions/{session}/apply',
    ])
      assert.ok(openapi.paths[path], `${path} in the OpenAPI document`);
  });
});

describe('tuning a camera', () => {
  test('unknown device → 404; frames over 50 → 400; a second session → 409', async () => {
    const unknown = await engage.http.inject({
      method: 'POST',
      url: '/api/tuning/sessions',
      headers: auth,
      payload: { deviceId: 'cam-nobody' },
    });
    assert.equal(unknown.statusCode, 404);
    const tooMany = await engage.http.inject({
      method: 'POST',
      url: '/api/tuning/sessions',
      headers: auth,
      payload: { deviceId: CAMERA, frames: 51 },
    });
    assert.equal(tooMany.statusCode, 400);
    const { id } = await startSession(2);
    const again = await engage.http.inject({
      method: 'POST',
      url: '/api/tuning/sessions',
      headers: auth,
      payload: { deviceId: CAMERA },
    });
    assert.equal(again.statusCode, 409);
    await engage.http.inject({ method: 'DELETE', url: `/api/tuning/sessions/${id}`, headers: auth });
  });

  test('collect, label, fit (with an undecodable frame), apply: nothing left in storage', async () => {
    const { id } = await startSession(4);
    await collectRequest(id);

    const keys: string[] = [];
    for (let i = 0; i < 5; i++)
      keys.push(await cameraPhoto(id, await solidJpeg(320, 240, { r: 40 * i, g: 90, b: 120 })));
    // Four kept; the fifth came after the collection stopped and is deleted.
    const collected = await waitFor(
      async () => {
        const view = await session(id);
        return view.frames.length === 4 && !view.collecting && view.frames.every((f) => f.candidates)
          ? view
          : undefined;
      },
      { message: 'four frames with candidate boxes', timeoutMs: 60_000 },
    );
    assert.deepEqual(collected.frames.map((f) => f.key).sort(), keys.slice(0, 4).sort());
    await waitFor(async () => (await tuningObjects()).length === 4, { message: 'the fifth copy deleted' });
    await collectRequest(undefined); // cleared once N photos are kept

    const broken = await engage.http.inject({
      method: 'POST',
      url: `/api/tuning/sessions/${id}/frames`,
      headers: { ...auth, 'content-type': 'image/jpeg' },
      payload: truncated(await noiseJpeg(), 0.2),
    });
    assert.equal(broken.statusCode, 201, broken.body);
    const brokenKey = broken.json().key as string;
    const notJpeg = await engage.http.inject({
      method: 'POST',
      url: `/api/tuning/sessions/${id}/frames`,
      headers: { ...auth, 'content-type': 'image/jpeg' },
      payload: Buffer.from('hello'),
    });
    assert.equal(notJpeg.statusCode, 400);

    for (const bad of [{ count: -1 }, { count: 1.5 }, { count: 10_001 }, { count: 2, marks: [[1, 1]] }]) {
      const response = await label(id, keys[0] as string, bad);
      assert.equal(response.statusCode, 400, JSON.stringify(bad));
    }
    assert.equal((await label(id, 'nope.jpg', { count: 1 })).statusCode, 404);
    for (const [i, key] of keys.slice(0, 3).entries())
      assert.equal((await label(id, key, { count: i })).statusCode, 200);
    const tooFew = await engage.http.inject({ method: 'POST', url: `/api/tuning/sessions/${id}/fit`, headers: auth });
    assert.equal(tooFew.statusCode, 400);
    assert.match(tooFew.json().message, /at least 4 labelled frames; 3 are labelled/);

    const marked = await label(id, keys[3] as string, {
      count: 2,
      marks: [
        [10, 20],
        [30, 40],
      ],
    });
    assert.deepEqual(marked.json().marks, [
      [10, 20],
      [30, 40],
    ]);
    await waitFor(async () => (await session(id)).frames.find((f) => f.key === brokenKey)?.problem, {
      message: 'the broken upload marked undecodable',
      timeoutMs: 60_000,
    });
    assert.equal((await label(id, brokenKey, { count: 1 })).statusCode, 200);
    assert.equal((await session(id)).labelled, 4, 'the undecodable frame does not count as labelled');

    const image = await engage.http.inject({ url: `/api/tuning/sessions/${id}/frames/${keys[0]}/image` });
    assert.equal(image.headers['content-type'], 'image/jpeg');

    const notFitted = await engage.http.inject({
      method: 'POST',
      url: `/api/tuning/sessions/${id}/apply`,
      headers: auth,
    });
    assert.equal(notFitted.statusCode, 409);
    const fit = await engage.http.inject({ method: 'POST', url: `/api/tuning/sessions/${id}/fit`, headers: auth });
    assert.equal(fit.statusCode, 202, fit.body);
    const twice = await engage.http.inject({ method: 'POST', url: `/api/tuning/sessions/${id}/fit`, headers: auth });
    assert.equal(twice.statusCode, 409);
    const done = await waitFor(
      async () => {
        const view = await session(id);
        return view.fit?.state !== 'running' ? view.fit : undefined;
      },
      { timeoutMs: 120_000, message: 'the fit to end' },
    );
    assert.equal(done.state, 'done', done.message ?? '');
    assert.ok(done.result && Number.isFinite(done.result.maeBefore) && Number.isFinite(done.result.maeAfter));
    assert.equal(done.result.method, 'counts', 'frames labelled by count alone are fitted on the counts');
    assert.match(done.message ?? '', /fitted on the counts \(mark every frame for a better fit\)/);
    // What the new profile costs each photo: at least one model run, under a tiling the summary names.
    assert.ok(done.result.passes >= 1);
    assert.match(
      done.message ?? '',
      new RegExp(`${done.result.passes} model runs? per photo \\(tiling ${done.result.tiling}`),
    );

    const applied = await engage.http.inject({
      method: 'POST',
      url: `/api/tuning/sessions/${id}/apply`,
      headers: auth,
    });
    assert.equal(applied.statusCode, 200, applied.body);
    assert.equal(applied.json().source, 'tuning');
    assert.equal(applied.json().tuning.frames, 4);
    await waitFor(
      () => recorder.on(topics.deviceProfile(CAMERA)).at(-1)?.json<{ hash?: string }>().hash === applied.json().hash,
      { message: 'the applied profile published' },
    );
    assert.deepEqual(await tuningObjects(), [], 'no tuning photo left after apply');
    assert.equal((await engage.http.inject({ url: `/api/tuning/sessions/${id}` })).statusCode, 404);
    const status = (await engage.http.inject({ url: '/api/tuning' })).json() as {
      devices: Array<{ deviceId: string; profile: { tuning: unknown } | null }>;
    };
    assert.ok(status.devices.find((d) => d.deviceId === CAMERA)?.profile?.tuning, 'the tile can show "tuned"');
  });

  test('cancelling a fit and the session deletes every kept photo', async () => {
    const { id } = await startSession(0);
    for (let i = 0; i < 4; i++) {
      const response = await engage.http.inject({
        method: 'POST',
        url: `/api/tuning/sessions/${id}/frames`,
        headers: { ...auth, 'content-type': 'image/jpeg' },
        payload: await solidJpeg(200 + i, 150),
      });
      assert.equal((await label(id, response.json().key, { count: i })).statusCode, 200);
    }
    assert.equal(
      (await engage.http.inject({ method: 'DELETE', url: `/api/tuning/sessions/${id}/fit`, headers: auth })).statusCode,
      409,
    );
    assert.equal(
      (await engage.http.inject({ method: 'POST', url: `/api/tuning/sessions/${id}/fit`, headers: auth })).statusCode,
      202,
    );
    const cancel = await engage.http.inject({ method: 'DELETE', url: `/api/tuning/sessions/${id}/fit`, headers: auth });
    assert.equal(cancel.statusCode, 200);
    const ended = await waitFor(async () => {
      const fit = (await session(id)).fit;
      return fit?.state !== 'running' ? fit : undefined;
    });
    assert.equal(ended.state, 'cancelled');
    assert.equal((await tuningObjects()).length, 4);
    assert.equal(
      (await engage.http.inject({ method: 'DELETE', url: `/api/tuning/sessions/${id}`, headers: auth })).statusCode,
      204,
    );
    assert.deepEqual(await tuningObjects(), []);
  });

  test('the sweeper ends expired sessions and deletes copies of ended ones (injected clock)', async () => {
    const { id, expiresAt } = await startSession(3);
    await collectRequest(id);
    await cameraPhoto(id, await solidJpeg());
    await waitFor(async () => (await session(id)).frames.length === 1, { message: 'one frame kept' });
    // A copy that arrived for a session that has already ended.
    await store.put(TUNING_BUCKET, tuningKey(randomUUID(), 'image-late.jpg'), await solidJpeg());
    const desk = engage.tuning;
    assert.ok(desk);
    assert.deepEqual(await desk.sweep(), { expired: 0, orphans: 1 });
    assert.equal((await tuningObjects()).length, 1);
    clock = expiresAt + 1;
    assert.deepEqual(await desk.sweep(), { expired: 1, orphans: 0 });
    assert.deepEqual(await tuningObjects(), []);
    assert.equal((await engage.http.inject({ url: `/api/tuning/sessions/${id}` })).statusCode, 404);
    await collectRequest(undefined); // cleared at expiry
  });
});

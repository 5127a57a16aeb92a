/** `people-counter up`: the whole pipeline in one process, through its public HTTP APIs. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
// MQTT.js directly: checks what the broker lets plain clients (devices, operators, anonymous) do.
import { connectAsync } from 'mqtt';
import sharp from 'sharp';
import { parseAnalyticsSpec } from '../../src/analytics/counter-spec.js';
import { loadDataset } from '../../src/analytics/dataset.js';
import { deterministicCount, FixedDelayCounter } from '../../src/analytics/fixed-delay-counter.js';
import { superviseStack } from '../../src/cli/commands/up.js';
import { silentLogger } from '../../src/core/log.js';
import { createMessageAuth, MESSAGE_SECRET_FILE } from '../../src/core/message-auth.js';
import type { PeopleCounter } from '../../src/core/people-counter.js';
import { EngageStore } from '../../src/engage/store.js';
import {
  DEMO_SITE,
  demoDeviceIds,
  inferenceInstanceIds,
  modelQueueLimit,
  nameDemoCameras,
  STACK_DEFAULTS,
  type StackConfig,
  StackStartError,
  startStack,
} from '../../src/stack/stack.js';
import { result } from '../engage/fixtures.js';
import { figuresJpeg, solidJpeg } from '../helpers/fixtures.js';
import { freePort, waitFor } from '../helpers/net.js';
import { CLI, describeOutputs, type ServiceProcess, sharedDataset, spawnProcess } from '../helpers/processes.js';
import { postPhoto, spawnUp, testStackConfig } from '../helpers/stack.js';

interface DeviceView {
  id: string;
  count: number | null;
  lastPhotoAt: number | null;
}

/** Two inference instances (claims are contested) and a metrics server on a free port. */
const configFor = (dataDir: string, overrides: Partial<StackConfig> = {}): StackConfig =>
  testStackConfig(dataDir, { metricsPort: 0, inferenceInstances: 2, maxWaitMs: 200, ...overrides });

async function devices(engageUrl: string): Promise<Map<string, DeviceView>> {
  const response = await fetch(`${engageUrl}/api/devices`);
  assert.equal(response.status, 200);
  const list = (await response.json()) as DeviceView[];
  return new Map(list.map((device) => [device.id, device]));
}

/** Photo files anywhere under the storage folder (the object store keeps them as *.jpg). */
async function storedPhotos(storageDir: string): Promise<string[]> {
  const names = await readdir(storageDir, { recursive: true }).catch(() => [] as string[]);
  return names.filter((name) => /\.jpg$/i.test(name));
}

async function waitForCounts(engageUrl: string, expected: Map<string, number>): Promise<void> {
  await waitFor(
    async () => {
      const seen = await devices(engageUrl);
      return [...expected].every(([id, count]) => seen.get(id)?.count === count);
    },
    { timeoutMs: 15_000, message: 'every device to show its count' },
  );
}

describe('startStack', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pc-stack-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('photos of three devices are counted, deleted, and their history survives a restart', async () => {
    const config = configFor(dataDir);
    const deviceIds = [randomUUID(), randomUUID(), randomUUID()];
    const stack = await startStack(config, { logger: silentLogger() });
    const expected = new Map<string, number>();
    try {
      assert.match(stack.urls.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(stack.instanceIds, inferenceInstanceIds(config.name ?? '', 2));
      // Two rounds, each counted before the next, so "latest photo" is unambiguous per device.
      for (const round of [0, 1]) {
        for (const [index, deviceId] of deviceIds.entries()) {
          const jpeg = await solidJpeg(64, 48, { r: 40 * index + 10, g: 90 * round + 20, b: 30 });
          await postPhoto(stack.urls.ingest, deviceId, jpeg);
          expected.set(deviceId, deterministicCount(jpeg));
        }
        await waitForCounts(stack.urls.engage, expected);
      }
      await waitFor(async () => (await storedPhotos(join(dataDir, 'storage'))).length === 0, {
        message: 'the counted photos to be deleted',
      });
      // One Prometheus target shows every part, told apart by their labels.
      assert.ok(stack.urls.metrics, 'a metrics URL');
      const metrics = await (await fetch(`${stack.urls.metrics}/metrics`)).text();
      for (const instanceId of stack.instanceIds) {
        assert.match(metrics, new RegExp(`people_counter_inference_\\w+\\{[^}]*instance="${instanceId}"\\}`));
      }
      assert.match(metrics, /people_counter_inference_outcomes_total\{outcome="counted"[^}]*\} [1-9]/);
      assert.match(metrics, /people_counter_ingest_\w+\{[^}]*service="ingest"/);
      assert.match(metrics, /people_counter_engage_\w+\{[^}]*service="engage"/);
      for (const [service, listener] of [
        ['broker', 'mqtt'],
        ['engage', 'http'],
        ['ingest', 'http'],
        ['up', 'http'],
      ]) {
        const series = new RegExp(
          `people_counter_connections_refused_total\\{(?=[^}]*listener="${listener}")(?=[^}]*service="${service}")`,
        );
        assert.match(metrics, series, `connection caps of ${service}'s ${listener} listener in the metrics`);
      }
      assert.equal((await fetch(`${stack.urls.metrics}/healthz`)).status, 200);
    } finally {
      await stack.stop();
    }
    assert.deepEqual(await storedPhotos(join(dataDir, 'storage')), []);

    const again = await startStack(config, { logger: silentLogger() });
    try {
      const seen = await devices(again.urls.engage);
      for (const [id, count] of expected) assert.equal(seen.get(id)?.count, count, `history of ${id}`);
    } finally {
      await again.stop();
    }
  });

  test('up makes a message secret once and keeps it: a restarted stack accepts what the secret signed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-stack-secret-'));
    const secretFile = join(dir, MESSAGE_SECRET_FILE);
    const operator = { username: 'operator', password: 'operator-password-0123' };
    const config = configFor(dir, { inferenceInstances: 1, mqtt: operator });
    try {
      const given = await startStack(
        { ...config, messageSecret: 'the-operators-own-secret-0123' },
        { logger: silentLogger() },
      );
      await given.stop();
      await assert.rejects(stat(secretFile), { code: 'ENOENT' }, 'a given secret is not written down');

      const first = await startStack(config, { logger: silentLogger() });
      await first.stop();
      const kept = await readFile(secretFile, 'utf8');
      const again = await startStack(config, { logger: silentLogger() });
      const client = await connectAsync(again.urls.mqtt, { ...operator, reconnectPeriod: 0 });
      try {
        assert.equal(await readFile(secretFile, 'utf8'), kept, 'reused, not replaced');
        // Signed as the first run's inference signed its results.
        const deviceId = randomUUID();
        const { results } = again.topics;
        const signed = createMessageAuth(kept.trim()).sign(results, result(deviceId, 7, Date.now() / 1000));
        await client.publishAsync(results, signed, { qos: 1 });
        await waitForCounts(again.urls.engage, new Map([[deviceId, 7]]));
      } finally {
        await client.endAsync();
        await again.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('devices: open on loopback until one is registered; then each uses its own secret until revoked', async () => {
    const deviceDir = await mkdtemp(join(tmpdir(), 'pc-stack-devices-'));
    const stack = await startStack(configFor(deviceDir), { logger: silentLogger() });
    try {
      assert.deepEqual(
        { registered: stack.devices.registered, openWhileEmpty: stack.devices.openWhileEmpty },
        { registered: 0, openWhileEmpty: true },
      );
      const anonymous = await connectAsync(stack.urls.mqtt, { reconnectPeriod: 0 }).catch((error: Error) => error);
      assert.ok(anonymous instanceof Error, 'an anonymous client must be refused');
      const deviceId = randomUUID();
      const jpeg = await solidJpeg(80, 60, { r: 10, g: 200, b: 10 });
      await postPhoto(stack.urls.ingest, randomUUID(), jpeg);

      // Registered through the dashboard's API (open writes on loopback); the secret comes back once.
      const added = await fetch(`${stack.urls.engage}/api/devices/credentials`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId }),
      });
      assert.equal(added.status, 201);
      const { secret } = (await added.json()) as { secret: string };
      const listed = (await (await fetch(`${stack.urls.engage}/api/devices/credentials`)).json()) as unknown[];
      assert.equal(JSON.stringify(listed).includes(secret), false);
      const post = (id: string, bearer?: string) =>
        fetch(`${stack.urls.ingest}/v1/devices/${id}/images`, {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
          body: new Uint8Array(jpeg),
        });
      assert.equal((await post(randomUUID())).status, 401, 'enforced once a device is registered');
      assert.equal((await post(deviceId)).status, 401);
      assert.equal((await post(deviceId, secret)).status, 201);

      const connectDevice = () =>
        connectAsync(stack.urls.mqtt, { username: deviceId, password: secret, clientId: deviceId, reconnectPeriod: 0 });
      const device = await connectDevice();
      await device.publishAsync(stack.topics.deviceImage(deviceId), jpeg, { qos: 1 });
      await waitForCounts(stack.urls.engage, new Map([[deviceId, deterministicCount(jpeg)]]));
      const closedByForgery = new Promise<void>((resolve) => device.once('close', () => resolve()));
      device.publish(stack.topics.results, JSON.stringify({ forged: true }), { qos: 1 });
      await closedByForgery;
      await device.endAsync(true);

      const again = await connectDevice();
      const closedByRevocation = new Promise<void>((resolve) => again.once('close', () => resolve()));
      const revoked = await fetch(`${stack.urls.engage}/api/devices/credentials/${deviceId}`, { method: 'DELETE' });
      assert.equal(revoked.status, 204);
      await closedByRevocation;
      await again.endAsync(true);
      await assert.rejects(connectDevice(), /Not authorized/);
      assert.equal((await post(deviceId, secret)).status, 201, 'the registry is empty again: open on loopback');
    } finally {
      await stack.stop();
      await rm(deviceDir, { recursive: true, force: true });
    }
  });

  test('a dashboard upload goes through the ingestor and answers with its count; a bad photo is a 4xx', async () => {
    const stack = await startStack(configFor(dataDir), { logger: silentLogger() });
    try {
      const deviceId = randomUUID();
      const jpeg = await solidJpeg(80, 60, { r: 200, g: 10, b: 10 });
      const upload = (body: Buffer, type = 'image/jpeg') =>
        fetch(`${stack.urls.engage}/api/devices/${deviceId}/images`, {
          method: 'POST',
          headers: { 'content-type': type },
          body: new Uint8Array(body),
        });
      const response = await upload(jpeg);
      assert.equal(response.status, 201);
      const answer = (await response.json()) as { outcome: { status: string; count: number } };
      assert.equal(answer.outcome.status, 'counted');
      assert.equal(answer.outcome.count, deterministicCount(jpeg));
      await waitForCounts(stack.urls.engage, new Map([[deviceId, deterministicCount(jpeg)]]));
      const garbage = await upload(Buffer.from('not a photo at all'));
      assert.equal(garbage.status, 400, 'a client error, not 503');
      assert.match(((await garbage.json()) as { message: string }).message, /JPEG, PNG or WebP/);
      const png = await sharp(jpeg).png().toBuffer();
      const converted = await upload(png, 'image/png');
      assert.equal(converted.status, 201, 'PNG is converted to JPEG at ingest');
      assert.equal(((await converted.json()) as { outcome: { status: string } }).outcome.status, 'counted');
    } finally {
      await stack.stop();
    }
  });

  test('a port in use stops what was started and says which flag to change', async () => {
    const first = await startStack(configFor(dataDir), { logger: silentLogger() });
    try {
      const port = Number(new URL(first.urls.engage).port);
      await assert.rejects(
        startStack(configFor(dataDir, { engagePort: port }), { logger: silentLogger() }),
        (error: unknown) =>
          error instanceof StackStartError && /dashboard/.test(error.message) && /--engage-port/.test(error.message),
      );
      const mqttPort = Number(new URL(first.urls.mqtt).port);
      await assert.rejects(
        startStack(configFor(dataDir, { mqttPort }), { logger: silentLogger() }),
        (error: unknown) => error instanceof StackStartError && /--mqtt-port or --mqtt-url/.test(error.message),
      );
    } finally {
      await first.stop();
    }
  });

  test('the URLs come before the model: a photo sent while it loads waits for it and is counted', async () => {
    let finishLoading: ((counter: PeopleCounter) => void) | undefined;
    const stack = await startStack(configFor(dataDir), {
      logger: silentLogger(),
      loadModel: () =>
        new Promise<PeopleCounter>((resolve) => {
          finishLoading = resolve;
        }),
    });
    try {
      const deviceId = randomUUID();
      const jpeg = await solidJpeg(64, 48, { r: 9, g: 8, b: 7 });
      await postPhoto(stack.urls.ingest, deviceId, jpeg);
      assert.equal((await devices(stack.urls.engage)).get(deviceId)?.count ?? null, null, 'nothing counted yet');
      assert.ok(finishLoading, 'the model is loading once the stack runs');
      const stand = new FixedDelayCounter(5);
      finishLoading(stand);
      assert.equal((await stack.model).name, stand.model);
      await waitForCounts(stack.urls.engage, new Map([[deviceId, deterministicCount(jpeg)]]));
    } finally {
      await stack.stop();
    }
  });

  test('a model that cannot load: up says so after the banner, stops the stack and exits with status 1', async () => {
    const stack = await startStack(configFor(dataDir), {
      logger: silentLogger(),
      loadModel: () => Promise.reject(new Error('no such model file')),
    });
    await assert.rejects(
      stack.model,
      (error: unknown) =>
        error instanceof StackStartError &&
        error.message === 'cannot start the people-counting model: no such model file',
    );
    const lines: string[] = [];
    assert.equal(await superviseStack(stack, (line) => lines.push(line), silentLogger(), 'up.log'), 1);
    assert.deepEqual(lines, ['Model: warming up… (photos that arrive meanwhile wait for it)']);
    await assert.rejects(fetch(`${stack.urls.engage}/api/devices`), 'the dashboard is stopped');
  });

  const mall = sharedDataset('mall-train');
  test('the in-process models: an empty scene is 0; the density network counts and maps a crowd', async () => {
    const stack = await startStack(configFor(dataDir, { analytics: parseAnalyticsSpec('local'), workers: 1 }), {
      logger: silentLogger(),
    });
    /** What engage knows of the camera's latest result: its count and, for density counts, the heat map. */
    const latest = async (deviceId: string) => {
      const tuning = (await (await fetch(`${stack.urls.engage}/api/tuning`)).json()) as {
        devices: Array<{ deviceId: string; heatMap: { values: number[] } | null }>;
      };
      const heatMap = tuning.devices.find((d) => d.deviceId === deviceId)?.heatMap ?? null;
      return { count: (await devices(stack.urls.engage)).get(deviceId)?.count, heatMap };
    };
    const countedWithMap = (deviceId: string) =>
      waitFor(
        async () => {
          const seen = await latest(deviceId);
          return typeof seen.count === 'number' && seen.heatMap
            ? { count: seen.count, heatMap: seen.heatMap }
            : undefined;
        },
        { timeoutMs: 60_000, message: 'a density count with its heat map' },
      );
    try {
      const empty = randomUUID();
      await postPhoto(stack.urls.ingest, empty, await solidJpeg());
      await waitFor(async () => (await latest(empty)).count === 0, {
        timeoutMs: 60_000,
        message: 'the model to count the photo',
      });
      assert.equal((await latest(empty)).heatMap, null, "an empty scene is the detector's: no heat map");

      // A profile that names the density method: the network loads in the worker and counts.
      const forced = randomUUID();
      const put = await fetch(`${stack.urls.engage}/api/devices/${forced}/profile`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ method: 'density' }),
      });
      assert.equal(put.status, 200, await put.text());
      await postPhoto(stack.urls.ingest, forced, await figuresJpeg(4));
      const byDensity = await countedWithMap(forced);
      const mapped = byDensity.heatMap.values.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(mapped - byDensity.count) <= 1, `count ${byDensity.count}, heat map ${mapped}`);

      // A Mall frame without a profile: auto sees a crowd and counts it by density (a frame the network
      // never trained on).
      if (!mall.skip) {
        const photo = (await loadDataset(mall.dir)).at(-1);
        assert.ok(photo);
        const camera = randomUUID();
        await postPhoto(stack.urls.ingest, camera, await readFile(photo.path));
        const crowd = await countedWithMap(camera);
        assert.ok(
          Math.abs(crowd.count - photo.count) <= Math.max(5, photo.count * 0.25),
          `counted ${crowd.count}, labelled ${photo.count}`,
        );
      }
    } finally {
      await stack.stop();
    }
    assert.deepEqual(await storedPhotos(join(dataDir, 'storage')), []);
  });
});

describe('stack helpers', () => {
  test('demo cameras are named in the demo site, unless the user named them', () => {
    const store = new EngageStore(':memory:');
    const [first, second] = demoDeviceIds(2) as [string, string];
    store.upsertDevice(second, { name: 'Till' }, 1);
    nameDemoCameras(store, [first, second], 2);
    assert.deepEqual(
      [store.getDevice(first), store.getDevice(second)].map((device) => [device?.name, device?.site]),
      [
        ['Demo camera 1', DEMO_SITE],
        ['Till', null],
      ],
    );
    store.close();
  });

  test('demo device IDs are stable UUID v4s; the model queue holds every batch', () => {
    const ids = demoDeviceIds(3);
    assert.deepEqual(ids, demoDeviceIds(3));
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(modelQueueLimit(2, 2, STACK_DEFAULTS.batchSize), 20);
    assert.equal(modelQueueLimit(8, 1, 10), 32);
  });
});

describe('people-counter up (CLI)', () => {
  let dataDir: string;
  let up: ServiceProcess | undefined;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pc-up-'));
  });
  after(async () => {
    await up?.stop('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('refuses an invalid --profiles file before starting anything', () => {
    const run = spawnSync(
      process.execPath,
      [CLI, 'up', '--data-dir', dataDir, '--profiles', join(dataDir, 'none.json')],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /--profiles .*none\.json/);
  });

  test('a dashboard port in use: exits with status 1 and the flag to change, without loading the model', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const [ingestPort, mqttPort] = [await freePort(), await freePort()];
      const run = spawnProcess('up', [
        'up',
        '--data-dir',
        dataDir,
        '--engage-port',
        String(port),
        '--ingest-port',
        String(ingestPort),
        '--mqtt-port',
        String(mqttPort),
        '--metrics-port',
        '0',
      ]);
      assert.equal((await run.exited).code, 1, describeOutputs([run]));
      assert.match(
        run.output(),
        new RegExp(
          `cannot start the dashboard \\(engage\\): the port is already in use .*:${port}\\); use --engage-port`,
        ),
      );
      assert.doesNotMatch(run.output(), /Model/, 'the model is loaded only once every port is open');
    } finally {
      taken.close();
    }
  });

  test('prints where everything is, counts a photo, and stops cleanly on SIGINT', async () => {
    const started = await spawnUp(dataDir, ['--analytics', 'fixed-delay:5', '--max-wait', '200ms']);
    const { engagePort, ingestPort, mqttPort, metricsPort } = started;
    const running = started.up;
    up = running;
    // The banner goes to stdout, apart from the logs on stderr.
    const dashboard = await waitFor(() => /Dashboard:\s+(http:\/\/\S+)/.exec(running.stdout())?.[1], {
      timeoutMs: 20_000,
      message: 'the banner on stdout',
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${describeOutputs([running])}`);
    });
    const stdout = running.stdout();
    assert.equal(dashboard, `http://127.0.0.1:${engagePort}/`);
    assert.match(stdout, new RegExp(`Ingest API:\\s+http://127\\.0\\.0\\.1:${ingestPort}`));
    assert.match(stdout, new RegExp(`MQTT:\\s+mqtt://127\\.0\\.0\\.1:${mqttPort}`));
    assert.match(stdout, /results:\s+people-counter\/results/);
    assert.match(stdout, new RegExp(`Metrics:\\s+http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    assert.match(stdout, /curl -X POST/);

    const deviceId = randomUUID();
    const jpeg = await solidJpeg(64, 48, { r: 1, g: 2, b: 3 });
    await postPhoto(`http://127.0.0.1:${ingestPort}`, deviceId, jpeg);
    await waitForCounts(`http://127.0.0.1:${engagePort}`, new Map([[deviceId, deterministicCount(jpeg)]]));
    await waitFor(() => /First count from camera \S+: \d+ (person|people)/.test(running.stdout()), {
      timeoutMs: 10_000,
      message: "the camera's first count on the console",
    });

    // Quiet by default: one status line, then the banner; the log goes to <data-dir>/up.log.
    const printed = running.stdout();
    const beforeUrl = printed.slice(0, printed.indexOf('  Dashboard:')).trimEnd().split('\n');
    assert.equal(beforeUrl.length, 3, printed);
    assert.match(beforeUrl[0] ?? '', /^\d\d:\d\d:\d\d {2}Starting People Counter in \S+ \(log: up\.log there\)…$/);
    assert.deepEqual(beforeUrl.slice(1), ['', 'People Counter is up.']);
    assert.match(printed, /Model ready after \d+\.\d s/);
    assert.doesNotMatch(printed, /"level"|msg/);
    const log = await readFile(join(dataDir, 'up.log'), 'utf8');
    assert.match(log, /"msg":"engage dashboard and API listening"/);
    assert.equal((await stat(join(dataDir, 'up.log'))).mode & 0o777, 0o600);

    assert.equal((await running.stop('SIGINT')).code, 0, describeOutputs([running]));
    assert.deepEqual(await storedPhotos(join(dataDir, 'storage')), []);
  });
});

/**
 * The production-shaped system without Docker: Debian's Mosquitto, an S3 server (s3rver), and
 * ingest, analytics (the real model, as a REST service), two inference instances (counting through
 * the analytics HTTP client) and engage, each its own OS process started with `node
 * bin/people-counter.js <command>` and configured through environment variables the way
 * deploy/docker-compose.yml does. Photos go in through the ingest REST API; counts must come out of
 * the engage API, and the bucket must be left empty.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { keyId } from '../../src/analytics/api-keys.js';
import { IMAGE_BUCKET } from '../../src/core/ids.js';
import { MESSAGE_SECRET_ENV } from '../../src/core/message-auth.js';
import { makeTopics } from '../../src/core/topics.js';
import { missingBinary } from '../helpers/binaries.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { freePort, freePorts, waitFor } from '../helpers/net.js';
import {
  describeOutputs,
  REPO_ROOT,
  type ServiceProcess,
  sharedDataset,
  spawnProcess,
  waitForHttp,
} from '../helpers/processes.js';

const FUDAN = sharedDataset('pennfudan-fudan');
const REAL_PHOTOS = 4;
/** The model is not exact: a real photo's count may differ from its label by this much. */
const COUNT_TOLERANCE = 2;
const MQTT_USER = { name: 'people-counter', password: 'system-test-mqtt-password' };
const ANALYTICS_API_KEY = 'system-test-analytics-key';
const ENGAGE_TOKEN = 'system-test-engage-token';
const INGEST_TOKEN = 'system-test-device-token';
/** Shared by inference and engage, as compose's MESSAGE_SECRET. */
const MESSAGE_SECRET = 'system-test-message-secret-0123456789';
const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const S3RVER_CLI = resolve(REPO_ROOT, 'node_modules/s3rver/bin/s3rver.js');
/** Generous: two cores shared with other work; waits poll, nothing asserts on time. */
const WAIT_MS = 90_000;

const topics = makeTopics();

const publishedSchema = z.object({ deviceID: z.string(), filePath: z.string(), creationTimestamp: z.number() });
const deviceViewSchema = z.object({
  id: z.string(),
  site: z.string().nullable(),
  count: z.number().nullable(),
  lastPhotoAt: z.number().nullable(),
});
const outcomeSchema = z.object({
  type: z.string(),
  filePath: z.string(),
  instanceId: z.string().optional(),
  reprocessed: z.boolean().optional(),
});
const coordinationSchema = z.object({
  type: z.string(),
  instanceId: z.string().optional(),
  claimId: z.string().optional(),
  pending: z.number().optional(),
  activeClaims: z.number().optional(),
});
const usageSchema = z.object({ key: z.string(), requests: z.number(), photos: z.number() });
const labelsSchema = z.object({ images: z.array(z.object({ file: z.string(), count: z.number() })) });

interface Photo {
  deviceID: string;
  jpeg: Buffer;
  /** Sent to ingest; without it ingest stamps the photo on arrival. */
  creationTimestamp?: number;
  /** Upload through engage's API (forwarded to ingest with the device token) instead of to ingest. */
  viaEngage?: boolean;
  /** The expected count, or a label that the model may miss by COUNT_TOLERANCE. */
  expected: { exact: number } | { label: number };
}

/** A photo as ingest published it. */
interface Sent extends Photo {
  filePath: string;
  creationTimestamp: number;
}

interface Services {
  ingest: ServiceProcess;
  analytics: ServiceProcess;
  inference: Map<string, ServiceProcess>;
  engage: ServiceProcess;
}

const skip = missingBinary('mosquitto') || missingBinary('mosquitto_passwd', 'apt-get install -y mosquitto');

describe('the distributed system, each service its own OS process', { skip }, () => {
  let mosquitto: RunningMosquitto;
  let s3rver: ServiceProcess;
  let s3: S3Client;
  let recorder: MessageRecorder;
  let dataDir: string;
  let services: Services;
  /** The environment every service shares, as in deploy/docker-compose.yml (x-env). */
  let common: Record<string, string>;
  const urls = { ingest: '', analytics: '', engage: '' };
  /** Metrics/health port of each inference instance, kept across a restart. */
  const inferencePorts = new Map<string, number>();
  const inferenceUrl = (instanceId: string) => `http://127.0.0.1:${inferencePorts.get(instanceId)}`;
  const all: ServiceProcess[] = [];

  /** Runs a test body; on failure, prints every process's recent output so that CI logs explain it. */
  async function explained(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      console.error(`# process output after the failure:\n${describeOutputs(all, 6_000)}`);
      throw error;
    }
  }

  function start(name: string, args: string[], env: Record<string, string>, script?: string): ServiceProcess {
    const started = spawnProcess(name, args, env, script);
    all.push(started);
    return started;
  }

  async function startInference(instanceId: string, name = `inference ${instanceId}`): Promise<ServiceProcess> {
    const port = inferencePorts.get(instanceId) ?? (await freePort());
    inferencePorts.set(instanceId, port);
    const started = start(name, ['inference'], {
      ...common,
      PEOPLE_COUNTER_ANALYTICS: urls.analytics,
      PEOPLE_COUNTER_ANALYTICS_API_KEY: ANALYTICS_API_KEY,
      PEOPLE_COUNTER_INSTANCE_ID: instanceId,
      [MESSAGE_SECRET_ENV]: MESSAGE_SECRET,
      PEOPLE_COUNTER_BATCH_SIZE: '3',
      PEOPLE_COUNTER_MAX_WAIT: '300ms',
      PEOPLE_COUNTER_LEASE: '10s',
      PEOPLE_COUNTER_HEARTBEAT: '1s',
      PEOPLE_COUNTER_METRICS_HOST: '127.0.0.1',
      PEOPLE_COUNTER_METRICS_PORT: String(port),
    });
    services.inference.set(instanceId, started);
    return started;
  }

  before(async () => {
    const started = Date.now();
    dataDir = await mkdtemp(join(tmpdir(), 'pc-system-'));
    const s3Port = await freePort();
    // Authentication on, as in deploy/mosquitto.conf.
    mosquitto = await startMosquitto({ users: { [MQTT_USER.name]: MQTT_USER.password } });
    s3rver = start(
      's3rver',
      ['-d', join(dataDir, 's3'), '-a', '127.0.0.1', '-p', String(s3Port), '-s', '--configure-bucket', IMAGE_BUCKET],
      {},
      S3RVER_CLI,
    );
    await waitFor(
      () => {
        if (!s3rver.running()) throw new Error(`s3rver exited:\n${describeOutputs([s3rver])}`);
        return s3rver.output().includes('listening');
      },
      { timeoutMs: WAIT_MS, intervalMs: 100, message: 's3rver to listen' },
    );
    s3 = new S3Client({
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
    });
    const authenticatedUrl = new URL(mosquitto.url);
    authenticatedUrl.username = MQTT_USER.name;
    authenticatedUrl.password = MQTT_USER.password;
    recorder = await MessageRecorder.start(authenticatedUrl.toString(), [
      topics.results,
      topics.superseded,
      topics.deadLetter,
      topics.coordination,
    ]);

    common = {
      PEOPLE_COUNTER_MQTT_URL: mosquitto.url,
      PEOPLE_COUNTER_MQTT_USERNAME: MQTT_USER.name,
      PEOPLE_COUNTER_MQTT_PASSWORD: MQTT_USER.password,
      PEOPLE_COUNTER_STORAGE: `s3://127.0.0.1:${s3Port}`,
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      PEOPLE_COUNTER_LOG_FORMAT: 'json',
      // Keeps the diagnostics readable on Node 20 (the image runs Node 22, where there is no such warning).
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const [ingestPort = 0, analyticsPort = 0, engagePort = 0] = await freePorts(3);
    urls.ingest = `http://127.0.0.1:${ingestPort}`;
    urls.analytics = `http://127.0.0.1:${analyticsPort}`;
    urls.engage = `http://127.0.0.1:${engagePort}`;
    services = {
      analytics: start('analytics', ['analytics'], {
        ...common,
        PEOPLE_COUNTER_PORT: String(analyticsPort),
        PEOPLE_COUNTER_WORKERS: '1',
        PEOPLE_COUNTER_ANALYTICS_API_KEYS: ANALYTICS_API_KEY,
      }),
      ingest: start('ingest', ['ingest'], {
        ...common,
        PEOPLE_COUNTER_PORT: String(ingestPort),
        PEOPLE_COUNTER_INGEST_TOKEN: INGEST_TOKEN,
        // Its own, not ./people-counter-data in the repository, which other runs would share.
        PEOPLE_COUNTER_OUTBOX_DIR: join(dataDir, 'ingest-outbox'),
      }),
      inference: new Map(),
      engage: start('engage', ['engage'], {
        ...common,
        PEOPLE_COUNTER_PORT: String(engagePort),
        PEOPLE_COUNTER_DB: join(dataDir, 'engage.db'),
        PEOPLE_COUNTER_INGEST_URL: urls.ingest,
        PEOPLE_COUNTER_ENGAGE_TOKEN: ENGAGE_TOKEN,
        PEOPLE_COUNTER_INGEST_TOKEN: INGEST_TOKEN,
        [MESSAGE_SECRET_ENV]: MESSAGE_SECRET,
      }),
    };
    for (const id of ['infer-a', 'infer-b']) await startInference(id);
    await explained(async () => {
      await Promise.all([
        waitForHttp(`${urls.ingest}/healthz`, services.ingest, WAIT_MS),
        waitForHttp(`${urls.analytics}/healthz`, services.analytics, WAIT_MS),
        waitForHttp(`${urls.engage}/healthz`, services.engage, WAIT_MS),
        ...[...services.inference].map(([id, p]) => waitForHttp(`${inferenceUrl(id)}/healthz`, p, WAIT_MS)),
      ]);
    });
    console.log(`# system up in ${Date.now() - started} ms`);
  });

  after(async () => {
    await recorder?.stop();
    await Promise.all(all.map((p) => p.stop('SIGKILL')));
    await mosquitto?.stop();
    s3?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function send(photo: Photo): Promise<Sent> {
    const url = photo.viaEngage
      ? `${urls.engage}/api/devices/${photo.deviceID}/images`
      : `${urls.ingest}/v1/devices/${photo.deviceID}/images` +
        (photo.creationTimestamp === undefined ? '' : `?creationTimestamp=${photo.creationTimestamp}`);
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'image/jpeg',
        authorization: `Bearer ${photo.viaEngage ? ENGAGE_TOKEN : INGEST_TOKEN}`,
      },
      body: new Uint8Array(photo.jpeg),
    });
    const body: unknown = await response.json();
    assert.equal(response.status, 201, `${url} refused a photo: ${JSON.stringify(body)}`);
    const published = publishedSchema.parse(body);
    return { ...photo, filePath: published.filePath, creationTimestamp: published.creationTimestamp };
  }

  async function getJson<T>(url: string, schema: z.ZodType<T>, headers: Record<string, string> = {}): Promise<T> {
    const response = await fetch(url, { headers });
    assert.equal(response.status, 200, `GET ${url} answered ${response.status}`);
    return schema.parse(await response.json());
  }

  function outcomes() {
    return [...recorder.on(topics.results), ...recorder.on(topics.superseded), ...recorder.on(topics.deadLetter)].map(
      (message) => ({ topic: message.topic, ...outcomeSchema.parse(message.json()) }),
    );
  }

  async function storedKeys(): Promise<string[]> {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: IMAGE_BUCKET }));
    return (listed.Contents ?? []).map((object) => object.Key ?? '');
  }

  /** Waits until every photo has an outcome, every device's latest count is in engage, and the bucket is empty. */
  async function waitForCounts(photos: Sent[]) {
    const filePaths = photos.map((photo) => photo.filePath);
    await waitFor(
      () => {
        const done = new Set(outcomes().map((o) => o.filePath));
        return filePaths.every((path) => done.has(path));
      },
      { timeoutMs: WAIT_MS, intervalMs: 200, message: `an outcome for each of ${filePaths.length} photos` },
    );
    const latest = new Map<string, Sent>();
    for (const photo of photos) {
      const seen = latest.get(photo.deviceID);
      if (!seen || seen.creationTimestamp < photo.creationTimestamp) latest.set(photo.deviceID, photo);
    }
    const devices = await waitFor(
      async () => {
        const listed = await getJson(`${urls.engage}/api/devices`, z.array(deviceViewSchema));
        const byId = new Map(listed.map((device) => [device.id, device]));
        const arrived = [...latest.values()].every(
          (photo) => byId.get(photo.deviceID)?.lastPhotoAt === photo.creationTimestamp,
        );
        return arrived ? byId : undefined;
      },
      { timeoutMs: WAIT_MS, intervalMs: 200, message: "every device's latest count in engage" },
    );
    const emptied = await waitFor(async () => (await storedKeys()).length === 0, {
      timeoutMs: WAIT_MS,
      intervalMs: 250,
      message: 'the bucket to be empty',
    }).catch(() => false);
    assert.deepEqual(emptied ? [] : await storedKeys(), [], 'photos left in storage after their outcomes');
    return { devices, latest };
  }

  function checkCounts(devices: Map<string, z.infer<typeof deviceViewSchema>>, latest: Map<string, Sent>) {
    for (const photo of latest.values()) {
      const count = devices.get(photo.deviceID)?.count;
      assert.equal(typeof count, 'number', `device ${photo.deviceID} has no count`);
      if ('exact' in photo.expected) {
        assert.equal(count, photo.expected.exact, `device ${photo.deviceID}`);
      } else {
        const { label } = photo.expected;
        assert.ok(
          Math.abs((count as number) - label) <= COUNT_TOLERANCE,
          `device ${photo.deviceID}: counted ${count}, labelled ${label} (tolerance ${COUNT_TOLERANCE})`,
        );
      }
    }
  }

  function realPhotos(creationTimestamp: number): Photo[] {
    if (FUDAN.skip) {
      console.log(`# ${FUDAN.skip}: real photos skipped, only self-made fixtures are counted`);
      return [];
    }
    const labels = labelsSchema.parse(JSON.parse(readFileSync(join(FUDAN.dir, 'labels.json'), 'utf8')));
    return labels.images.slice(0, REAL_PHOTOS).map((image) => ({
      deviceID: randomUUID(),
      jpeg: readFileSync(join(FUDAN.dir, image.file)),
      creationTimestamp,
      expected: { label: image.count },
    }));
  }

  test('photos posted to ingest are counted, reach the engage API, and leave storage empty', () =>
    explained(async () => {
      const now = Math.floor(Date.now() / 1000);
      const busyDevice = randomUUID();
      const photos: Photo[] = [
        // Three photos of one device: only the latest must end up as its count.
        ...[0, 1, 2].map((i) => ({
          deviceID: busyDevice,
          jpeg: Buffer.alloc(0),
          creationTimestamp: now - 30 + i,
          expected: { exact: 0 },
        })),
        ...[0, 1].map(() => ({
          deviceID: randomUUID(),
          jpeg: Buffer.alloc(0),
          creationTimestamp: now - 20,
          expected: { exact: 0 },
        })),
      ];
      // One more, uploaded the way the dashboard does: through engage, which forwards it to ingest.
      photos.push({ deviceID: randomUUID(), jpeg: Buffer.alloc(0), viaEngage: true, expected: { exact: 0 } });
      for (const [i, photo] of photos.entries()) photo.jpeg = await solidJpeg(320, 240, { r: 40 * i, g: 90, b: 160 });
      photos.push(...realPhotos(now - 10));
      const sent = await Promise.all(photos.map(send));
      const filePaths = sent.map((photo) => photo.filePath);

      const { devices, latest } = await waitForCounts(sent);
      checkCounts(devices, latest);

      const seen = outcomes();
      assert.deepEqual(
        seen.filter((o) => o.topic === topics.deadLetter),
        [],
        'no photo may be dead-lettered',
      );
      for (const path of filePaths) {
        assert.equal(seen.filter((o) => o.filePath === path).length, 1, `exactly one outcome for ${path}`);
      }
      const results = seen.filter((o) => o.topic === topics.results);
      const byInstance: Record<string, number> = {};
      for (const result of results)
        byInstance[result.instanceId ?? '?'] = (byInstance[result.instanceId ?? '?'] ?? 0) + 1;
      console.log(
        `# ${photos.length} photos, ${results.length} counted, ${seen.length - results.length} superseded; ` +
          `counted by instance: ${JSON.stringify(byInstance)}`,
      );

      // Both inference instances are alive and healthy, and engage sees them online.
      for (const [id, instance] of services.inference) {
        assert.ok(instance.running(), `inference ${id} is running`);
        await waitForHttp(`${inferenceUrl(id)}/healthz`, instance, WAIT_MS);
      }
      const statuses = await getJson(
        `${urls.engage}/api/services`,
        z.array(z.object({ service: z.string(), instanceId: z.string(), state: z.string() })),
      );
      for (const id of services.inference.keys()) {
        assert.ok(
          statuses.some((s) => s.service === 'inference' && s.instanceId === id && s.state === 'online'),
          `engage lists inference ${id} online: ${JSON.stringify(statuses)}`,
        );
      }

      // The analytics service metered our key: every counted photo went through it.
      const noKey = await fetch(`${urls.analytics}/v1/usage`);
      assert.equal(noKey.status, 401);
      const usage = await getJson(`${urls.analytics}/v1/usage`, usageSchema, {
        authorization: `Bearer ${ANALYTICS_API_KEY}`,
      });
      assert.equal(usage.key, keyId(ANALYTICS_API_KEY));
      assert.ok(usage.photos >= results.length, `usage ${JSON.stringify(usage)} covers ${results.length} results`);
      assert.ok(usage.requests >= usage.photos);

      // Ingest needs the device token (the photo is refused before it is stored or announced).
      const anonymous = await fetch(`${urls.ingest}/v1/devices/${busyDevice}/images`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: new Uint8Array(await solidJpeg()),
      });
      assert.equal(anonymous.status, 401, 'ingest accepted a photo without the device token');

      // Engage's writes need its token.
      const site = { site: 'system-test' };
      const put = (headers: Record<string, string>) =>
        fetch(`${urls.engage}/api/devices/${busyDevice}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(site),
        });
      assert.equal((await put({})).status, 401);
      const updated = await put({ authorization: `Bearer ${ENGAGE_TOKEN}` });
      assert.equal(updated.status, 200);
      assert.equal(deviceViewSchema.parse(await updated.json()).site, site.site);
    }));

  test('an inference instance killed with SIGKILL mid-batch: the other takes its photos over', () =>
    explained(async () => {
      const now = Math.floor(Date.now() / 1000);
      const photos: Photo[] = [];
      for (let i = 0; i < 12; i++) {
        photos.push({
          deviceID: randomUUID(),
          jpeg: await solidJpeg(320, 240, { r: 200, g: 20 * i, b: 60 }),
          creationTimestamp: now - 5,
          expected: { exact: 0 },
        });
      }
      const coordinationBefore = recorder.on(topics.coordination).length;
      const claims = () =>
        recorder
          .on(topics.coordination)
          .slice(coordinationBefore)
          .map((m) => coordinationSchema.parse(m.json()));
      const sent = await Promise.all(photos.map(send));
      const filePaths = sent.map((photo) => photo.filePath);

      // Kill the first instance that claims a batch of this burst, while it holds the claim.
      const firstClaim = await waitFor(() => claims().find((c) => c.type === 'claim'), {
        timeoutMs: WAIT_MS,
        message: 'a claim of the second burst',
      });
      const victimId = firstClaim.instanceId ?? '';
      const victim = services.inference.get(victimId);
      assert.ok(victim, `claim by an unknown instance ${victimId}`);
      const finishedBeforeKill = claims().some((c) => c.type === 'done' && c.claimId === firstClaim.claimId);
      const killed = await victim.stop('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL');

      // The broker publishes the victim's will, releasing its claims to the survivor.
      await waitFor(() => claims().some((c) => c.type === 'offline' && c.instanceId === victimId), {
        timeoutMs: WAIT_MS,
        message: `the will "offline" of ${victimId}`,
      });
      const { devices, latest } = await waitForCounts(sent);
      checkCounts(devices, latest);

      const seen = outcomes().filter((o) => filePaths.includes(o.filePath));
      assert.deepEqual(
        seen.filter((o) => o.topic === topics.deadLetter),
        [],
      );
      // Each photo is counted once, except that photos of the killed claim may be counted again (flagged).
      for (const path of filePaths) {
        const ofPath = seen.filter((o) => o.filePath === path);
        assert.ok(ofPath.length >= 1, `an outcome for ${path}`);
        if (ofPath.length > 1) {
          assert.ok(
            ofPath.some((o) => o.reprocessed === true),
            `a repeated outcome must be flagged reprocessed: ${JSON.stringify(ofPath)}`,
          );
        }
      }
      const reprocessed = seen.filter((o) => o.reprocessed === true);
      if (!finishedBeforeKill) {
        assert.ok(reprocessed.length > 0, 'the killed claim was taken over (outcomes flagged reprocessed)');
      }
      console.log(
        `# killed ${victimId} holding claim ${firstClaim.claimId} (finished before the kill: ${finishedBeforeKill}); ` +
          `${reprocessed.length} outcome(s) reprocessed by the survivor`,
      );

      // A restart with the same instance ID resumes its persistent session, as `docker restart` would.
      const restarted = await startInference(victimId, `inference ${victimId} (restarted)`);
      await waitForHttp(`${inferenceUrl(victimId)}/healthz`, restarted, WAIT_MS);
      // It replays its queued session (announcements and claims in stream order), finds everything
      // finished, and redoes nothing.
      const outcomesBeforeRestart = outcomes().length;
      const heartbeatsFrom = recorder.on(topics.coordination).length;
      await waitFor(
        () =>
          recorder
            .on(topics.coordination)
            .slice(heartbeatsFrom)
            .map((m) => coordinationSchema.parse(m.json()))
            .some(
              (c) => c.type === 'heartbeat' && c.instanceId === victimId && c.pending === 0 && c.activeClaims === 0,
            ),
        { timeoutMs: WAIT_MS, message: `an idle heartbeat from the restarted ${victimId}` },
      );
      assert.equal(outcomes().length, outcomesBeforeRestart, 'the restarted instance redid finished work');
    }));

  test('every service exits with code 0 on SIGTERM', () =>
    explained(async () => {
      // Producers and consumers first, the analytics service they call last.
      const first = [services.ingest, services.engage, ...services.inference.values()];
      const statuses = await Promise.all(first.map(async (p) => ({ name: p.name, ...(await p.stop('SIGTERM')) })));
      statuses.push({ name: services.analytics.name, ...(await services.analytics.stop('SIGTERM')) });
      assert.deepEqual(
        statuses.filter((s) => s.code !== 0),
        [],
        'services that did not exit cleanly',
      );
    }));
});

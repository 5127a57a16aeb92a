/**
 * Home Assistant on the embedded broker of `up` (docs/home-assistant.md): logged in as the
 * read-only `homeassistant` account, it gets every camera's last count retained after `up`
 * restarts (the embedded broker keeps retained messages in memory only), and a revoked camera's
 * state and sensor are removed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deterministicCount } from '../../src/analytics/fixed-delay-counter.js';
import { DEVICE_REGISTRY_FILE } from '../../src/core/device-credentials.js';
import { registerDevice, revokeDevice } from '../../src/core/device-registry.js';
import { silentLogger } from '../../src/core/log.js';
import { makeTopics } from '../../src/core/topics.js';
import { haObjectId } from '../../src/engage/home-assistant.js';
import { type StackConfig, startStack } from '../../src/stack/stack.js';
import { solidJpeg } from '../helpers/fixtures.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { postPhoto, testStackConfig } from '../helpers/stack.js';

const topics = makeTopics();
const HA = { username: 'homeassistant', password: 'ha-password-for-tests' };

interface DeviceState {
  id: string;
  count: number | null;
  lastPhotoAt: number | null;
}

const configFor = (dataDir: string): StackConfig =>
  testStackConfig(dataDir, { homeAssistantPassword: HA.password, name: `ha-${randomUUID().slice(0, 8)}` });

async function deviceOf(engageUrl: string, id: string): Promise<DeviceState | undefined> {
  const response = await fetch(`${engageUrl}/api/devices/${id}`);
  return response.status === 200 ? ((await response.json()) as DeviceState) : undefined;
}

const configTopic = (deviceId: string) => `homeassistant/sensor/${haObjectId('device', deviceId)}/config`;

describe('Home Assistant on the embedded broker of up', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pc-stack-ha-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('after a restart, a fresh HA client gets the last count retained before any new photo', async () => {
    const config = configFor(join(dataDir, 'restart'));
    const camera = randomUUID();
    const jpeg = await solidJpeg(64, 48, { r: 200, g: 40, b: 90 });
    let before: DeviceState | undefined;
    const first = await startStack(config, { logger: silentLogger() });
    try {
      await postPhoto(first.urls.ingest, camera, jpeg);
      before = await waitFor(
        async () => {
          const device = await deviceOf(first.urls.engage, camera);
          return device?.count === deterministicCount(jpeg) ? device : undefined;
        },
        { timeoutMs: 15_000, message: 'the photo counted' },
      );
    } finally {
      await first.stop();
    }

    const again = await startStack(config, { logger: silentLogger() });
    try {
      // The first HA client sees the state whenever engage publishes it after its start.
      const watcher = await MessageRecorder.start(again.urls.mqtt, [topics.deviceState(camera)], HA);
      try {
        await watcher.waitForCount(topics.deviceState(camera), 1);
      } finally {
        await watcher.stop();
      }
      // A client that subscribes now, as HA does after its own restart, gets it retained.
      const ha = await MessageRecorder.start(again.urls.mqtt, ['homeassistant/#', topics.deviceState(camera)], HA);
      try {
        const [state] = await ha.waitForCount(topics.deviceState(camera), 1);
        assert.equal(state?.retain, true);
        const shown = state.json<DeviceState>();
        assert.equal(shown.count, deterministicCount(jpeg));
        assert.equal(shown.lastPhotoAt, before.lastPhotoAt, 'the count of the photo before the restart');
        const [discovery] = await ha.waitForCount(configTopic(camera), 1);
        assert.equal(discovery?.retain, true);
        assert.equal(discovery.json<{ state_topic: string }>().state_topic, topics.deviceState(camera));
      } finally {
        await ha.stop();
      }
    } finally {
      await again.stop();
    }
  });

  test("a revoked camera's retained state and sensor are removed; the others stay", async () => {
    const dir = join(dataDir, 'revoke');
    const registry = join(dir, DEVICE_REGISTRY_FILE);
    const [kept, revoked] = [randomUUID(), randomUUID()];
    const secrets = new Map<string, string>();
    for (const id of [kept, revoked]) secrets.set(id, (await registerDevice(registry, id, 1)).secret);
    const stack = await startStack(configFor(dir), { logger: silentLogger() });
    try {
      for (const id of [kept, revoked]) {
        await postPhoto(stack.urls.ingest, id, await solidJpeg(64, 48), secrets.get(id));
      }
      const watcher = await MessageRecorder.start(
        stack.urls.mqtt,
        [topics.deviceStateWildcard, 'homeassistant/sensor/+/config'],
        HA,
      );
      try {
        await waitFor(() => [kept, revoked].every((id) => watcher.on(topics.deviceState(id)).at(-1)?.payload.length), {
          timeoutMs: 15_000,
          message: 'both states published',
        });
        await revokeDevice(registry, revoked);
        const cleared = (topic: string) => watcher.on(topic).at(-1)?.payload.length === 0;
        await waitFor(() => cleared(topics.deviceState(revoked)) && cleared(configTopic(revoked)), {
          message: "the revoked camera's state and config emptied",
        });
      } finally {
        await watcher.stop();
      }
      // A fresh client: what the broker retains for the revoked camera would come with its own
      // subscription, before the kept camera's state that the next subscription brings.
      const ha = await MessageRecorder.start(stack.urls.mqtt, [topics.deviceState(revoked)], HA);
      try {
        await ha.client.subscribeAsync(topics.deviceState(kept), { qos: 1 });
        await ha.waitForCount(topics.deviceState(kept), 1);
        assert.deepEqual(ha.on(topics.deviceState(revoked)), []);
      } finally {
        await ha.stop();
      }
    } finally {
      await stack.stop();
    }
  });
});

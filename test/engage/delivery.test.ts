/**
 * What engage accepts and what it must not lose: result messages without a valid HMAC are dropped
 * and counted, never stored; results published while engage is stopped reach its history when it
 * is back (persistent session), and retained per-device counts fill in a fresh history.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { createMessageAuth, generateMessageSecret } from '../../src/core/message-auth.js';
import { makeTopics } from '../../src/core/topics.js';
import { engageConfig } from '../../src/engage/config.js';
import { type EngageService, startEngageService } from '../../src/engage/service.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { result } from './fixtures.js';

const topics = makeTopics();
const secret = generateMessageSecret();
const auth = createMessageAuth(secret);

let broker: RunningBroker;
let publisher: MessageRecorder;
let dir: string;

before(async () => {
  broker = await startEmbeddedBroker();
  publisher = await MessageRecorder.start(broker.url, [topics.deadLetter]);
  dir = await mkdtemp(join(tmpdir(), 'pc-engage-delivery-'));
});
after(async () => {
  await publisher.stop();
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startNamedEngage(instanceId: string, dbFile: string): Promise<EngageService> {
  const config = engageConfig(mqttConfigFor(broker.url), instanceId, {
    port: 0,
    dbPath: join(dir, dbFile),
    messageSecret: secret,
    haDiscovery: false,
  });
  const engage = await startEngageService(config, { logger: silentLogger() });
  await engage.subscribed;
  return engage;
}

const publish = (topic: string, message: object, retain = false) =>
  publisher.client.publishAsync(topic, auth.sign(topic, message), { qos: 1, retain });
const storedCount = (engage: EngageService, deviceId: string): number =>
  (engage.store.db.prepare('SELECT COUNT(*) AS n FROM counts WHERE device_id = ?').get(deviceId) as { n: number }).n;
const metric = async (engage: EngageService, name: string) => {
  const text = (await engage.http.inject({ url: '/metrics' })).body;
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
};

describe('engage result intake', () => {
  test('a result without a valid signature is dropped, counted and never stored', async () => {
    const engage = await startNamedEngage('delivery-forged', 'forged.db');
    try {
      const now = Date.now() / 1000;
      const forged = result('cam-forged', 999_999_999, now);
      await publisher.client.publishAsync(topics.results, JSON.stringify(forged), { qos: 1 });
      const otherSecret = createMessageAuth(generateMessageSecret());
      const wronglySigned = result('cam-forged', 999_999_999, now);
      await publisher.client.publishAsync(topics.results, otherSecret.sign(topics.results, wronglySigned), { qos: 1 });
      // Signed for another topic: the MAC covers the topic too.
      const replayed = result('cam-forged', 999_999_999, now);
      await publisher.client.publishAsync(topics.results, auth.sign(topics.alerts, replayed), { qos: 1 });
      await publish(topics.results, result('cam-forged', 4, now));
      await waitFor(() => storedCount(engage, 'cam-forged') === 1, { message: 'the genuine result' });
      await waitFor(async () => (await metric(engage, 'people_counter_engage_unauthenticated_messages_total')) === 3, {
        message: 'three unauthenticated results counted',
      });
      assert.equal(engage.store.getDevice('cam-forged')?.count, 4);
    } finally {
      await engage.stop();
    }
  });

  test('results published while engage is stopped are in its history after a restart', async () => {
    const first = await startNamedEngage('delivery-restart', 'restart.db');
    const now = Date.now() / 1000;
    await publish(topics.results, result('cam-restart', 1, now - 30));
    await waitFor(() => storedCount(first, 'cam-restart') === 1, { message: 'the first result' });
    await first.stop();
    const whileDown = Array.from({ length: 20 }, (_, i) => result('cam-restart', i + 2, now - 20 + i));
    for (const message of whileDown) await publish(topics.results, message);
    const second = await startNamedEngage('delivery-restart', 'restart.db');
    try {
      await waitFor(() => storedCount(second, 'cam-restart') === 21, { message: 'every result in the history' });
      assert.equal(second.store.getDevice('cam-restart')?.count, 21);
    } finally {
      await second.stop();
    }
  });

  test("a fresh engage takes each device's latest count from the retained count topic", async () => {
    const now = Date.now() / 1000;
    const latest = result('cam-retained', 7, now - 5);
    await publish(topics.deviceCount('cam-retained'), latest, true);
    const engage = await startNamedEngage('delivery-fresh', 'fresh.db');
    try {
      await waitFor(() => engage.store.getDevice('cam-retained')?.count === 7, { message: 'the retained count' });
      assert.equal(storedCount(engage, 'cam-retained'), 1);
    } finally {
      await engage.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { MqttConnection, PublishError } from '../../src/core/mqtt.js';
import { mqttConfigFor, startEmbeddedBroker } from '../helpers/broker.js';
import { dropSocket, MessageRecorder } from '../helpers/mqtt.js';
import { freePort, waitFor } from '../helpers/net.js';

describe('MqttConnection', () => {
  let broker: RunningBroker;
  before(async () => {
    broker = await startEmbeddedBroker();
  });
  after(async () => {
    await broker.stop();
  });

  test('announces retained online, publishes QoS 1, and says offline on a clean close', async () => {
    const recorder = await MessageRecorder.start(broker.url, ['people-counter/#']);
    const connection = await MqttConnection.connect({
      config: mqttConfigFor(broker.url),
      service: 'ingest',
      instanceId: 'test1',
      logger: silentLogger(),
    });
    const availability = 'people-counter/ingest/test1/availability';
    await recorder.waitForCount(availability, 1);
    assert.equal(recorder.on(availability)[0]?.payload.toString(), 'online');

    await connection.publishJson('people-counter/results', { hello: 1 });
    const [message] = await recorder.waitForCount('people-counter/results', 1);
    assert.deepEqual(message?.json(), { hello: 1 });

    await connection.close();
    await recorder.waitForCount(availability, 2);
    assert.equal(recorder.on(availability)[1]?.payload.toString(), 'offline');
    await recorder.stop();
  });

  test('the last will marks an instance offline when its connection dies', async () => {
    const recorder = await MessageRecorder.start(broker.url, ['people-counter/+/+/availability']);
    const connection = await MqttConnection.connect({
      config: mqttConfigFor(broker.url),
      service: 'engage',
      instanceId: 'doomed',
      logger: silentLogger(),
    });
    const availability = 'people-counter/engage/doomed/availability';
    await recorder.waitForCount(availability, 1);
    dropSocket(connection); // an abrupt loss, as when the process is killed
    await waitFor(() => recorder.on(availability).some((m) => m.payload.toString() === 'offline'), {
      message: 'the will',
    });
    await connection.close();
    await recorder.stop();
  });

  test('a will given as a function is asked again at every connect: each connection leaves its own', async () => {
    const topic = 'people-counter/test/will';
    const recorder = await MessageRecorder.start(broker.url, [topic]);
    let connects = 0;
    const connection = await MqttConnection.connect({
      config: mqttConfigFor(broker.url),
      service: 'inference',
      instanceId: 'twice',
      logger: silentLogger(),
      announceAvailability: false,
      reconnectMinMs: 20,
      will: () => {
        connects += 1;
        return { topic, payload: `connection ${connects}`, retain: false };
      },
    });
    for (const expected of ['connection 1', 'connection 2']) {
      dropSocket(connection);
      await waitFor(() => recorder.on(topic).some((m) => m.payload.toString() === expected), {
        message: `the will of ${expected}`,
      });
      await waitFor(() => connection.connected, { message: 'the reconnect' });
    }
    await connection.close();
    await recorder.stop();
  });

  test('publish fails fast while the broker is unreachable instead of queueing', async () => {
    const port = await freePort();
    const connection = MqttConnection.start({
      config: mqttConfigFor(`mqtt://127.0.0.1:${port}`),
      service: 'ingest',
      instanceId: 'nobroker',
      logger: silentLogger(),
    });
    await assert.rejects(connection.publish('people-counter/x', 'y'), PublishError);
    await assert.rejects(connection.waitForConnection(300), /could not connect/);
    await connection.close();
  });
});

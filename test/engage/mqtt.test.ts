/**
 * Engage over a real (embedded) broker: results stored once, bad messages dead-lettered, Home
 * Assistant discovery and site occupancy retained, alerts published and posted to a webhook.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import type { RunningBroker } from '../../src/broker/broker.js';
import { alertMessageSchema, deadLetterMessageSchema } from '../../src/core/messages.js';
import { makeTopics } from '../../src/core/topics.js';
import type { EngageService } from '../../src/engage/service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { freePort, waitFor } from '../helpers/net.js';
import { result, startEngage } from './fixtures.js';

const topics = makeTopics();
const TOKEN = 'mqtt-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

let broker: RunningBroker;
let engage: EngageService;
let recorder: MessageRecorder;
let webhook: Server;
const webhookBodies: unknown[] = [];
let webhookFailuresLeft = 1;

before(async () => {
  broker = await startEmbeddedBroker();
  // The webhook fails once, to show that a retry delivers.
  webhook = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      if (webhookFailuresLeft-- > 0) {
        response.writeHead(503).end();
        return;
      }
      webhookBodies.push(JSON.parse(body));
      response.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => webhook.listen(port, '127.0.0.1', resolve));
  recorder = await MessageRecorder.start(broker.url, [
    topics.deadLetter,
    topics.alerts,
    'homeassistant/#',
    'people-counter/sites/#',
  ]);
  engage = await startEngage(broker, {
    token: TOKEN,
    webhookUrl: `http://127.0.0.1:${port}/hook`,
    webhookTimeoutMs: 2000,
    webhookRetries: 2,
  });
});

after(async () => {
  await recorder.stop();
  await engage.stop();
  await broker.stop();
  await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

const publish = (topic: string, payload: string) => recorder.client.publishAsync(topic, payload, { qos: 1 });
const metric = async (name: string) => {
  const text = (await engage.http.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return Number(line?.split(' ').pop() ?? 0);
};

test('results are stored once; invalid messages go to the dead-letter topic and nothing crashes', async () => {
  const now = Date.now() / 1000;
  const first = result('cam-a', 3, now - 1);
  await publish(topics.results, JSON.stringify(first));
  await publish(topics.results, JSON.stringify(first));
  await publish(topics.results, '{not json');
  await publish(topics.results, JSON.stringify({ ...first, resultId: 'other', count: -1 }));
  await publish(topics.results, JSON.stringify(result('cam-a', 4, now)));
  await waitFor(async () => (await metric('people_counter_engage_results_stored_total')) === 2, {
    message: 'two results stored',
  });
  await waitFor(async () => (await metric('people_counter_engage_duplicates_ignored_total')) === 1, {
    message: 'one duplicate ignored',
  });
  const letters = await recorder.waitForCount(topics.deadLetter, 2);
  const parsed = letters.map((letter) => deadLetterMessageSchema.parse(letter.json()));
  assert.deepEqual(
    parsed.map((letter) => letter.reason),
    ['invalid-json', 'invalid-schema'],
  );
  assert.match(parsed[1]!.detail, /count/);
  assert.equal(parsed[0]!.service, 'engage');
  const device = (await engage.http.inject({ url: '/api/devices/cam-a' })).json();
  assert.equal(device.count, 4);
  assert.equal(device.state, 'live');
});

test('Home Assistant discovery: a retained sensor config per device and per site', async () => {
  await engage.http.inject({
    method: 'PUT',
    url: '/api/devices/cam-a',
    payload: { name: 'Front door', site: 'lobby', capacity: 5 },
    headers: auth,
  });
  const deviceTopic = 'homeassistant/sensor/people_counter_device_cam-a/config';
  const siteTopic = 'homeassistant/sensor/people_counter_site_lobby/config';
  await waitFor(
    () => recorder.on(deviceTopic).some((m) => m.json<{ device: { name: string } }>().device.name === 'Front door'),
    {
      message: 'device discovery with its name',
    },
  );
  await recorder.waitForCount(siteTopic, 1);
  // A fresh subscriber gets them retained, as Home Assistant does after a restart.
  const late = await MessageRecorder.start(broker.url, ['homeassistant/#']);
  try {
    await late.waitForCount(siteTopic, 1);
    const device = late.on(deviceTopic).at(-1)!;
    assert.equal(device.retain, true);
    const config = device.json<Record<string, unknown>>();
    assert.equal(config.state_topic, topics.deviceState('cam-a'));
    assert.equal(config.value_template, '{{ value_json.count }}');
    assert.equal(config.unit_of_measurement, 'people');
    assert.equal(config.state_class, 'measurement');
    assert.equal(config.unique_id, 'people_counter_device_cam-a');
    assert.match(String(config.availability_topic), /^people-counter\/engage\/[^/]+\/availability$/);
    assert.deepEqual(config.device, {
      identifiers: ['people_counter_device_cam-a'],
      name: 'Front door',
      manufacturer: 'People Counter',
      model: 'Counting camera',
      suggested_area: 'lobby',
    });
    const site = late.on(siteTopic).at(-1)!.json<Record<string, unknown>>();
    assert.equal(site.state_topic, topics.siteOccupancy('lobby'));
    assert.equal(site.value_template, '{{ value_json.count }}');
  } finally {
    await late.stop();
  }
  const occupancy = await waitFor(() =>
    recorder.on(topics.siteOccupancy('lobby')).find((m) => m.json<{ count: number }>().count === 4),
  );
  assert.equal(occupancy.json<{ capacity: number }>().capacity, 5);
});

test('an alert is raised once over the threshold, cleared below the hysteresis, published and posted', async () => {
  await engage.http.inject({
    method: 'PUT',
    url: '/api/alert-rules/door-full',
    payload: { scope: 'device', target: 'cam-a', raiseAtPercent: 100, clearBelowPercent: 80 },
    headers: auth,
  });
  const now = Date.now() / 1000;
  // 5 of 5 raises; 6 and 4.x stay raised (4 is not below 80 % of 5); 3 clears.
  const counts = [5, 6, 4, 3];
  for (const [i, count] of counts.entries()) {
    await publish(topics.results, JSON.stringify(result('cam-a', count, now + i * 0.01)));
    await waitFor(async () => (await engage.http.inject({ url: '/api/devices/cam-a' })).json().count === count);
  }
  const published = await recorder.waitForCount(topics.alerts, 2);
  const alerts = published.map((message) => alertMessageSchema.parse(message.json()));
  assert.deepEqual(
    alerts.map((a) => [a.state, a.count, a.raiseAt, a.clearBelow]),
    [
      ['raised', 5, 5, 4],
      ['cleared', 3, 5, 4],
    ],
  );
  await waitFor(() => webhookBodies.length === 2, { message: 'both alerts posted to the webhook' });
  assert.deepEqual(
    webhookBodies.map((body) => alertMessageSchema.parse(body).alertId),
    alerts.map((a) => a.alertId),
  );
  const stored = (await engage.http.inject({ url: '/api/alerts' })).json();
  assert.deepEqual(
    stored.map((a: { state: string }) => a.state),
    ['cleared', 'raised'],
  );
});

test('a device that says it is offline is shown offline and left out of its site', async () => {
  await publish('people-counter/devices/cam-a/availability', 'offline');
  await waitFor(async () => (await engage.http.inject({ url: '/api/devices/cam-a' })).json().state === 'offline');
  const site = (await engage.http.inject({ url: '/api/sites/lobby/occupancy' })).json();
  assert.deepEqual(site.staleDevices, ['cam-a']);
  assert.equal(site.count, 0);
  const services = (await engage.http.inject({ url: '/api/services' })).json();
  assert.ok(services.some((s: { service: string; state: string }) => s.service === 'engage' && s.state === 'online'));
});

test('a count turns stale, then offline, with time alone; the site occupancy is republished without it', async () => {
  let clock = 1_800_000_000;
  // A short stale-after makes engage look again every 250 ms; it caps the interval judged at 1 s:
  // live for 2 s after the photo, stale up to 10 s, offline after.
  const timed = await startEngage(broker, { staleAfterMs: 2_000 }, { nowSeconds: () => clock });
  try {
    timed.store.upsertDevice('cam-t', { site: 'yard' }, clock);
    await publish(topics.results, JSON.stringify(result('cam-t', 6, clock - 1)));
    const occupancyTopic = topics.siteOccupancy('yard');
    await waitFor(() => recorder.on(occupancyTopic).some((m) => m.json<{ count: number }>().count === 6), {
      message: 'yard occupancy 6',
    });
    clock += 5; // no message arrives; only time passes
    const stale = await waitFor(
      () =>
        recorder.on(occupancyTopic).find((m) => m.json<{ staleDevices: string[] }>().staleDevices.includes('cam-t')),
      { message: 'yard occupancy without the stale camera' },
    );
    assert.equal(stale.json<{ count: number }>().count, 0);
    assert.equal(stale.retain, false, 'a live subscriber sees it as a new message');
    const device = (await timed.http.inject({ url: '/api/devices/cam-t' })).json();
    assert.equal(device.state, 'stale');
    assert.equal(device.count, 6, 'the last count is kept and shown as stale');
    clock += 120;
    await waitFor(
      async () =>
        (await timed.http.inject({ url: '/api/devices/cam-t' })).json<{ state: string }>().state === 'offline',
      { message: 'cam-t offline after 10 intervals without a photo' },
    );
  } finally {
    await timed.stop();
  }
});

/**
 * Zones over the REST API and MQTT: validation and auth of the zone routes, per-zone counts from the
 * results engage receives (history, CSV), the retained per-zone topics, and their Home Assistant
 * sensors, removed with the zone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningBroker } from '../../src/broker/broker.js';
import type { ResultMessage } from '../../src/core/messages.js';
import { makeTopics } from '../../src/core/topics.js';
import { MAX_ZONES_PER_CAMERA } from '../../src/core/zones.js';
import type { EngageService } from '../../src/engage/service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { MessageRecorder } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { result, startEngage } from './fixtures.js';

const TOKEN = 'zones-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const topics = makeTopics();
const CAM = 'cam-zones';

/** Left and right halves of a 640×480 photo. */
const LEFT = [
  [0, 0],
  [320, 0],
  [320, 480],
  [0, 480],
];
const RIGHT = [
  [320, 0],
  [640, 0],
  [640, 480],
  [320, 480],
];

/** A detector result: one person standing in the left half, two in the right. */
function detectorResult(at: number): ResultMessage {
  return {
    ...result(CAM, 3, at),
    detections: [
      { box: [100, 100, 160, 300], score: 0.9 },
      { box: [400, 100, 460, 300], score: 0.8 },
      { box: [500, 100, 560, 300], score: 0.7 },
    ],
  };
}

let broker: RunningBroker;
let engage: EngageService;
before(async () => {
  broker = await startEmbeddedBroker();
  engage = await startEngage(broker, { token: TOKEN });
});
after(async () => {
  await engage.stop();
  await broker.stop();
});

const put = (zone: string, payload: unknown, headers: Record<string, string> = auth, device = CAM) =>
  engage.http.inject({
    method: 'PUT',
    url: `/api/devices/${device}/zones/${zone}`,
    payload: payload as object,
    headers,
  });

describe('zone routes', () => {
  test('writes need the token; reads are open; bad IDs, bodies and too many zones get clear 400s', async () => {
    const now = Date.now() / 1000;
    engage.store.recordResult(result(CAM, 0, now - 60), now);
    const body = { name: 'Checkout', polygon: LEFT };
    assert.equal((await put('checkout', body, {})).statusCode, 401);
    assert.equal((await put('checkout', body, { authorization: 'Bearer wrong-token' })).statusCode, 401);
    const unknownDevice = await put('checkout', body, auth, 'cam-never-seen');
    assert.equal(unknownDevice.statusCode, 404);
    assert.equal(unknownDevice.json().error, 'unknown-device');

    const badId = await put('Bad%20Zone', body);
    assert.equal(badId.statusCode, 400);
    assert.equal(badId.json().error, 'invalid-request');
    assert.match(badId.json().message, /slug/);
    for (const hostile of ['a%2Fb', '%2B', '%23', 'a.b', 'a__b', 'x'.repeat(41)]) {
      assert.equal((await put(hostile, body)).statusCode, 400, hostile);
    }
    const twoCorners = await put('checkout', { name: 'Checkout', polygon: LEFT.slice(0, 2) });
    assert.equal(twoCorners.statusCode, 400);
    assert.match(twoCorners.json().message, /at least 3 corners/);
    const noName = await put('checkout', { name: '  ', polygon: LEFT });
    assert.equal(noName.statusCode, 400);
    assert.match(noName.json().message, /needs a name/);
    assert.equal((await put('checkout', { ...body, mode: 'exclude' })).statusCode, 400, 'unknown fields refused');

    const created = await put('checkout', body);
    assert.equal(created.statusCode, 200, created.body);
    assert.deepEqual(created.json(), { id: 'checkout', name: 'Checkout', polygon: LEFT, count: null, photoAt: null });
    const read = await engage.http.inject({ url: `/api/devices/${CAM}/zones` });
    assert.equal(read.statusCode, 200);
    assert.deepEqual(
      read.json().map((zone: { id: string }) => zone.id),
      ['checkout'],
    );

    // The cap: replacing a zone is fine at the cap, a new one is not.
    for (let i = 1; i < MAX_ZONES_PER_CAMERA; i++) {
      assert.equal((await put(`z-${i}`, { name: `Zone ${i}`, polygon: RIGHT })).statusCode, 200);
    }
    const tooMany = await put('one-more', body);
    assert.equal(tooMany.statusCode, 400);
    assert.equal(tooMany.json().error, 'too-many-zones');
    assert.equal((await put('checkout', { name: 'Tills', polygon: LEFT })).statusCode, 200);
    for (let i = 1; i < MAX_ZONES_PER_CAMERA; i++) {
      const deleted = await engage.http.inject({ method: 'DELETE', url: `/api/devices/${CAM}/zones/z-${i}` });
      assert.equal(deleted.statusCode, 401, 'deleting needs the token too');
      const ok = await engage.http.inject({ method: 'DELETE', url: `/api/devices/${CAM}/zones/z-${i}`, headers: auth });
      assert.equal(ok.statusCode, 204);
    }
    const gone = await engage.http.inject({ method: 'DELETE', url: `/api/devices/${CAM}/zones/z-1`, headers: auth });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().error, 'unknown-zone');
    assert.equal((await engage.http.inject({ url: `/api/devices/${CAM}/zones/z-1` })).statusCode, 404);
  });
});

describe('zone counts', () => {
  test('a result produces per-zone counts: REST, history with ?zone=, CSV, retained MQTT, Home Assistant', async () => {
    assert.equal((await put('checkout', { name: 'Tills', polygon: LEFT })).statusCode, 200);
    assert.equal((await put('aisle-2', { name: 'Aisle 2', polygon: RIGHT })).statusCode, 200);
    const checkoutTopic = topics.deviceZone(CAM, 'checkout');
    const aisleTopic = topics.deviceZone(CAM, 'aisle-2');
    const aisleConfig = `homeassistant/sensor/people_counter_zone_${CAM}__aisle-2/config`;
    const watcher = await MessageRecorder.start(broker.url, [topics.deviceZoneWildcard, 'homeassistant/#']);
    try {
      const at = Date.now() / 1000 - 5;
      await watcher.client.publishAsync(topics.results, JSON.stringify(detectorResult(at)), { qos: 1 });
      await waitFor(async () => (await engage.http.inject({ url: `/api/devices/${CAM}/zones/aisle-2` })).json().count);
      const zones = (await engage.http.inject({ url: `/api/devices/${CAM}/zones` })).json();
      assert.deepEqual(
        zones.map((zone: { id: string; count: number; photoAt: number }) => [zone.id, zone.count, zone.photoAt]),
        [
          ['aisle-2', 2, at],
          ['checkout', 1, at],
        ],
      );

      const history = await engage.http.inject({ url: `/api/devices/${CAM}/counts?zone=checkout&bucket=raw` });
      assert.equal(history.statusCode, 200, history.body);
      assert.equal(history.json().zone, 'checkout');
      assert.deepEqual(
        history.json().points.map((point: { t: number; avg: number }) => [point.t, point.avg]),
        [[at, 1]],
      );
      const csv = await engage.http.inject({ url: `/api/devices/${CAM}/counts.csv?zone=aisle-2&bucket=raw` });
      assert.equal(csv.statusCode, 200);
      const [header, row] = csv.body.trim().split('\r\n');
      assert.equal(header, 'time,unix_seconds,device,zone,avg,min,max,samples');
      assert.match(row ?? '', new RegExp(`,${CAM},aisle-2,2,2,2,1$`));
      assert.match(String(csv.headers['content-disposition']), /aisle-2/);
      const unknownZone = await engage.http.inject({ url: `/api/devices/${CAM}/counts?zone=nowhere` });
      assert.equal(unknownZone.statusCode, 404);
      assert.equal((await engage.http.inject({ url: `/api/devices/${CAM}/counts?zone=No%20Slug` })).statusCode, 400);

      // Retained per-zone states: a client subscribing now gets them at once.
      await waitFor(() => watcher.on(aisleTopic).length > 0 && watcher.on(checkoutTopic).length > 0);
      const late = await MessageRecorder.start(broker.url, [topics.deviceZoneWildcard]);
      try {
        await late.waitForCount(aisleTopic, 1);
        await late.waitForCount(checkoutTopic, 1);
        const aisle = late.on(aisleTopic)[0]!;
        assert.equal(aisle.retain, true);
        assert.deepEqual(aisle.json(), {
          device: CAM,
          zone: 'aisle-2',
          name: 'Aisle 2',
          count: 2,
          photoAt: at,
          state: 'live',
        });
        assert.equal(late.on(checkoutTopic)[0]?.json<{ count: number }>().count, 1);
      } finally {
        await late.stop();
      }

      // One Home Assistant sensor per zone, on the camera's device, reading the zone's topic.
      await waitFor(() => watcher.on(aisleConfig).length > 0, { message: 'the zone sensor config' });
      const config = watcher.on(aisleConfig).at(-1)!.json<Record<string, unknown>>();
      assert.equal(config.name, 'Aisle 2');
      assert.equal(config.state_topic, aisleTopic);
      assert.equal(config.value_template, '{{ value_json.count }}');
      assert.deepEqual((config.device as { identifiers: string[] }).identifiers, [`people_counter_device_${CAM}`]);

      // Deleting the zone clears its retained state and removes its sensor.
      const deleted = await engage.http.inject({
        method: 'DELETE',
        url: `/api/devices/${CAM}/zones/aisle-2`,
        headers: auth,
      });
      assert.equal(deleted.statusCode, 204);
      await waitFor(() => watcher.on(aisleTopic).some((message) => message.payload.length === 0), {
        message: 'the zone state cleared',
      });
      await waitFor(() => watcher.on(aisleConfig).some((message) => message.payload.length === 0), {
        message: 'the zone sensor removed',
      });
      assert.equal((await engage.http.inject({ url: `/api/devices/${CAM}/counts?zone=aisle-2` })).statusCode, 404);
    } finally {
      await watcher.stop();
    }
  });

  test('a density result counts the heat-map cells in each zone when it says the photo size', async () => {
    const at = Date.now() / 1000 - 2;
    const density: ResultMessage = {
      ...result(CAM, 22, at),
      detections: [],
      method: 'density',
      heatMap: { cols: 4, rows: 2, values: [1.2, 0.9, 5, 5, 0.4, 0.3, 5, 5] },
      width: 640,
      height: 480,
    };
    engage.store.recordResult(density, at + 1);
    const zone = (await engage.http.inject({ url: `/api/devices/${CAM}/zones/checkout` })).json();
    assert.equal(zone.count, 3);
    assert.equal(zone.photoAt, at);
    // Without the size (an older inference instance) the zone's count is unknown: the last known stays.
    engage.store.recordResult({ ...density, resultId: 'older-instance', width: undefined, height: undefined }, at + 2);
    const history = await engage.http.inject({ url: `/api/devices/${CAM}/counts?zone=checkout&bucket=raw` });
    assert.equal(history.json().points.length, 2, 'the detector result and the sized density result');
  });
});

/**
 * Home Assistant MQTT discovery, checked against HA's own documented schema: every config engage
 * publishes is expanded (abbreviations, `~`) and parsed by a strict zod schema of its component's
 * fields (https://www.home-assistant.io/integrations/sensor.mqtt/, …/binary_sensor.mqtt/,
 * …/mqtt/#discovery-messages); its state topic must really carry a retained state its value
 * template can read, and its availability topic a retained `online`. Also: retained device states
 * the broker kept for devices engage does not know are cleared.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { RunningBroker } from '../../src/broker/broker.js';
import { makeTopics } from '../../src/core/topics.js';
import { renderHomeAssistantReference } from '../../src/engage/home-assistant-reference.js';
import type { EngageService } from '../../src/engage/service.js';
import { startEmbeddedBroker } from '../helpers/broker.js';
import { MessageRecorder, type ReceivedMessage } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/net.js';
import { result, startEngage } from './fixtures.js';

const topics = makeTopics();
const TOKEN = 'ha-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

/** HA's abbreviations of discovery keys (the documented table), for the keys a sensor may use. */
const ABBREVIATIONS: Record<string, string> = {
  avty: 'availability',
  avty_mode: 'availability_mode',
  avty_tpl: 'availability_template',
  avty_t: 'availability_topic',
  def_ent_id: 'default_entity_id',
  dev: 'device',
  dev_cla: 'device_class',
  en: 'enabled_by_default',
  e: 'encoding',
  ent_cat: 'entity_category',
  ent_pic: 'entity_picture',
  exp_aft: 'expire_after',
  frc_upd: 'force_update',
  ic: 'icon',
  json_attr_t: 'json_attributes_topic',
  json_attr_tpl: 'json_attributes_template',
  lrst_val_tpl: 'last_reset_value_template',
  o: 'origin',
  off_dly: 'off_delay',
  pl_avail: 'payload_available',
  pl_not_avail: 'payload_not_available',
  pl_off: 'payload_off',
  pl_on: 'payload_on',
  p: 'platform',
  stat_cla: 'state_class',
  stat_t: 'state_topic',
  sug_dsp_prc: 'suggested_display_precision',
  uniq_id: 'unique_id',
  unit_of_meas: 'unit_of_measurement',
  val_tpl: 'value_template',
};
const DEVICE_ABBREVIATIONS: Record<string, string> = {
  cu: 'configuration_url',
  cns: 'connections',
  hw: 'hw_version',
  ids: 'identifiers',
  mf: 'manufacturer',
  mdl: 'model',
  mdl_id: 'model_id',
  sa: 'suggested_area',
  sn: 'serial_number',
  sw: 'sw_version',
  via_device: 'via_device',
};
const ORIGIN_ABBREVIATIONS: Record<string, string> = { sw: 'sw_version', url: 'support_url' };

const TOPIC_KEYS = ['availability_topic', 'json_attributes_topic', 'state_topic'];

/** A discovery payload as HA reads it: abbreviations expanded and `~` replaced in topics. */
function expand(payload: Record<string, unknown>): Record<string, unknown> {
  const rename = (object: Record<string, unknown>, table: Record<string, string>) =>
    Object.fromEntries(Object.entries(object).map(([key, value]) => [table[key] ?? key, value]));
  const expanded = rename(payload, ABBREVIATIONS);
  const base = typeof expanded['~'] === 'string' ? expanded['~'] : undefined;
  if (base !== undefined) {
    delete expanded['~'];
    for (const key of TOPIC_KEYS) {
      const topic = expanded[key];
      if (typeof topic === 'string') expanded[key] = topic.replace(/^~/, base).replace(/~$/, base);
    }
  }
  if (isObject(expanded.device)) expanded.device = rename(expanded.device, DEVICE_ABBREVIATIONS);
  if (isObject(expanded.origin)) expanded.origin = rename(expanded.origin, ORIGIN_ABBREVIATIONS);
  return expanded;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const topicName = z
  .string()
  .min(1)
  .refine((topic) => !/[+#]/.test(topic), 'a topic to read state from has no wildcards');
const template = z.string().min(1);
const deviceSchema = z
  .strictObject({
    identifiers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    connections: z.array(z.tuple([z.string(), z.string()])).optional(),
    name: z.string().min(1).optional(),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    model_id: z.string().optional(),
    suggested_area: z.string().optional(),
    sw_version: z.string().optional(),
    hw_version: z.string().optional(),
    serial_number: z.string().optional(),
    configuration_url: z.string().optional(),
    via_device: z.string().optional(),
  })
  .refine((device) => device.identifiers !== undefined || device.connections !== undefined, {
    message: 'a device needs identifiers or connections',
  });
/** Fields every MQTT entity shares (mqtt/#discovery-messages and each platform's "Configuration Variables"). */
const entityFields = {
  availability: z
    .array(
      z.strictObject({
        topic: topicName,
        payload_available: z.string().optional(),
        payload_not_available: z.string().optional(),
        value_template: template.optional(),
      }),
    )
    .optional(),
  availability_mode: z.enum(['all', 'any', 'latest']).optional(),
  availability_template: template.optional(),
  availability_topic: topicName.optional(),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  default_entity_id: z.string().optional(),
  device: deviceSchema.optional(),
  device_class: z.string().nullable().optional(),
  enabled_by_default: z.boolean().optional(),
  encoding: z.string().optional(),
  entity_category: z.enum(['config', 'diagnostic']).optional(),
  entity_picture: z.string().optional(),
  expire_after: z.number().int().positive().optional(),
  force_update: z.boolean().optional(),
  icon: z
    .string()
    .regex(/^[a-z]+:[a-z0-9-]+$/)
    .optional(),
  json_attributes_template: template.optional(),
  json_attributes_topic: topicName.optional(),
  name: z.string().nullable().optional(),
  origin: z
    .strictObject({ name: z.string().min(1), sw_version: z.string().optional(), support_url: z.string().optional() })
    .optional(),
  platform: z.literal('mqtt').optional(),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
  state_topic: topicName,
  // Required here, not by HA: without it HA makes no entity-registry entry and no device.
  unique_id: z.string().regex(/^[A-Za-z0-9_-]+$/),
  value_template: template.optional(),
};
const componentSchemas = {
  sensor: z.strictObject({
    ...entityFields,
    last_reset_value_template: template.optional(),
    options: z.array(z.string()).optional(),
    state_class: z.enum(['measurement', 'measurement_angle', 'total', 'total_increasing']).optional(),
    suggested_display_precision: z.number().int().nonnegative().optional(),
    unit_of_measurement: z.string().nullable().optional(),
  }),
  binary_sensor: z.strictObject({
    ...entityFields,
    off_delay: z.number().int().positive().optional(),
    payload_off: z.string().optional(),
    payload_on: z.string().optional(),
  }),
};
type Component = keyof typeof componentSchemas;

/** `{{ value_json.<key> }}`: the only template form engage uses; its key, or undefined. */
function templateKey(value: string): string | undefined {
  return /^\{\{ value_json\.([A-Za-z_][A-Za-z0-9_]*) \}\}$/.exec(value)?.[1];
}

/** The state HA shows for a payload: a number, or `None` (HA: unknown) for a JSON null. */
function render(valueTemplate: string, payload: Buffer): string {
  const key = templateKey(valueTemplate);
  assert.ok(key, `value_template ${valueTemplate} is of the form {{ value_json.<key> }}`);
  const json: unknown = JSON.parse(payload.toString('utf8'));
  assert.ok(isObject(json), 'the state is a JSON object');
  assert.ok(key in json, `the state has "${key}": ${payload.toString('utf8')}`);
  const value = json[key];
  assert.ok(value === null || typeof value === 'number', `"${key}" is a number or null`);
  return value === null ? 'None' : String(value);
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

describe('Home Assistant discovery against its schema', () => {
  test('every config engage publishes is valid for its component, and what it points at is published', async () => {
    const now = Date.now() / 1000;
    const expected = [
      'people_counter_device_cam-front',
      'people_counter_device_cam_back_2',
      'people_counter_device_cam-new',
      'people_counter_zone_cam-front__door',
      'people_counter_site_lobby',
      'people_counter_site_yard',
    ];
    const configTopic = (id: string) => `homeassistant/sensor/${id}/config`;
    const publisher = await MessageRecorder.start(broker.url, ['homeassistant/#']);
    try {
      // A device with a count and a site, one whose ID HA cannot use as is, one never counted.
      await publisher.client.publishAsync(topics.results, JSON.stringify(result('cam-front', 4, now)), { qos: 1 });
      await publisher.client.publishAsync(topics.results, JSON.stringify(result('cam.back@2', 2, now)), { qos: 1 });
      await waitFor(async () => (await engage.http.inject({ url: '/api/devices/cam.back@2' })).statusCode === 200);
      for (const [id, body] of [
        ['cam-front', { name: 'Front door', site: 'lobby', capacity: 10 }],
        ['cam.back@2', { site: 'yard' }],
        ['cam-new', { name: 'Not counted yet', site: 'lobby' }],
      ] as const) {
        const response = await engage.http.inject({
          method: 'PUT',
          url: `/api/devices/${id}`,
          payload: body,
          headers: auth,
        });
        assert.equal(response.statusCode, 200, response.body);
      }
      // A zone of the front camera, counted from its next result: 3 of its 4 people stand in it.
      const zone = await engage.http.inject({
        method: 'PUT',
        url: '/api/devices/cam-front/zones/door',
        payload: {
          name: 'Door',
          polygon: [
            [0, 0],
            [300, 0],
            [300, 400],
            [0, 400],
          ],
        },
        headers: auth,
      });
      assert.equal(zone.statusCode, 200, zone.body);
      const people = [50, 120, 200, 500].map((x) => ({ box: [x, 100, x + 40, 300], score: 0.9 }));
      await publisher.client.publishAsync(
        topics.results,
        JSON.stringify({ ...result('cam-front', 4, now + 1), detections: people }),
        { qos: 1 },
      );
      // The last change (the last device's name) reached the broker: every config is final.
      await waitFor(
        () =>
          expected.every((id) => publisher.on(configTopic(id)).length > 0) &&
          publisher
            .on(configTopic('people_counter_device_cam-new'))
            .some((message) => message.payload.includes('Not counted yet')),
        { message: 'a final config for every device and site' },
      );
    } finally {
      await publisher.stop();
    }
    // As Home Assistant starts: it subscribes to the discovery prefix, then to what the configs name.
    const ha = await MessageRecorder.start(broker.url, ['homeassistant/#']);
    try {
      await waitFor(() => expected.every((id) => ha.on(configTopic(id)).length > 0), {
        message: 'every config retained',
      });
      const configs = ha.messages.filter((message) => message.payload.length > 0);
      const uniqueIds = new Set<string>();
      const readTopics = new Set<string>();
      for (const message of latestPerTopic(configs)) {
        assert.equal(message.retain, true, `${message.topic} is retained`);
        const match = /^homeassistant\/(sensor|binary_sensor)\/([A-Za-z0-9_-]+)\/config$/.exec(message.topic);
        assert.ok(match, `${message.topic} is <prefix>/<component>/<object_id>/config`);
        const component = match[1] as Component;
        const parsed = componentSchemas[component].safeParse(expand(message.json<Record<string, unknown>>()));
        assert.ok(parsed.success, `${message.topic}: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
        const config = parsed.data;
        assert.equal(config.unique_id, match[2], 'the object ID in the topic is the unique_id');
        assert.ok(!uniqueIds.has(config.unique_id), `unique_id ${config.unique_id} is unique`);
        uniqueIds.add(config.unique_id);
        assert.equal(config.default_entity_id, `${component}.${config.unique_id}`);
        assert.ok(config.device, 'a device block, so HA groups the entity under a device');
        assert.ok(config.availability_topic, 'an availability topic');
        assert.ok(config.value_template, 'a value template');
        for (const topic of [config.state_topic, config.json_attributes_topic, config.availability_topic]) {
          if (topic) readTopics.add(topic);
        }
      }
      assert.deepEqual([...uniqueIds].sort(), [...expected].sort());

      // What the configs point at is retained: a client subscribing now, as HA does, gets it at once.
      const states = await MessageRecorder.start(broker.url, [...readTopics]);
      try {
        await waitFor(() => [...readTopics].every((topic) => states.on(topic).length > 0), {
          message: `a retained message on each of ${[...readTopics].join(', ')}`,
        });
        const shown = new Map<string, string>();
        for (const message of latestPerTopic(configs)) {
          const config = expand(message.json<Record<string, unknown>>());
          const state = states.on(String(config.state_topic)).at(-1);
          assert.ok(state?.retain, `${String(config.state_topic)} is retained`);
          shown.set(String(config.unique_id), render(String(config.value_template), state.payload));
          const attributes: unknown = JSON.parse(
            states.on(String(config.json_attributes_topic)).at(-1)!.payload.toString(),
          );
          assert.ok(isObject(attributes), 'the attributes are a JSON object');
          const availability = states.on(String(config.availability_topic)).at(-1)!;
          assert.equal(availability.payload.toString(), config.payload_available ?? 'online');
        }
        assert.deepEqual(Object.fromEntries(shown), {
          'people_counter_device_cam-front': '4',
          people_counter_device_cam_back_2: '2',
          'people_counter_device_cam-new': 'None',
          'people_counter_zone_cam-front__door': '3',
          people_counter_site_lobby: '4',
          people_counter_site_yard: '2',
        });
      } finally {
        await states.stop();
      }
    } finally {
      await ha.stop();
    }
  });
});

describe('retained device state', () => {
  test('a state the broker kept for a device engage does not know is cleared with an empty retained message', async () => {
    const other = await startEmbeddedBroker();
    const ghost = topics.deviceState('ghost-camera');
    const watcher = await MessageRecorder.start(other.url, [topics.deviceStateWildcard]);
    try {
      // Left by an earlier engage whose history is gone (or a device revoked while engage was away).
      await watcher.client.publishAsync(ghost, JSON.stringify({ id: 'ghost-camera', count: 9 }), {
        qos: 1,
        retain: true,
      });
      await watcher.waitForCount(ghost, 1);
      const fresh = await startEngage(other);
      try {
        await waitFor(() => watcher.on(ghost).some((message) => message.payload.length === 0), {
          message: 'the ghost state cleared',
        });
      } finally {
        await fresh.stop();
      }
    } finally {
      await watcher.stop();
      await other.stop();
    }
  });
});

describe('retained discovery configs', () => {
  test("ours that are no longer wanted are removed; another installation's and other integrations' stay", async () => {
    const other = await startEmbeddedBroker();
    const config = (id: string, stateTopic: string) => ({
      topic: `homeassistant/sensor/${id}/config`,
      payload: JSON.stringify({ unique_id: id, state_topic: stateTopic }),
    });
    const gone = config('people_counter_device_gone', topics.deviceState('gone'));
    const foreign = config('people_counter_device_elsewhere', 'other-site/devices/elsewhere/state');
    const zigbee = config('0x00158d0001_temperature', 'zigbee2mqtt/0x00158d0001');
    const watcher = await MessageRecorder.start(other.url, ['homeassistant/#']);
    try {
      for (const { topic, payload } of [gone, foreign, zigbee]) {
        await watcher.client.publishAsync(topic, payload, { qos: 1, retain: true });
      }
      await watcher.waitForCount(zigbee.topic, 1);
      const fresh = await startEngage(other);
      try {
        await waitFor(() => watcher.on(gone.topic).some((message) => message.payload.length === 0), {
          message: 'the config of the gone camera removed',
        });
      } finally {
        // Stopped: nothing it does can remove a config after this.
        await fresh.stop();
      }
      const later = await MessageRecorder.start(other.url, [foreign.topic, zigbee.topic, gone.topic]);
      try {
        await later.waitForCount(foreign.topic, 1);
        await later.waitForCount(zigbee.topic, 1);
        assert.equal(later.on(foreign.topic)[0]?.payload.toString(), foreign.payload);
        assert.equal(later.on(zigbee.topic)[0]?.payload.toString(), zigbee.payload);
        assert.deepEqual(later.on(gone.topic), []);
      } finally {
        await later.stop();
      }
    } finally {
      await watcher.stop();
      await other.stop();
    }
  });
});

describe('docs/home-assistant.md', () => {
  test('shows the payloads the code publishes (node scripts/ha-reference.js writes them)', async () => {
    const guide = await readFile(new URL('../../../docs/home-assistant.md', import.meta.url), 'utf8');
    assert.ok(guide.includes(renderHomeAssistantReference()), 'the guide is current: run npm run docs:ha');
  });
});

function latestPerTopic(messages: ReceivedMessage[]): ReceivedMessage[] {
  return [...new Map(messages.map((message) => [message.topic, message])).values()];
}

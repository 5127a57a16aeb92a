/**
 * Home Assistant MQTT discovery: one retained config message per device, per zone and per site so each
 * appears as a "people" sensor (a zone's under its camera's device), the convention Zigbee2MQTT and Frigate users know. Both read a
 * retained state that engage publishes from its history (device state, site occupancy), so Home
 * Assistant shows the last count after either side restarts; the state's other fields are the
 * sensor's attributes. Payload builders are pure; `HomeAssistantDiscovery` publishes only what
 * changed. docs/home-assistant.md shows the payloads (scripts/ha-reference.js writes them).
 */
import { z } from 'zod';
import type { Logger } from '../core/log.js';
import type { MqttConnection } from '../core/mqtt.js';
import type { Topics } from '../core/topics.js';
import type { Zone } from '../core/zones.js';
import type { DeviceRecord } from './occupancy.js';

export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** HA object IDs allow only [a-zA-Z0-9_-]; device IDs may also hold . : @ */
export function haObjectId(kind: 'device' | 'site' | 'zone', id: string): string {
  return `people_counter_${kind}_${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

interface DiscoveryContext {
  topics: Topics;
  discoveryPrefix: string;
  /** engage's own availability topic (retained online, last-will offline). */
  availabilityTopic: string;
}

function sensor(
  context: DiscoveryContext,
  uniqueId: string,
  name: string,
  stateTopic: string,
  device: Record<string, unknown>,
): DiscoveryMessage {
  return {
    topic: `${context.discoveryPrefix}/sensor/${uniqueId}/config`,
    payload: {
      name,
      unique_id: uniqueId,
      // Not `object_id`: deprecated by Home Assistant 2025.10, no longer supported from 2026.4.
      default_entity_id: `sensor.${uniqueId}`,
      state_topic: stateTopic,
      value_template: '{{ value_json.count }}',
      json_attributes_topic: stateTopic,
      unit_of_measurement: 'people',
      state_class: 'measurement',
      icon: 'mdi:account-group',
      availability_topic: context.availabilityTopic,
      payload_available: 'online',
      payload_not_available: 'offline',
      device,
      origin: { name: 'People Counter' },
    },
  };
}

/** The Home Assistant device of a camera: its own sensor and its zones' sensors belong to it. */
function cameraDevice(device: DeviceRecord): Record<string, unknown> {
  return {
    identifiers: [haObjectId('device', device.id)],
    name: device.name ?? `Camera ${device.id}`,
    manufacturer: 'People Counter',
    model: 'Counting camera',
    ...(device.site ? { suggested_area: device.site } : {}),
  };
}

export function deviceDiscovery(context: DiscoveryContext, device: DeviceRecord): DiscoveryMessage {
  const uniqueId = haObjectId('device', device.id);
  return sensor(context, uniqueId, 'People', context.topics.deviceState(device.id), cameraDevice(device));
}

/**
 * A zone's sensor, named after the zone, on its camera's device. The object ID joins the camera's
 * and the zone's IDs with a double underscore, which neither a zone slug nor a mapped device ID
 * followed by a zone can fake for another camera's zone.
 */
export function zoneDiscovery(
  context: DiscoveryContext,
  device: DeviceRecord,
  zone: Pick<Zone, 'id' | 'name'>,
): DiscoveryMessage {
  const uniqueId = haObjectId('zone', `${device.id}__${zone.id}`);
  return sensor(context, uniqueId, zone.name, context.topics.deviceZone(device.id, zone.id), cameraDevice(device));
}

export function siteDiscovery(context: DiscoveryContext, site: string): DiscoveryMessage {
  const uniqueId = haObjectId('site', site);
  return sensor(context, uniqueId, 'Occupancy', context.topics.siteOccupancy(site), {
    identifiers: [uniqueId],
    name: `Site ${site}`,
    manufacturer: 'People Counter',
    model: 'Site occupancy',
    suggested_area: site,
  });
}

/** What a retained config must say to be one of ours: a state topic under our prefix. */
const retainedConfigSchema = z.object({ state_topic: z.string() });

export class HomeAssistantDiscovery {
  /** Last payload published per config topic, to publish only changes. */
  private readonly published = new Map<string, string>();
  /** Whether `published` is what this connection wants (a sync ran since the last forget). */
  private synced = false;
  /** Configs of ours that the broker retained, seen before the first sync: sync decides. */
  private readonly retainedBeforeSync = new Set<string>();

  constructor(
    private readonly mqtt: MqttConnection,
    private readonly context: DiscoveryContext,
    private readonly logger: Logger,
  ) {}

  /**
   * Reads the sensor configs the broker retained (at each connect), to remove ours that are no
   * longer wanted: a camera revoked while engage was stopped, on a broker that keeps retained
   * messages. Ours = object ID `people_counter_…` and a state topic under our prefix, so that
   * another People Counter on the same broker under another prefix keeps its own.
   */
  start(): void {
    const filter = `${this.context.discoveryPrefix}/sensor/+/config`;
    this.mqtt.onMessage(filter, (topic, payload, packet) => {
      if (!packet.retain || payload.length === 0 || !this.isOurs(topic, payload)) return;
      if (!this.synced) {
        this.retainedBeforeSync.add(topic);
        return;
      }
      if (this.published.has(topic)) return;
      this.remove(topic).catch((error: unknown) =>
        this.logger.warn({ err: error, topic }, 'could not remove a retained Home Assistant config'),
      );
    });
    const subscribe = () =>
      void this.mqtt
        .subscribe([filter], 0)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'could not read retained Home Assistant configs'));
    this.mqtt.onConnect(subscribe);
    if (this.mqtt.connected) subscribe();
  }

  private isOurs(topic: string, payload: Buffer): boolean {
    if (!topic.startsWith(`${this.context.discoveryPrefix}/sensor/people_counter_`)) return false;
    try {
      const parsed = retainedConfigSchema.safeParse(JSON.parse(payload.toString('utf8')));
      return parsed.success && parsed.data.state_topic.startsWith(`${this.context.topics.prefix}/`);
    } catch {
      return false;
    }
  }

  private remove(topic: string): Promise<void> {
    return this.mqtt.publish(topic, '', { retain: true });
  }

  /**
   * Publishes configs for these devices, their zones and sites; removes (empty retained) those that
   * went away (a deleted zone's sensor with them).
   */
  async sync(
    devices: DeviceRecord[],
    sites: string[],
    zones: ReadonlyArray<Pick<Zone, 'id' | 'name'> & { deviceId: string }> = [],
  ): Promise<void> {
    const wanted = new Map<string, string>();
    const byId = new Map(devices.map((device) => [device.id, device]));
    for (const message of [
      ...devices.map((device) => deviceDiscovery(this.context, device)),
      ...zones.flatMap((zone) => {
        const device = byId.get(zone.deviceId);
        return device ? [zoneDiscovery(this.context, device, zone)] : [];
      }),
      ...sites.map((site) => siteDiscovery(this.context, site)),
    ]) {
      wanted.set(message.topic, JSON.stringify(message.payload));
    }
    for (const [topic, payload] of wanted) {
      if (this.published.get(topic) === payload) continue;
      await this.mqtt.publish(topic, payload, { retain: true });
      this.published.set(topic, payload);
    }
    for (const topic of [...this.published.keys()]) {
      if (wanted.has(topic)) continue;
      await this.remove(topic);
      this.published.delete(topic);
    }
    this.synced = true;
    for (const topic of this.retainedBeforeSync) {
      this.retainedBeforeSync.delete(topic);
      if (!wanted.has(topic)) await this.remove(topic);
    }
  }

  /** After a reconnect the broker may have lost retained messages: publish everything again. */
  forget(): void {
    this.published.clear();
    this.synced = false;
  }
}

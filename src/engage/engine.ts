/**
 * The live picture: device and site states from the store plus availability, recomputed after
 * every change and on a clock tick (counts go stale without any message). Whatever changed is
 * pushed to dashboards, published as retained device state, site occupancy and Home Assistant
 * discovery, and run through the alert rules.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/log.js';
import { type AlertMessage, MESSAGE_VERSION } from '../core/messages.js';
import type { Topics } from '../core/topics.js';
import { type AlertRule, type AlertSubject, evaluateRules, type RuleState } from './alerts.js';
import type { LiveEvents, RuleView } from './events.js';
import type { HomeAssistantDiscovery } from './home-assistant.js';
import type { EngageMetrics } from './metrics.js';
import {
  type Availability,
  type DeviceRecord,
  type DeviceView,
  deviceView,
  type SiteOccupancy,
  siteNames,
  siteOccupancy,
} from './occupancy.js';
import type { EngageStore, ZoneState } from './store.js';
import type { WebhookSender } from './webhook.js';

export interface ServiceStatus {
  service: string;
  instanceId: string;
  state: Availability;
}

/** A rule with its current state, as the dashboard shows it. */
/** Declared with the live events; the dashboard's JSDoc imports it from here. */

export interface EngineDeps {
  store: EngageStore;
  events: LiveEvents;
  metrics: EngageMetrics;
  logger: Logger;
  topics: Topics;
  staleAfterMs: number;
  nowSeconds: () => number;
  /** Publishes on MQTT; undefined while there is no connection to publish on. */
  publish?: (topic: string, payload: string, retain: boolean) => Promise<void>;
  homeAssistant?: HomeAssistantDiscovery;
  webhook?: WebhookSender;
  /**
   * Whether a device's state is published on MQTT (retained state, Home Assistant); default every
   * device. A device that stops qualifying (a revoked camera) gets its retained state cleared.
   */
  publishesDevice?: (deviceId: string) => boolean;
}

export class EngageEngine {
  private readonly deviceAvailability = new Map<string, Availability>();
  private readonly services = new Map<string, ServiceStatus>();
  /** Last state sent per device / site, to push only changes. */
  private readonly sentDevices = new Map<string, string>();
  private readonly sentSites = new Map<string, string>();
  /** Last retained state published per device (cleared to publish everything again). */
  private readonly publishedDevices = new Map<string, string>();
  /** Last retained zone state published per zone topic (cleared to publish everything again). */
  private readonly publishedZones = new Map<string, string>();
  /** Last zones sent to dashboards per device. */
  private readonly sentZones = new Map<string, string>();
  private sentRules = '';
  /** Since when each rule's count has asked for a change (hold time running). In memory: a restart restarts the wait. */
  private readonly pendingSince = new Map<string, number>();
  private refreshing: Promise<void> = Promise.resolve();
  private queued = false;

  constructor(private readonly deps: EngineDeps) {}

  devices(): DeviceView[] {
    return this.viewsOf(this.deps.store.listDevices());
  }

  device(id: string): DeviceView | undefined {
    const record = this.deps.store.getDevice(id);
    return record ? this.viewsOf([record])[0] : undefined;
  }

  sites(devices = this.devices()): SiteOccupancy[] {
    return siteNames(devices).map((site) => siteOccupancy(site, devices));
  }

  /** One site's occupancy, from its own devices only; undefined when no device belongs to it. */
  site(name: string): SiteOccupancy | undefined {
    const members = this.viewsOf(this.deps.store.listDevicesOfSite(name));
    return members.length > 0 ? siteOccupancy(name, members) : undefined;
  }

  private viewsOf(records: DeviceRecord[]): DeviceView[] {
    const now = this.deps.nowSeconds();
    const staleAfter = this.deps.staleAfterMs / 1000;
    return records.map((record) =>
      deviceView(record, this.deviceAvailability.get(record.id) ?? 'unknown', now, staleAfter),
    );
  }

  /** Every alert rule with whether it is raised and whether its hold time is running. */
  rules(): RuleView[] {
    return this.deps.store.listRules().map((rule) => ({ ...rule, ...this.ruleState(rule) }));
  }

  private ruleState(rule: AlertRule): RuleState {
    return {
      active: this.deps.store.isAlertActive(rule.id, rule.target),
      pendingSince: this.pendingSince.get(ruleKey(rule)) ?? null,
    };
  }

  serviceStatuses(): ServiceStatus[] {
    return [...this.services.values()].sort((a, b) =>
      (a.service + a.instanceId).localeCompare(b.service + b.instanceId),
    );
  }

  setDeviceAvailability(deviceId: string, state: Availability): void {
    this.deviceAvailability.set(deviceId, state);
    this.refresh();
  }

  setServiceAvailability(service: string, instanceId: string, state: Availability): void {
    this.services.set(`${service}/${instanceId}`, { service, instanceId, state });
  }

  /**
   * Recomputes and pushes what changed. Runs serialised, and a burst of results waiting behind a
   * running refresh is coalesced into one more; callers need not wait.
   */
  refresh(): Promise<void> {
    if (this.queued) return this.refreshing;
    this.queued = true;
    this.refreshing = this.refreshing
      .then(() => {
        this.queued = false;
        return this.refreshNow();
      })
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error }, 'refreshing the live state failed');
      });
    return this.refreshing;
  }

  /** Resolves when the refreshes asked for so far are done. */
  settled(): Promise<void> {
    return this.refreshing;
  }

  /**
   * After an MQTT (re)connect: publish retained device state, occupancy and discovery again (the
   * broker may keep retained messages in memory only, as the embedded one does).
   */
  republish(): Promise<void> {
    this.sentSites.clear();
    this.publishedDevices.clear();
    this.publishedZones.clear();
    this.deps.homeAssistant?.forget();
    return this.refresh();
  }

  /** A camera's zones with their latest counts. */
  zones(deviceId: string): ZoneState[] {
    return this.deps.store.listZones(deviceId);
  }

  private async refreshNow(): Promise<void> {
    const devices = this.devices();
    const sites = this.sites(devices);
    const zones = this.deps.store.allZones();
    const zonesByDevice = new Map<string, ZoneState[]>();
    for (const zone of zones) zonesByDevice.set(zone.deviceId, [...(zonesByDevice.get(zone.deviceId) ?? []), zone]);
    for (const id of new Set([...this.sentZones.keys(), ...zonesByDevice.keys()])) {
      const deviceZones = zonesByDevice.get(id) ?? [];
      const key = JSON.stringify(deviceZones);
      if (this.sentZones.get(id) === key) continue;
      if (deviceZones.length === 0) this.sentZones.delete(id);
      else this.sentZones.set(id, key);
      this.deps.events.emit({ type: 'zones', data: { deviceId: id, zones: deviceZones } });
    }
    const siteChanges: SiteOccupancy[] = [];
    for (const device of devices) {
      const key = JSON.stringify(device);
      if (this.sentDevices.get(device.id) === key) continue;
      this.sentDevices.set(device.id, key);
      this.deps.events.emit({ type: 'device', data: device });
    }
    for (const site of sites) {
      const key = JSON.stringify(site);
      if (this.sentSites.get(site.site) === key) continue;
      this.sentSites.set(site.site, key);
      siteChanges.push(site);
      this.deps.events.emit({ type: 'site', data: site });
    }
    const removedSites = [...this.sentSites.keys()].filter((name) => !sites.some((site) => site.site === name));
    for (const site of removedSites) {
      this.sentSites.delete(site);
      this.deps.events.emit({ type: 'site-removed', data: { site } });
    }
    this.applyAlertRules(devices, sites);
    const rules = this.rules();
    const rulesKey = JSON.stringify(rules);
    if (rulesKey !== this.sentRules) {
      this.sentRules = rulesKey;
      this.deps.events.emit({ type: 'rules', data: rules });
    }
    await this.publishMqtt(devices, sites, siteChanges, removedSites, zones);
  }

  /** Whether the device's state belongs on MQTT: it is known here and still qualifies. */
  private publishes(deviceId: string): boolean {
    return this.deps.store.getDevice(deviceId) !== undefined && (this.deps.publishesDevice?.(deviceId) ?? true);
  }

  /**
   * A retained state the broker kept for a device this engage does not publish (deleted or revoked
   * while engage was away): clear it, so that nobody reads a count of a camera that is gone.
   */
  async clearOrphanedState(deviceId: string): Promise<void> {
    if (this.publishes(deviceId) || this.publishedDevices.has(deviceId)) return;
    await this.deps.publish?.(this.deps.topics.deviceState(deviceId), '', true);
  }

  /** The same for a retained zone state: cleared unless it is a zone this engage publishes. */
  async clearOrphanedZone(deviceId: string, zoneId: string): Promise<void> {
    const topic = this.deps.topics.deviceZone(deviceId, zoneId);
    if (this.publishedZones.has(topic)) return;
    if (this.publishes(deviceId) && this.deps.store.getZone(deviceId, zoneId)?.latest) return;
    await this.deps.publish?.(topic, '', true);
  }

  private applyAlertRules(devices: DeviceView[], sites: SiteOccupancy[]): void {
    const subjects: AlertSubject[] = [
      ...devices.map((device) => ({
        scope: 'device' as const,
        target: device.id,
        count: device.state === 'live' ? device.count : null,
        capacity: device.capacity,
      })),
      ...sites.map((site) => ({
        scope: 'site' as const,
        target: site.site,
        count: site.liveDevices.length > 0 ? site.count : null,
        capacity: site.capacity,
      })),
    ];
    const { store } = this.deps;
    const now = this.deps.nowSeconds();
    const rules = store.listRules();
    const known = new Set(rules.map(ruleKey));
    for (const key of this.pendingSince.keys()) if (!known.has(key)) this.pendingSince.delete(key);
    for (const decision of evaluateRules(rules, subjects, (rule) => this.ruleState(rule), now)) {
      const key = ruleKey(decision.rule);
      if (decision.state.pendingSince === null) this.pendingSince.delete(key);
      else this.pendingSince.set(key, decision.state.pendingSince);
      if (!decision.transition) continue;
      const alert: AlertMessage = {
        type: 'alert',
        version: MESSAGE_VERSION,
        alertId: randomUUID(),
        state: decision.transition,
        ruleId: decision.rule.id,
        scope: decision.rule.scope,
        target: decision.rule.target,
        count: decision.subject.count,
        capacity: decision.subject.capacity,
        raiseAt: decision.thresholds.raiseAt,
        clearBelow: decision.thresholds.clearAt,
        ...(decision.rule.direction === 'below' ? { direction: 'below' as const } : {}),
        at: now,
      };
      store.recordAlert(alert);
      if (alert.state === 'raised') this.deps.metrics.alertsRaised.inc();
      this.deps.logger.info({ alert }, `alert ${alert.state}: ${alert.scope} ${alert.target} at ${alert.count}`);
      this.deps.events.emit({ type: 'alert', data: alert });
      this.deps.webhook?.send(alert);
      this.deps
        .publish?.(this.deps.topics.alerts, JSON.stringify(alert), false)
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not publish alert'));
    }
  }

  private async publishMqtt(
    devices: DeviceView[],
    sites: SiteOccupancy[],
    siteChanges: SiteOccupancy[],
    removedSites: string[],
    zones: ZoneState[],
  ): Promise<void> {
    const { publish, topics, logger, homeAssistant } = this.deps;
    if (!publish) return;
    const published = devices.filter((device) => this.deps.publishesDevice?.(device.id) ?? true);
    const publishedById = new Map(published.map((device) => [device.id, device]));
    const publishedZones = zones.filter((zone) => publishedById.has(zone.deviceId));
    const zoneStates = new Map<string, string>();
    for (const zone of publishedZones) {
      if (!zone.latest) continue;
      zoneStates.set(
        topics.deviceZone(zone.deviceId, zone.id),
        JSON.stringify(zoneStatePayload(zone, zone.latest, publishedById.get(zone.deviceId)?.state ?? 'no-data')),
      );
    }
    const deviceChanges = published.filter((device) => this.publishedDevices.get(device.id) !== JSON.stringify(device));
    const goneDevices = [...this.publishedDevices.keys()].filter((id) => !published.some((device) => device.id === id));
    try {
      for (const device of deviceChanges) {
        const state = JSON.stringify(device);
        await publish(topics.deviceState(device.id), state, true);
        this.publishedDevices.set(device.id, state);
      }
      for (const id of goneDevices) {
        await publish(topics.deviceState(id), '', true);
        this.publishedDevices.delete(id);
      }
      for (const site of siteChanges) {
        await publish(topics.siteOccupancy(site.site), JSON.stringify(site), true);
      }
      for (const site of removedSites) await publish(topics.siteOccupancy(site), '', true);
      for (const [topic, state] of zoneStates) {
        if (this.publishedZones.get(topic) === state) continue;
        await publish(topic, state, true);
        this.publishedZones.set(topic, state);
      }
      for (const topic of [...this.publishedZones.keys()]) {
        if (zoneStates.has(topic)) continue;
        await publish(topic, '', true);
        this.publishedZones.delete(topic);
      }
      await homeAssistant?.sync(
        published,
        sites.map((site) => site.site),
        publishedZones,
      );
    } catch (error) {
      // Publish again on the next reconnect (republish) rather than lose the retained state.
      for (const site of siteChanges) this.sentSites.delete(site.site);
      logger.warn({ err: error }, 'could not publish occupancy or discovery; will retry');
    }
  }
}

/** The retained state of one zone: its latest count, and whether its camera's count is live. */
export function zoneStatePayload(
  zone: Pick<ZoneState, 'deviceId' | 'id' | 'name'>,
  latest: NonNullable<ZoneState['latest']>,
  state: DeviceView['state'],
) {
  return {
    device: zone.deviceId,
    zone: zone.id,
    name: zone.name,
    count: latest.count,
    photoAt: latest.photoAt,
    /** The camera's state: a zone's count is as live as its camera's. */
    state,
  };
}

const ruleKey = (rule: AlertRule) => `${rule.id}\u0000${rule.target}`;

/**
 * The MQTT topic layout, in one place. Every topic hangs off a configurable prefix except the
 * metadata topic, which is configurable as a whole so that `image/latest` (the original daemon's
 * topic) works as a value. See docs/messages.md.
 */
export const DEFAULT_PREFIX = 'people-counter';
/** Where Home Assistant looks for MQTT discovery configs (its own default), outside the prefix. */
export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';

export type ServiceName = 'broker' | 'ingest' | 'inference' | 'analytics' | 'engage' | 'simulate';

export interface Topics {
  prefix: string;
  /** Photo metadata (seed format); also carries legacy results when enabled. */
  metadata: string;
  /** Our result message, one per counted photo. */
  results: string;
  /** One message per photo that a newer photo of its device replaced in a batch. */
  superseded: string;
  /** Failed outcomes and unusable input. */
  deadLetter: string;
  /** The inference instances' ordered coordination stream (docs/coordination.md). */
  coordination: string;
  /** Occupancy alerts from engage. */
  alerts: string;
  /** Retained occupancy of one site, published by engage. */
  siteOccupancy(site: string): string;
  /** Retained `online`/`offline` a device may publish about itself. */
  deviceAvailabilityWildcard: string;
  /** Retained latest result of one device, published by inference (signed result message). */
  deviceCount(deviceId: string): string;
  /**
   * Retained live state of one device (its count, staleness, availability: the JSON of
   * `GET /api/devices/{id}`), published by engage from its history, so it survives a broker that
   * keeps nothing; empty once the device is gone. Home Assistant's device sensors read it.
   */
  deviceState(deviceId: string): string;
  deviceStateWildcard: string;
  /**
   * Retained latest count of one zone of a device (`{device, zone, name, count, photoAt, state}`),
   * published by engage; empty once the zone or its device is gone. Home Assistant's zone sensors read it.
   */
  deviceZone(deviceId: string, zoneId: string): string;
  deviceZoneWildcard: string;
  /** Raw JPEG bytes published by a device. */
  deviceImage(deviceId: string): string;
  /** Wildcard subscription for deviceImage. */
  deviceImageWildcard: string;
  /** Retained camera profile of one device, published by engage (empty = none). */
  deviceProfile(deviceId: string): string;
  deviceProfileWildcard: string;
  /** Retained "keep this device's next photos for tuning" request, published by engage (empty = stop). */
  deviceCollect(deviceId: string): string;
  deviceCollectWildcard: string;
  /** Retained `online`/`offline` of one service instance. */
  availability(service: ServiceName, instanceId: string): string;
  availabilityWildcard: string;
}

export function defaultMetadataTopic(prefix = DEFAULT_PREFIX): string {
  return `${prefix}/images`;
}

export function makeTopics(prefix = DEFAULT_PREFIX, metadataTopic = defaultMetadataTopic(prefix)): Topics {
  return {
    prefix,
    metadata: metadataTopic,
    results: `${prefix}/results`,
    superseded: `${prefix}/superseded`,
    deadLetter: `${prefix}/dead-letter`,
    coordination: `${prefix}/inference/coordination`,
    alerts: `${prefix}/alerts`,
    siteOccupancy: (site) => `${prefix}/sites/${site}/occupancy`,
    deviceAvailabilityWildcard: `${prefix}/devices/+/availability`,
    deviceCount: (deviceId) => `${prefix}/devices/${deviceId}/count`,
    deviceState: (deviceId) => `${prefix}/devices/${deviceId}/state`,
    deviceStateWildcard: `${prefix}/devices/+/state`,
    deviceZone: (deviceId, zoneId) => `${prefix}/devices/${deviceId}/zones/${zoneId}`,
    deviceZoneWildcard: `${prefix}/devices/+/zones/+`,
    deviceImage: (deviceId) => `${prefix}/devices/${deviceId}/image`,
    deviceImageWildcard: `${prefix}/devices/+/image`,
    deviceProfile: (deviceId) => `${prefix}/devices/${deviceId}/profile`,
    deviceProfileWildcard: `${prefix}/devices/+/profile`,
    deviceCollect: (deviceId) => `${prefix}/devices/${deviceId}/collect`,
    deviceCollectWildcard: `${prefix}/devices/+/collect`,
    availability: (service, instanceId) => `${prefix}/${service}/${instanceId}/availability`,
    availabilityWildcard: `${prefix}/+/+/availability`,
  };
}

/** Matches an MQTT topic against a filter with `+` and `#` wildcards. */
export function topicMatches(filter: string, topic: string): boolean {
  return topicFilter(filter)(topic);
}

/**
 * The matcher of one filter, prepared once: a connection tests every message it receives against
 * each handler's filter, so `#` and filters without wildcards need no splitting per message.
 */
export function topicFilter(filter: string): (topic: string) => boolean {
  if (filter === '#') return () => true;
  if (!filter.includes('+') && !filter.includes('#')) return (topic) => topic === filter;
  const filterLevels = filter.split('/');
  return (topic) => {
    const topicLevels = topic.split('/');
    for (let i = 0; i < filterLevels.length; i++) {
      const level = filterLevels[i];
      if (level === '#') return true;
      if (i >= topicLevels.length) return false;
      if (level !== '+' && level !== topicLevels[i]) return false;
    }
    return filterLevels.length === topicLevels.length;
  };
}

/** The level a `+` stands for, e.g. the device ID in `<prefix>/devices/+/image`. */
export function wildcardLevel(filter: string, topic: string): string | undefined {
  const index = filter.split('/').indexOf('+');
  return index < 0 ? undefined : topic.split('/')[index];
}

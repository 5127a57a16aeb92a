/**
 * What the dashboard and the API say about a device or a site right now: its latest count, whether
 * that count is still current (stale: the last counted photo is too old — a count stuck after a
 * restart must not pass for live), and a site's occupancy as the sum of its live devices. Pure.
 */
import { z } from 'zod';

export const siteNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'site: letters, digits, . _ - (at most 64, starting alphanumeric; it is an MQTT topic level)',
  );

export type Availability = 'online' | 'offline' | 'unknown';
/** live: current count; stale: last photo too old; offline: the device said so; no-data: never counted. */
export type DeviceState = 'live' | 'stale' | 'offline' | 'no-data';

export interface DeviceRecord {
  id: string;
  name: string | null;
  site: string | null;
  capacity: number | null;
  count: number | null;
  /** creationTimestamp of the latest counted photo, unix seconds. */
  lastPhotoAt: number | null;
}

export interface DeviceView extends DeviceRecord {
  availability: Availability;
  online: boolean | null;
  stale: boolean;
  state: DeviceState;
}

export function deviceView(
  record: DeviceRecord,
  availability: Availability,
  nowSeconds: number,
  staleAfterSeconds: number,
): DeviceView {
  const stale = record.lastPhotoAt === null || nowSeconds - record.lastPhotoAt > staleAfterSeconds;
  const state: DeviceState =
    availability === 'offline' ? 'offline' : record.count === null ? 'no-data' : stale ? 'stale' : 'live';
  return {
    ...record,
    availability,
    online: availability === 'unknown' ? null : availability === 'online',
    stale,
    state,
  };
}

export interface SiteOccupancy {
  site: string;
  /** Sum of the latest counts of the site's live devices. */
  count: number;
  /** Sum of the devices' capacities, or null when none has one. */
  capacity: number | null;
  devices: number;
  liveDevices: string[];
  /** Devices whose count is left out because it is stale, offline or missing. */
  staleDevices: string[];
  lastPhotoAt: number | null;
}

export function siteOccupancy(site: string, devices: DeviceView[]): SiteOccupancy {
  const members = devices.filter((device) => device.site === site);
  const live = members.filter((device) => device.state === 'live');
  const capacities = members.map((device) => device.capacity).filter((c): c is number => c !== null);
  const photoTimes = members.map((device) => device.lastPhotoAt).filter((t): t is number => t !== null);
  return {
    site,
    count: live.reduce((sum, device) => sum + (device.count ?? 0), 0),
    capacity: capacities.length > 0 ? capacities.reduce((a, b) => a + b, 0) : null,
    devices: members.length,
    liveDevices: live.map((device) => device.id),
    staleDevices: members.filter((device) => device.state !== 'live').map((device) => device.id),
    lastPhotoAt: photoTimes.length > 0 ? Math.max(...photoTimes) : null,
  };
}

export function siteNames(devices: DeviceRecord[]): string[] {
  return [...new Set(devices.map((device) => device.site).filter((s): s is string => s !== null))].sort();
}

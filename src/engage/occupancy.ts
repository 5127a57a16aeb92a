/**
 * What the dashboard and the API say about a device or a site right now: its latest count, whether
 * that count is still current (judged by the camera's own photo interval — a count stuck after a
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
/**
 * live: its last photo came within 2 usual intervals; stale: within 10; offline: later than that, or
 * the device said so; no-data: never counted. See `photoLiveness`.
 */
export type DeviceState = 'live' | 'stale' | 'offline' | 'no-data';

export interface DeviceRecord {
  id: string;
  name: string | null;
  site: string | null;
  capacity: number | null;
  count: number | null;
  /** creationTimestamp of the latest counted photo, unix seconds. */
  lastPhotoAt: number | null;
  /** The usual time between its counted photos (`usualPhotoInterval`); null before its second photo. */
  photoIntervalSeconds: number | null;
}

export interface DeviceView extends DeviceRecord {
  availability: Availability;
  online: boolean | null;
  stale: boolean;
  state: DeviceState;
}

/** How many recent counted photos a camera's usual interval is taken from. */
export const INTERVAL_PHOTOS = 9;
/** A count is live for this many usual intervals after its photo, then stale … */
export const LIVE_INTERVALS = 2;
/** … and the camera offline after this many. */
export const OFFLINE_INTERVALS = 10;
/**
 * The shortest interval a camera is judged by: a photo every second must not flicker stale while
 * inference takes a few seconds to count it.
 */
export const SHORTEST_JUDGED_INTERVAL_SECONDS = 15;

/**
 * A camera's usual time between photos: the median gap between its last photos (any order), so that
 * one pause or one burst does not move it. Null with fewer than two photos.
 */
export function usualPhotoInterval(photoTimes: readonly number[]): number | null {
  const sorted = [...photoTimes].sort((a, b) => a - b);
  const gaps = sorted
    .slice(1)
    .map((time, i) => time - (sorted[i] as number))
    .sort((a, b) => a - b);
  if (gaps.length === 0) return null;
  const lower = gaps[Math.ceil(gaps.length / 2) - 1] as number;
  const upper = gaps[Math.floor(gaps.length / 2)] as number;
  return (lower + upper) / 2;
}

/**
 * Whether a camera's last photo is recent enough for its count to be live, by the camera's own
 * interval: live up to LIVE_INTERVALS intervals after the photo, stale up to OFFLINE_INTERVALS,
 * offline beyond. The interval judged is the measured one, at least SHORTEST_JUDGED_INTERVAL_SECONDS
 * and at most half of `staleAfterSeconds` (--stale-after: no count is live longer than that); a
 * camera without a measured interval (one photo) is judged by that half.
 */
export function photoLiveness(
  lastPhotoAt: number | null,
  photoIntervalSeconds: number | null,
  nowSeconds: number,
  staleAfterSeconds: number,
): 'live' | 'stale' | 'offline' | 'never' {
  if (lastPhotoAt === null) return 'never';
  const longest = staleAfterSeconds / LIVE_INTERVALS;
  const interval = Math.min(Math.max(photoIntervalSeconds ?? longest, SHORTEST_JUDGED_INTERVAL_SECONDS), longest);
  const age = nowSeconds - lastPhotoAt;
  return age <= LIVE_INTERVALS * interval ? 'live' : age <= OFFLINE_INTERVALS * interval ? 'stale' : 'offline';
}

export function deviceView(
  record: DeviceRecord,
  availability: Availability,
  nowSeconds: number,
  staleAfterSeconds: number,
): DeviceView {
  const liveness = photoLiveness(record.lastPhotoAt, record.photoIntervalSeconds, nowSeconds, staleAfterSeconds);
  const state: DeviceState =
    availability === 'offline' || liveness === 'offline'
      ? 'offline'
      : record.count === null
        ? 'no-data'
        : liveness === 'live'
          ? 'live'
          : 'stale';
  return {
    ...record,
    availability,
    online: availability === 'unknown' ? null : availability === 'online',
    stale: liveness !== 'live',
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

/** The ingestion service's settings and their defaults (the CLI and `up` take these defaults from here). */
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_INGEST_PORT } from '../core/config.js';
import type { ConnectionLimits } from '../core/connection-limits.js';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from '../core/image.js';

export interface IngestConfig {
  host: string;
  port: number;
  limits: ImageLimits;
  allowAnyDeviceId: boolean;
  /** How far in the future a creationTimestamp may lie. */
  maxClockSkewMs: number;
  /** Bearer token devices must send to the REST API; undefined = no authentication. */
  token: string | undefined;
  /** Accept raw JPEGs published on `<prefix>/devices/{deviceID}/image`. */
  mqttImages: boolean;
  /** Bytes of MQTT photos that may wait for decoding before new ones are dead-lettered as overloaded. */
  mqttMaxQueuedBytes: number;
  watch: { dir: string; deviceId: string | undefined; moveTo: string | undefined } | undefined;
  camera: { command: string; deviceId: string; intervalMs: number; timeoutMs: number } | undefined;
  /** Caps on the REST API's connections; default DEFAULT_CONNECTION_LIMITS. */
  connectionLimits?: ConnectionLimits;
  /** Where REST photos' metadata waits while the broker is away; undefined = answer 503 instead. */
  outbox?: OutboxConfig;
}

export interface OutboxConfig {
  dir: string;
  /** Devices whose photos may wait at most (one photo each: a newer one replaces the older). */
  maxDevices: number;
}

export const INGEST_DEFAULTS = {
  host: DEFAULT_HOST,
  port: DEFAULT_INGEST_PORT,
  limits: DEFAULT_IMAGE_LIMITS,
  /** How far in the future a creationTimestamp may lie (device clocks drift); later ones are refused. */
  maxClockSkewMs: 300_000,
  mqttImages: true,
  mqttMaxQueuedBytes: 200_000_000,
  cameraIntervalMs: 10_000,
  cameraTimeoutMs: 30_000,
  /** Inside `up`'s data directory: `<data-dir>/ingest-outbox`. */
  outboxDirName: 'ingest-outbox',
  /**
   * A site of a few thousand cameras rides out an outage; the photos held cost storage (10 000 ×
   * a 500 kB photo = 5 GB) and the log about 200 bytes each.
   */
  outboxMaxDevices: 10_000,
} as const;

/** `<dir>` and the cap as an outbox config; a cap of 0 turns the outbox off. Pure. */
export function outboxConfig(dir: string, maxDevices: number): OutboxConfig | undefined {
  return maxDevices > 0 ? { dir, maxDevices } : undefined;
}

export const DEFAULT_OUTBOX_DIR = `${DEFAULT_DATA_DIR}/${INGEST_DEFAULTS.outboxDirName}`;

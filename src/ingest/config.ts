/** The ingestion service's settings and their defaults (the CLI and `up` take these defaults from here). */
import { DEFAULT_HOST } from '../core/config.js';
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
}

export const INGEST_DEFAULTS = {
  host: DEFAULT_HOST,
  port: 8081,
  limits: DEFAULT_IMAGE_LIMITS,
  /** How far in the future a creationTimestamp may lie (device clocks drift); later ones are refused. */
  maxClockSkewMs: 300_000,
  mqttImages: true,
  mqttMaxQueuedBytes: 200_000_000,
  cameraIntervalMs: 10_000,
  cameraTimeoutMs: 30_000,
} as const;

/** The REST API of an ingest service started with the defaults (engage uploads there; the simulator sends there). */
export const DEFAULT_INGEST_URL = `http://${INGEST_DEFAULTS.host}:${INGEST_DEFAULTS.port}`;

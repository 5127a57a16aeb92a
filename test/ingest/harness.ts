/** Starts the ingestion service against real parts (broker, store) for the ingest tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttConfig } from '../../src/core/config.js';
import type { DeviceAccess } from '../../src/core/device-registry.js';
import { DEFAULT_IMAGE_LIMITS } from '../../src/core/image.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetricsRegistry } from '../../src/core/metrics.js';
import { MqttConnection } from '../../src/core/mqtt.js';
import { LocalObjectStore, type ObjectStore } from '../../src/core/storage/index.js';
import { INGEST_DEFAULTS, type IngestConfig } from '../../src/ingest/config.js';
import { type RunningIngestService, startIngestService } from '../../src/ingest/service.js';

export interface Harness {
  service: RunningIngestService;
  mqtt: MqttConnection;
  store: ObjectStore;
  stop(): Promise<void>;
}

export function ingestConfig(overrides: Partial<IngestConfig> = {}): IngestConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    limits: DEFAULT_IMAGE_LIMITS,
    allowAnyDeviceId: false,
    maxClockSkewMs: INGEST_DEFAULTS.maxClockSkewMs,
    token: undefined,
    mqttImages: false,
    mqttMaxQueuedBytes: INGEST_DEFAULTS.mqttMaxQueuedBytes,
    watch: undefined,
    camera: undefined,
    ...overrides,
  };
}

/** A temporary local store, removed by the returned cleanup. */
export async function temporaryStore(): Promise<{ store: LocalObjectStore; dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-ingest-store-'));
  return { store: new LocalObjectStore(dir), dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function startHarness(
  mqttConfig: MqttConfig,
  store: ObjectStore,
  overrides: Partial<IngestConfig> = {},
  devices?: DeviceAccess,
): Promise<Harness> {
  const logger = silentLogger();
  const mqtt = await MqttConnection.connect({
    config: mqttConfig,
    service: 'ingest',
    instanceId: 'test',
    logger,
    reconnectMinMs: 100,
    reconnectMaxMs: 500,
  });
  const service = await startIngestService(ingestConfig(overrides), {
    store,
    mqtt,
    logger,
    metrics: createMetricsRegistry('ingest', 'test'),
    instanceId: 'test',
    ...(devices ? { devices } : {}),
  });
  return {
    service,
    mqtt,
    store,
    stop: async () => {
      await service.stop();
      await mqtt.close();
    },
  };
}

export function postPhoto(
  baseUrl: string,
  deviceIdPath: string,
  body: Buffer | undefined,
  headers: Record<string, string> = { 'content-type': 'image/jpeg' },
  query = '',
): Promise<Response> {
  return fetch(`${baseUrl}/v1/devices/${deviceIdPath}/images${query}`, {
    method: 'POST',
    headers,
    ...(body !== undefined ? { body: new Uint8Array(body) } : {}),
  });
}

/**
 * The ingestion service: one PhotoIngestor behind every enabled source (REST always; MQTT image
 * topic, a watched folder and a camera command optionally). Starts even while the broker is down:
 * REST photos then wait in the outbox (202), or get 503 without one, until it is back.
 */
import { ConfigError } from '../core/config.js';
import { crossSiteGuard } from '../core/cross-site.js';
import type { DeviceAccess } from '../core/device-registry.js';
import { createHttpServer, type HttpServer, listen } from '../core/http.js';
import { guardedScope } from '../core/http-auth.js';
import { IMAGE_BUCKET } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import type { Registry } from '../core/metrics.js';
import type { MqttConnection } from '../core/mqtt.js';
import type { ObjectStore } from '../core/storage/index.js';
import { startCameraSource } from './camera-source.js';
import type { IngestConfig, OutboxConfig } from './config.js';
import { ingestAuth, RETRY_AFTER_SECONDS, registerIngestRoutes } from './http-api.js';
import { startMqttImageSource } from './mqtt-source.js';
import { Outbox } from './outbox.js';
import { PhotoIngestor } from './photo-ingestor.js';
import { startWatchSource } from './watch-source.js';

export interface IngestDeps {
  store: ObjectStore;
  /** Started (not necessarily connected) connection; the service does not close it. */
  mqtt: MqttConnection;
  logger: Logger;
  metrics: Registry;
  instanceId: string;
  /** Registered devices and their secrets (REST); photos over MQTT are checked by the broker. */
  devices?: DeviceAccess;
}

export interface RunningIngestService {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8081. */
  url: string;
  ingestor: PhotoIngestor;
  app: HttpServer;
  stop(): Promise<void>;
}

/**
 * Whether a photo could be stored now: writes and deletes a small probe object (a key that is not
 * a photo's, so inference's sweeper ignores it). Reachable is not enough: a read-only or full disk
 * answers every read.
 */
export async function storageWritable(store: ObjectStore, instanceId: string): Promise<boolean> {
  const key = `healthz-${instanceId}.probe`;
  try {
    await store.ensureBucket(IMAGE_BUCKET);
    await store.put(IMAGE_BUCKET, key, Buffer.from('ok'));
    await store.delete(IMAGE_BUCKET, key);
    return true;
  } catch {
    return false;
  }
}

async function openOutbox(config: OutboxConfig, { store, mqtt, logger, metrics }: IngestDeps): Promise<Outbox> {
  try {
    return await Outbox.open({ ...config, store, mqtt, logger, metrics, retryMs: RETRY_AFTER_SECONDS * 1000 });
  } catch (error) {
    // Most likely a directory this user may not write (a container's read-only working directory).
    throw new ConfigError(
      `cannot open the ingest outbox in ${config.dir}: ${(error as Error).message}. Give it a writable directory (--outbox-dir), or turn it off with --outbox-max-devices 0 (photos are then refused with 503 while the broker is away)`,
      { cause: error },
    );
  }
}

export async function startIngestService(config: IngestConfig, deps: IngestDeps): Promise<RunningIngestService> {
  const { store, mqtt, logger, metrics, instanceId, devices } = deps;
  const outbox = config.outbox ? await openOutbox(config.outbox, deps) : undefined;
  const ingestor = new PhotoIngestor({
    store,
    mqtt,
    logger,
    metrics,
    limits: config.limits,
    allowAnyDeviceId: config.allowAnyDeviceId,
    maxClockSkewMs: config.maxClockSkewMs,
    ...(outbox ? { outbox } : {}),
  });

  // The bucket may be unreachable right now; the service starts anyway and answers 503 meanwhile.
  await store.ensureBucket(IMAGE_BUCKET).catch((error: unknown) => {
    logger.warn(
      { err: error, storage: store.description },
      'storage not reachable at start; will answer 503 until it is',
    );
  });

  const app = createHttpServer({
    title: 'People Counter ingestion API',
    description: 'Devices upload photos here; each is stored and announced on the metadata topic.',
    logger,
    metrics,
    // Fastify refuses an oversize body while it streams in, before buffering all of it.
    bodyLimit: config.limits.maxBytes,
    ...(config.connectionLimits ? { connectionLimits: config.connectionLimits } : {}),
    healthChecks: [
      { name: 'mqtt', check: () => mqtt.connected },
      { name: 'storage', check: () => storageWritable(store, instanceId) },
    ],
  });
  // Devices are not browsers, but a page a browser on their network visits must not post photos
  // (checked first, as before); then the device's secret or the shared token.
  guardedScope(app, [crossSiteGuard([]), ingestAuth({ token: config.token, devices })], (routes) =>
    registerIngestRoutes(routes, ingestor),
  );

  // Stopped last (the list runs backwards): requests still being answered may queue photos.
  const stops: Array<{ name: string; stop: () => Promise<void> }> = outbox
    ? [{ name: 'outbox', stop: () => outbox.stop() }]
    : [];
  let stopped = false;
  const stopAllSources = async () => {
    if (stopped) return;
    stopped = true;
    for (const part of [...stops].reverse()) {
      await part
        .stop()
        .catch((error: unknown) => logger.error({ err: error, part: part.name }, 'error while stopping'));
    }
  };
  try {
    const url = await listen(app, config.host, config.port);
    stops.push({ name: 'http', stop: () => app.close() });
    logger.info({ url, storage: store.description, metadataTopic: mqtt.topics.metadata }, 'ingestion API listening');

    if (config.mqttImages) {
      const source = await startMqttImageSource({
        mqtt,
        ingestor,
        logger,
        instanceId,
        maxQueuedBytes: config.mqttMaxQueuedBytes,
      });
      stops.push({ name: 'mqtt-images', stop: source.stop });
      logger.info({ topic: mqtt.topics.deviceImageWildcard }, 'accepting photos over MQTT');
    }
    if (config.watch) {
      const source = startWatchSource({ ...config.watch, ingestor, logger });
      await source.ready;
      stops.push({ name: 'watch', stop: source.stop });
    }
    if (config.camera) {
      const camera = startCameraSource({ ...config.camera, ingestor, logger });
      stops.push({ name: 'camera', stop: camera.stop });
    }
    return { url, ingestor, app, stop: stopAllSources };
  } catch (error) {
    const listening = stops.some((part) => part.name === 'http');
    await stopAllSources();
    if (!listening) await app.close().catch(() => undefined);
    throw error;
  }
}

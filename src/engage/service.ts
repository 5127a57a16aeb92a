/**
 * `startEngageService`: wires the store, the MQTT subscriptions, the live engine, the REST API,
 * the event stream and the dashboard. The CLI command and `people-counter up` both call it.
 */
import type { Registry } from 'prom-client';
import { crossSiteGuard } from '../core/cross-site.js';
import type { LiveDeviceRegistry } from '../core/device-registry.js';
import { createHttpServer, type HttpServer, isLoopbackHost, isWildcardAddress, listen } from '../core/http.js';
import { guardedScope, notFoundBehindGuards } from '../core/http-auth.js';
import type { Logger } from '../core/log.js';
import { createMessageAuth } from '../core/message-auth.js';
import { nowSeconds as systemNowSeconds } from '../core/messages.js';
import { createMetricsRegistry } from '../core/metrics.js';
import { MqttConnection } from '../core/mqtt.js';
import type { Tiling } from '../core/people-counter.js';
import type { ObjectStore } from '../core/storage/index.js';
import type { TuningModel } from '../core/tuning.js';
import { registerApi } from './api.js';
import { engageAuth } from './auth.js';
import type { EngageConfig } from './config.js';
import { registerDeviceCredentialsApi } from './device-credentials-api.js';
import { EngageEngine } from './engine.js';
import { LiveEvents } from './events.js';
import { HomeAssistantDiscovery } from './home-assistant.js';
import { createEngageMetrics } from './metrics.js';
import { PhotoOutcomes } from './photo-outcomes.js';
import { registerProfileApi } from './profile-api.js';
import { ProfileBook } from './profiles.js';
import { registerEventStream } from './sse.js';
import { EngageStore } from './store.js';
import { subscribeToPipeline } from './subscriptions.js';
import { registerTuningApi } from './tuning/api.js';
import { TuningDesk } from './tuning/desk.js';
import { TuningSessions } from './tuning/sessions.js';
import { type IngestPhoto, inProcessUploader, restUploader } from './upload.js';
import { registerWebAssets } from './web-assets.js';
import { createWebhookSender } from './webhook.js';
import { registerZoneApi } from './zone-api.js';

export interface EngageDeps {
  logger: Logger;
  metrics?: Registry;
  /** In-process ingestion (people-counter up); without it uploads go to config.ingestUrl. */
  ingestPhoto?: IngestPhoto;
  /** Clock in unix seconds (tests). */
  nowSeconds?: () => number;
  /** Object storage for photos kept while tuning a camera; without it the tuning flow is off. */
  tuningStore?: ObjectStore;
  /** The model that looks at tuning photos and fits profiles (created on first use); without it no fits. */
  tuningModel?: () => Promise<TuningModel>;
  /** Candidate tilings of tuning fits (default: calibrate's; tests use fewer). */
  tuningTilings?: readonly Tiling[];
  /** The device registry, managed through /api/devices/credentials and the dashboard; without it those are off. */
  devices?: LiveDeviceRegistry;
}

export interface EngageService {
  url: string;
  /** The Fastify instance (tests use `inject`). */
  http: HttpServer;
  store: EngageStore;
  engine: EngageEngine;
  profiles: ProfileBook;
  /** The tuning flow, when a tuning store was given. */
  tuning: TuningDesk | undefined;
  /** Resolves once subscribed to results and availability. */
  subscribed: Promise<void>;
  /** What the dashboards are told live (a device's new count, an alert, …), for listeners in this process. */
  events: Pick<LiveEvents, 'subscribe'>;
  stop(): Promise<void>;
}

export async function startEngageService(config: EngageConfig, deps: EngageDeps): Promise<EngageService> {
  const { logger } = deps;
  const now = deps.nowSeconds ?? systemNowSeconds;
  const registry = deps.metrics ?? createMetricsRegistry('engage', config.instanceId);
  const metrics = createEngageMetrics(registry);
  const store = new EngageStore(config.dbPath);
  const events = new LiveEvents();
  const outcomes = new PhotoOutcomes();

  const messageAuth = createMessageAuth(config.messageSecret);
  if (!messageAuth.enabled) logger.warn('result messages are not authenticated: set PEOPLE_COUNTER_MESSAGE_SECRET');
  // A persistent session under a stable client ID: the broker keeps the results published while
  // engage is stopped or reconnecting and delivers them when it is back.
  const mqtt = MqttConnection.start({
    config: config.mqtt,
    service: 'engage',
    instanceId: config.instanceId,
    logger,
    persistentSession: true,
  });
  const { topics } = mqtt;
  const webhook = config.webhookUrl
    ? createWebhookSender({
        url: config.webhookUrl,
        timeoutMs: config.webhookTimeoutMs,
        retries: config.webhookRetries,
        logger,
        onFailure: () => metrics.webhookFailures.inc(),
      })
    : undefined;
  const { devices } = deps;
  const homeAssistant = config.haDiscovery
    ? new HomeAssistantDiscovery(
        mqtt,
        { topics, discoveryPrefix: config.haDiscoveryPrefix, availabilityTopic: mqtt.availability },
        logger,
      )
    : undefined;
  homeAssistant?.start();
  const engine = new EngageEngine({
    store,
    events,
    metrics,
    logger,
    topics,
    staleAfterMs: config.staleAfterMs,
    nowSeconds: now,
    publish: (topic, payload, retain) => mqtt.publish(topic, payload, { retain }),
    ...(homeAssistant ? { homeAssistant } : {}),
    ...(webhook ? { webhook } : {}),
    // Once cameras are registered, a revoked one leaves MQTT (its retained state and Home Assistant).
    ...(devices ? { publishesDevice: (id: string) => devices.size === 0 || devices.has(id) } : {}),
  });
  const stopFollowingDevices = devices?.onChange(() => void engine.refresh());

  const publishRetained = (topic: string, payload: string) => mqtt.publish(topic, payload, { retain: true });
  const profiles = new ProfileBook(store.db, topics, publishRetained, now);
  const tuning = deps.tuningStore
    ? new TuningDesk({
        sessions: new TuningSessions(store.db),
        profiles,
        store: deps.tuningStore,
        model: deps.tuningModel,
        topics,
        publishRetained,
        events,
        logger: logger.child({ part: 'tuning' }),
        nowSeconds: now,
        retentionSeconds: config.tuningRetentionMs / 1000,
        ...(deps.tuningTilings ? { tilings: deps.tuningTilings } : {}),
      })
    : undefined;
  const { subscribed, isSubscribed } = subscribeToPipeline({
    mqtt,
    store,
    engine,
    metrics,
    logger,
    instanceId: config.instanceId,
    now,
    outcomes,
    messageAuth,
    ...(tuning
      ? {
          onResult: (result) => {
            tuning.onResult(result).catch((error: unknown) => logger.warn({ err: error }, 'tuning missed a result'));
          },
        }
      : {}),
  });
  // The broker may have lost retained state: profiles and collect requests are published again.
  mqtt.onConnect(() => {
    void Promise.all([profiles.republish(), tuning?.republish()]).catch((error: unknown) =>
      logger.warn({ err: error }, 'could not publish profiles again'),
    );
  });

  const writes = config.openWrites ? 'open' : config.token ? 'token' : 'disabled';
  if (config.openWrites && !isLoopbackHost(config.host)) {
    logger.warn('OPEN WRITES: anyone who can reach this server can change devices, rules and upload photos');
  }
  const app = createHttpServer({
    title: 'People Counter engage API',
    description: 'Live counts, history, sites, alerts and photo upload. See docs/engage.md.',
    logger,
    metrics: registry,
    bodyLimit: 1_048_576,
    ...(config.connectionLimits ? { connectionLimits: config.connectionLimits } : {}),
    // Open writes trust whoever reaches the server: only by the names it is meant to be reached by.
    ...(config.openWrites
      ? { allowedHosts: [...config.allowedHosts, ...(isWildcardAddress(config.host) ? [] : [config.host])] }
      : {}),
    healthChecks: [
      { name: 'mqtt', check: () => mqtt.connected },
      // Healthy only while subscribed: results published before that would never reach the history.
      { name: 'subscribed', check: isSubscribed },
      { name: 'database', check: () => store.db.isOpen },
    ],
  });
  const policy = { token: config.token, protectReads: config.protectReads, openWrites: config.openWrites };
  const noCrossSiteWrites = crossSiteGuard(config.allowedOrigins);
  // Every /api/ route has the same permissions (reads open unless --protect-reads, writes need the
  // token unless --open-writes), so one authenticated context holds them all. The token is checked
  // before the origin, as ever: a cross-site request without the token gets 401.
  guardedScope(app, [engageAuth(policy)], (api) => {
    guardedScope(api, [noCrossSiteWrites], (routes) => {
      registerApi(routes, {
        store,
        engine,
        upload: deps.ingestPhoto
          ? inProcessUploader(deps.ingestPhoto)
          : restUploader(config.ingestUrl, config.ingestToken),
        outcomes,
        nowSeconds: now,
        staleAfterMs: config.staleAfterMs,
        writes,
        protectReads: config.protectReads,
        maxUploadBytes: config.maxUploadBytes,
        deviceCredentials: deps.devices !== undefined,
      });
      if (deps.devices) registerDeviceCredentialsApi(routes, deps.devices, now);
      registerProfileApi(routes, profiles);
      registerZoneApi(routes, { store, engine, nowSeconds: now });
      if (tuning)
        registerTuningApi(routes, {
          desk: tuning,
          engine,
          retentionSeconds: config.tuningRetentionMs / 1000,
          maxUploadBytes: config.maxUploadBytes,
        });
      registerEventStream(routes, { engine, events, store, metrics });
    });
    // Unknown /api/ paths answer 404 only to whom the policy lets through.
    notFoundBehindGuards(api, '/api/');
  });
  // The dashboard's page, scripts and the API docs: open, as they hold no data.
  guardedScope(app, [noCrossSiteWrites], (routes) => registerWebAssets(routes));

  // Counts go stale without any message arriving: look again regularly.
  const tick = setInterval(() => void engine.refresh(), Math.min(5000, Math.max(250, config.staleAfterMs / 10)));
  const prune = () => {
    const deleted = store.prune(now() - config.retentionMs / 1000);
    metrics.rowsPruned.inc(deleted);
    if (deleted > 0) logger.info({ deleted }, 'pruned history older than the retention');
  };
  prune();
  const pruneTimer = setInterval(prune, config.pruneIntervalMs);
  const sweepTuning = () =>
    void tuning?.sweep().catch((error: unknown) => logger.warn({ err: error }, 'tuning sweep failed'));
  const tuningTimer = setInterval(sweepTuning, Math.min(60_000, config.tuningRetentionMs / 4));

  let url: string;
  try {
    url = await listen(app, config.host, config.port);
  } catch (error) {
    clearInterval(tick);
    clearInterval(pruneTimer);
    clearInterval(tuningTimer);
    stopFollowingDevices?.();
    await mqtt.close();
    store.close();
    throw error;
  }
  logger.info({ url, db: config.dbPath, writes }, 'engage dashboard and API listening');

  return {
    url,
    http: app,
    store,
    engine,
    profiles,
    tuning,
    subscribed,
    events,
    async stop() {
      clearInterval(tick);
      clearInterval(pruneTimer);
      outcomes.close();
      clearInterval(tuningTimer);
      stopFollowingDevices?.();
      await app.close();
      await tuning?.stop();
      await mqtt.close();
      await engine.settled();
      await webhook?.stop();
      store.close();
    },
  };
}

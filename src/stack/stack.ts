/**
 * `people-counter up`: the whole pipeline in one process. Starts consumers before producers
 * (broker → storage → engage → inference → ingest → demo devices) so that nothing published is
 * missed, then loads the model (its URLs are shown meanwhile; counts wait for it), and stops in
 * reverse, letting inference finish the photos already announced.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { type AnalyticsSpec, createCounterFor } from '../analytics/counter-spec.js';
import type { Precision, Runtime } from '../analytics/runtime.js';
import type { Tiling } from '../analytics/tiling.js';
import { isTuningDetector, tuningModelOf } from '../analytics/tuning-fit.js';
import {
  generateServiceAccounts,
  HOME_ASSISTANT_USERNAME,
  type ServiceAccount,
  type ServiceRole,
} from '../broker/access.js';
import { type RunningBroker, startBroker } from '../broker/broker.js';
import {
  ConfigError,
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_MQTT_PORT,
  DEFAULT_MQTT_PROTOCOL,
  type MqttConfig,
  type StorageConfig,
  validateMqttConfig,
} from '../core/config.js';
import type { ConnectionLimits } from '../core/connection-limits.js';
import { DEVICE_REGISTRY_FILE, newDeviceSecret } from '../core/device-credentials.js';
import { type DeviceAccess, LiveDeviceRegistry, registryAccess } from '../core/device-registry.js';
import { createHttpServer, HttpError, isLoopbackHost, listen, urlHost } from '../core/http.js';
import { type Stoppable, stopAll } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { createMessageAuth, keptMessageSecret, MESSAGE_SECRET_FILE } from '../core/message-auth.js';
import { combineMetrics, createMetricsRegistry, DEFAULT_METRICS_PORT } from '../core/metrics.js';
import { MqttConnection } from '../core/mqtt.js';
import type { CameraProfile, PeopleCounter } from '../core/people-counter.js';
import { PRIVATE_DIR_MODE } from '../core/private-files.js';
import { sameSecret } from '../core/secret.js';
import { createObjectStore, type ObjectStore } from '../core/storage/index.js';
import { DEFAULT_PREFIX, defaultMetadataTopic, makeTopics, type Topics } from '../core/topics.js';
import type { TuningModel } from '../core/tuning.js';
import { ENGAGE_DEFAULTS, engageConfig } from '../engage/config.js';
import { type EngageService, startEngageService } from '../engage/service.js';
import type { EngageStore } from '../engage/store.js';
import {
  defaultInferenceConfig,
  INFERENCE_DEFAULTS,
  type InferenceInstance,
  startInferenceInstance,
} from '../inference/inference-service.js';
import { INGEST_DEFAULTS, outboxConfig } from '../ingest/config.js';
import { httpErrorFor, isIngestError } from '../ingest/http-api.js';
import { type RunningIngestService, startIngestService } from '../ingest/service.js';
import { startSimulator } from '../ingest/simulator.js';
import { LateModel } from './late-model.js';

export interface StackConfig {
  /** Holds storage/ (unless `storage` is given), engage.db and ingest-outbox/. Created if missing. */
  dataDir: string;
  /** Address of the dashboard, the ingest REST API and the embedded broker. */
  host: string;
  engagePort: number;
  ingestPort: number;
  /** Port of one Prometheus /metrics for every part (0 = any free port); none = no metrics server. */
  metricsPort?: number;
  /** Address of the metrics server; default loopback whatever `host` is (metrics have no authentication). */
  metricsHost?: string;
  /** Port of the embedded broker (ignored with `mqtt.url`). */
  mqttPort: number;
  /**
   * Broker settings; without `url` an embedded broker is started, where every part gets its own
   * random account and username/password (if given) become an admin account for your own tools.
   */
  mqtt: Partial<MqttConfig>;
  /**
   * Deprecated: a password every unregistered device may use on the embedded broker (username =
   * device ID). Registered devices (`<dataDir>/devices.json`) use their own secrets.
   */
  devicePassword?: string;
  /**
   * The password of a `homeassistant` account on the embedded broker, which may read only what Home
   * Assistant shows (docs/home-assistant.md); none: no such account.
   */
  homeAssistantPassword?: string;
  /**
   * Signs and verifies coordination and results (docs/engage.md); default a secret made on the first
   * start and kept in `<dataDir>/message-secret`.
   */
  messageSecret?: string;
  /** Object storage; default a local directory `<dataDir>/storage`. */
  storage?: StorageConfig;
  analytics: AnalyticsSpec;
  analyticsApiKey?: string;
  /** Worker threads of the in-process model; default the number of cores. */
  workers?: number;
  /** Runtime of the in-process model (default onnx, falling back to wasm where it cannot load). */
  runtime?: Runtime;
  /** The detector's weights on ONNX Runtime (default: DEFAULT_PRECISION). */
  precision?: Precision;
  /** Camera profile per device ID (from `calibrate`); devices without one use the defaults. */
  profiles?: Record<string, CameraProfile>;
  inferenceInstances: number;
  batchSize: number;
  maxWaitMs: number;
  /** Bearer token devices must send to the ingest REST API. */
  ingestToken?: string;
  /** Devices whose REST photos may wait in `<dataDir>/ingest-outbox` while the broker is away; 0 = none. */
  ingestOutboxMaxDevices?: number;
  /** Bearer token for dashboard writes; without it writes are open (a local single-user stack). */
  engageToken?: string;
  /** Without `engageToken`: host names the dashboard answers besides loopback names and `host`. */
  allowedHosts?: string[];
  /** Origins whose pages may change things besides the dashboard's own (a reverse proxy that rewrites Host). */
  allowedOrigins?: string[];
  /** Play the JPEGs of a folder as a few simulated devices through the ingest REST API. */
  demo?: { dir: string; devices: number; intervalMs: number };
  /** Longest wait at stop for announced photos to be claimed and counted. */
  drainMs: number;
  /** How long photos kept for tuning a camera live (default 24 h). */
  tuningRetentionMs?: number;
  /** Candidate tilings of tuning fits (default: calibrate's; tests use fewer). */
  tuningTilings?: readonly Tiling[];
  /** Caps on the connections of every listener of the stack (broker, dashboard, ingest, metrics). */
  connectionLimits?: ConnectionLimits;
  /** Stable name in instance IDs (persistent MQTT sessions resume after a restart); default the host name. */
  name?: string;
}

export const STACK_DEFAULTS = {
  dataDir: DEFAULT_DATA_DIR,
  host: DEFAULT_HOST,
  engagePort: ENGAGE_DEFAULTS.port,
  ingestPort: INGEST_DEFAULTS.port,
  metricsPort: DEFAULT_METRICS_PORT,
  metricsHost: DEFAULT_HOST,
  mqttPort: DEFAULT_MQTT_PORT,
  inferenceInstances: 2,
  batchSize: INFERENCE_DEFAULTS.batchSize,
  maxWaitMs: 1000,
  drainMs: 15_000,
  demoDevices: 3,
  demoIntervalMs: 4000,
} as const;

/** The full log of `up`, in its data dir (the console shows status lines only, unless --verbose). */
export const UP_LOG_FILE = 'up.log';

export interface StackDeps {
  logger: Logger;
  /** Loads the model (default: the one `analytics` names); tests give one that fails. */
  loadModel?: typeof createCounterFor;
}

/** How devices get in, as the start-up banner explains it. */
export interface DeviceAdmission {
  /** The registry file (`people-counter devices add --data-dir …` writes it). */
  registryPath: string;
  /** Devices registered at start. */
  registered: number;
  /** With an empty registry, photos over REST are accepted without a secret (loopback only). */
  openWhileEmpty: boolean;
  /** The deprecated shared device password is set. */
  sharedPassword: boolean;
}

export interface RunningStack {
  urls: { engage: string; ingest: string; mqtt: string; metrics?: string };
  devices: DeviceAdmission;
  topics: Topics;
  /** Where photos are stored (no secrets). */
  storage: string;
  instanceIds: string[];
  /** Device IDs of the demo devices (empty without `demo`). */
  demoDevices: string[];
  /**
   * The model, loading while everything else already runs: its name and load time once ready; a
   * StackStartError if it cannot load (photos then fail with that error; stop the stack).
   */
  model: Promise<{ name: string; ms: number }>;
  /** Engage's live events (a device's new count, an alert, …): what `up` tells the console about. */
  events: EngageService['events'];
  stop(): Promise<void>;
}

/** A part of the stack failed to start; the parts already started have been stopped. */
export class StackStartError extends Error {
  override name = 'StackStartError';
}

/** A name usable in instance IDs (letters, digits, _ and -). */
export function instanceName(name: string): string {
  const cleaned = name
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+|-+$/g, '')
    .slice(0, 32);
  return cleaned.length > 0 ? cleaned : 'people-counter';
}

/** `<name>-inference-1..K`: the same IDs on every start, so persistent sessions resume. */
export function inferenceInstanceIds(name: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${instanceName(name)}-inference-${index + 1}`);
}

/** UUID v4-shaped IDs that are the same on every start, so the demo devices keep their history. */
export function demoDeviceIds(count: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const hex = createHash('sha256')
      .update(`people-counter demo camera ${index + 1}`)
      .digest('hex');
    const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  });
}

/** The site the demo cameras are put in, so that the first screen shows a site tile too. */
export const DEMO_SITE = 'demo';

/** "Demo camera 1…N" in the demo site, unless the user has named a camera already. */
export function nameDemoCameras(store: EngageStore, deviceIds: string[], now: number): void {
  for (const [index, id] of deviceIds.entries()) {
    if (store.getDevice(id)?.name) continue;
    store.upsertDevice(id, { name: `Demo camera ${index + 1}`, site: DEMO_SITE }, now);
  }
}

/** Enough queue for every instance's whole batch, so instances do not see CounterBusy in normal use. */
export function modelQueueLimit(workers: number, instances: number, batchSize: number): number {
  return Math.max(4 * workers, instances * batchSize);
}

function tuningModelFor(counter: PeopleCounter): TuningModel {
  if (!isTuningDetector(counter)) throw new Error(`${counter.model} cannot look at tuning photos`);
  return tuningModelOf(counter);
}

function startFailure(part: string, error: unknown, hint: string): StackStartError {
  const code = (error as { code?: unknown }).code;
  const detail =
    code === 'EADDRINUSE' ? `the port is already in use (${(error as Error).message})` : (error as Error).message;
  return new StackStartError(`cannot start ${part}: ${detail}${hint && code === 'EADDRINUSE' ? `; ${hint}` : ''}`, {
    cause: error,
  });
}

/** Waits for `promise` at most `ms`; false when it did not settle in time. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startStack(config: StackConfig, deps: StackDeps): Promise<RunningStack> {
  const { logger } = deps;
  const name = instanceName(config.name ?? hostname());
  const parts: Stoppable[] = [];
  const child = (part: string) => logger.child({ part });
  const step = async <T>(part: string, hint: string, start: () => Promise<T>): Promise<T> => {
    try {
      return await start();
    } catch (error) {
      await stopAll(parts, logger);
      throw startFailure(part, error, hint);
    }
  };

  if (config.mqtt.url === undefined && config.mqtt.protocolVersion === 5) {
    throw new ConfigError('the embedded broker speaks MQTT 3.1.1 only: use --mqtt-protocol 4 or --mqtt-url');
  }
  if (!isLoopbackHost(config.host) && config.engageToken === undefined) {
    logger.warn(
      { host: config.host },
      'the dashboard is reachable from the network and accepts changes without a token: set PEOPLE_COUNTER_ENGAGE_TOKEN',
    );
  }
  await mkdir(config.dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  // Only the stack's own parts can sign coordination and results.
  const messageSecret = config.messageSecret ?? (await keptMessageSecret(join(config.dataDir, MESSAGE_SECRET_FILE)));

  const limits = config.connectionLimits ? { connectionLimits: config.connectionLimits } : {};
  // Connection counts of the parts without a registry of their own: the broker, the metrics server.
  const brokerMetrics = createMetricsRegistry('broker', `${name}-broker`, { processMetrics: false });
  const stackMetrics = createMetricsRegistry('up', name, { processMetrics: false });

  // 0. The device registry, followed while running (`people-counter devices add|revoke` and engage's API write it).
  const registry = await LiveDeviceRegistry.open(join(config.dataDir, DEVICE_REGISTRY_FILE), {
    logger: child('devices'),
  });
  parts.push({ name: 'device-registry', stop: async () => registry.close() });
  const admission: DeviceAdmission = {
    registryPath: registry.path,
    registered: registry.size,
    openWhileEmpty: isLoopbackHost(config.host),
    sharedPassword: config.devicePassword !== undefined,
  };
  if (!admission.openWhileEmpty && admission.registered === 0) {
    logger.warn(
      { host: config.host, registry: registry.path },
      `no device is registered and the stack is reachable from the network: the ingest API refuses every device${admission.sharedPassword ? '' : ' and so does the broker'} until one is (people-counter devices add <uuid>)`,
    );
  }

  // 1. Broker.
  const prefix = config.mqtt.prefix ?? DEFAULT_PREFIX;
  const topics = makeTopics(prefix, config.mqtt.metadataTopic ?? defaultMetadataTopic(prefix));
  let mqttUrl = config.mqtt.url;
  let accounts: ServiceAccount[] = [];
  if (mqttUrl === undefined) {
    accounts = generateServiceAccounts();
    const { username, password } = config.mqtt;
    if ((username === undefined) !== (password === undefined)) {
      throw new ConfigError('an MQTT username needs its password (PEOPLE_COUNTER_MQTT_PASSWORD) and the reverse');
    }
    const admin: ServiceAccount[] =
      username !== undefined && password !== undefined ? [{ role: 'admin', username, password }] : [];
    const homeAssistant: ServiceAccount[] =
      config.homeAssistantPassword !== undefined
        ? [{ role: 'homeassistant', username: HOME_ASSISTANT_USERNAME, password: config.homeAssistantPassword }]
        : [];
    const broker: RunningBroker = await step('the embedded MQTT broker', 'use --mqtt-port or --mqtt-url', () =>
      startBroker({
        host: config.host,
        port: config.mqttPort,
        logger: child('broker'),
        credentials: {
          services: [...accounts, ...admin, ...homeAssistant],
          devices: registry,
          ...(config.devicePassword !== undefined ? { devicePassword: config.devicePassword } : {}),
        },
        access: { topics },
        metrics: brokerMetrics,
        ...limits,
      }),
    );
    parts.push({ name: 'broker', stop: broker.stop });
    mqttUrl = `mqtt://${urlHost(config.host)}:${broker.port}`;
  }
  let mqtt: MqttConfig;
  try {
    mqtt = validateMqttConfig({
      prefix,
      metadataTopic: topics.metadata,
      protocolVersion: DEFAULT_MQTT_PROTOCOL,
      ...config.mqtt,
      url: mqttUrl,
    });
  } catch (error) {
    await stopAll(parts, logger);
    throw error;
  }
  /** The broker settings of one part: its own account on the embedded broker, the given ones otherwise. */
  const mqttFor = (role: Exclude<ServiceRole, 'admin'>): MqttConfig => {
    const account = accounts.find((candidate) => candidate.role === role);
    return account ? { ...mqtt, username: account.username, password: account.password } : mqtt;
  };

  // 2. Storage.
  const store: ObjectStore = createObjectStore(
    config.storage ?? { kind: 'local', dir: join(config.dataDir, 'storage') },
  );
  parts.push({ name: 'storage', stop: () => store.close() });

  // 3. One model shared by every inference instance, loaded last (below): the dashboard's URL comes
  // first, and photos that arrive meanwhile wait for the model.
  const workers = config.workers ?? availableParallelism();
  let loading = false;
  let beginLoading = () => {};
  const model = new LateModel(
    new Promise<PeopleCounter>((resolve) => {
      beginLoading = () =>
        resolve(
          (deps.loadModel ?? createCounterFor)(config.analytics, config.analyticsApiKey, {
            workers,
            queueLimit: modelQueueLimit(workers, config.inferenceInstances, config.batchSize),
            runtime: config.runtime,
            precision: config.precision,
          }),
        );
    }),
  );
  // Stopped after inference (parts stop in reverse); a model never asked for has nothing to close.
  parts.push({ name: 'counter', stop: async () => (loading ? model.close() : undefined) });

  // 4. Engage (before inference, so that it sees every result). Uploads go to the ingestor, started below.
  const engageMetrics = createMetricsRegistry('engage', `${name}-engage`);
  let ingest: RunningIngestService | undefined;
  const engage = await step('the dashboard (engage)', 'use --engage-port', () =>
    startEngageService(
      engageConfig(mqttFor('engage'), `${name}-engage`, {
        host: config.host,
        port: config.engagePort,
        dbPath: join(config.dataDir, 'engage.db'),
        ...(config.tuningRetentionMs !== undefined ? { tuningRetentionMs: config.tuningRetentionMs } : {}),
        openWrites: config.engageToken === undefined,
        allowedHosts: config.allowedHosts ?? [],
        allowedOrigins: config.allowedOrigins ?? [],
        ...(config.engageToken !== undefined ? { token: config.engageToken } : {}),
        messageSecret,
        ...limits,
      }),
      {
        logger: child('engage'),
        metrics: engageMetrics,
        tuningStore: store,
        ...(config.tuningTilings ? { tuningTilings: config.tuningTilings } : {}),
        // The shared model also serves tuning when it runs in this process.
        ...(config.analytics.kind === 'local' ? { tuningModel: () => model.ready.then(tuningModelFor) } : {}),
        devices: registry,
        ingestPhoto: async (deviceId, photo) => {
          if (!ingest) throw new HttpError(503, 'starting', 'ingestion is still starting');
          try {
            return await ingest.ingestor.ingest(deviceId, photo);
          } catch (error) {
            // The same answers as the ingest REST API: a bad photo is a 4xx with its reason.
            throw isIngestError(error) ? httpErrorFor(error) : error;
          }
        },
      },
    ),
  );
  parts.push({ name: 'engage', stop: engage.stop });
  if (!(await within(engage.subscribed, 10_000))) {
    logger.warn({ url: mqtt.url }, 'engage is not subscribed yet: is the MQTT broker reachable?');
  }

  // 5. Inference instances sharing the model.
  const instances: InferenceInstance[] = [];
  const messageAuth = createMessageAuth(messageSecret);
  const instanceIds = inferenceInstanceIds(name, config.inferenceInstances);
  const stopInference = async () => {
    const deadline = Date.now() + config.drainMs;
    // Photos already announced are claimed and counted rather than left in storage.
    while (instances.some((instance) => instance.pendingCount() > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const left = instances.reduce((sum, instance) => sum + instance.pendingCount(), 0);
    if (left > 0) logger.warn({ left }, 'photos left uncounted at stop; the sweeper recovers them on the next start');
    await Promise.all(instances.map((instance) => instance.stop()));
  };
  parts.push({ name: 'inference', stop: stopInference });
  for (const instanceId of instanceIds) {
    const instance = await step(`inference instance ${instanceId}`, '', () =>
      startInferenceInstance(
        {
          ...defaultInferenceConfig(mqttFor('inference'), instanceId),
          batchSize: config.batchSize,
          maxWaitMs: config.maxWaitMs,
          profiles: config.profiles ?? {},
          // Together the instances keep every model worker busy.
          countConcurrency: Math.max(1, Math.ceil(workers / config.inferenceInstances)),
          messageAuth,
        },
        { counter: model, store, logger: child(`inference-${instances.length + 1}`) },
      ),
    );
    instances.push(instance);
  }
  if (!(await within(Promise.all(instances.map((instance) => instance.subscribed)), 10_000))) {
    logger.warn({ url: mqtt.url }, 'inference is not subscribed yet: is the MQTT broker reachable?');
  }

  // 6. Ingestion: REST (and raw JPEGs over MQTT).
  const demoIds = config.demo ? demoDeviceIds(config.demo.devices) : [];
  // The demo cameras are this process's own: without an ingest token they carry one made for this run,
  // valid for their IDs only, so that they keep working once the registry is enforced.
  const demoToken = config.demo && config.ingestToken === undefined ? newDeviceSecret() : undefined;
  const registered = registryAccess(registry, { openWhileEmpty: admission.openWhileEmpty });
  const deviceAccess: DeviceAccess =
    demoToken === undefined
      ? registered
      : {
          enforced: registered.enforced,
          accepts: async (deviceId, secret) =>
            (demoIds.includes(deviceId) && sameSecret(secret, demoToken)) || registered.accepts(deviceId, secret),
        };
  const ingestId = `${name}-ingest`;
  const ingestMqtt = MqttConnection.start({
    config: mqttFor('ingest'),
    service: 'ingest',
    instanceId: ingestId,
    logger: child('ingest'),
  });
  parts.push({ name: 'ingest-mqtt', stop: () => ingestMqtt.close() });
  const ingestMetrics = createMetricsRegistry('ingest', ingestId);
  ingest = await step('the ingest REST API', 'use --ingest-port', () =>
    startIngestService(
      {
        host: config.host,
        port: config.ingestPort,
        limits: INGEST_DEFAULTS.limits,
        allowAnyDeviceId: false,
        maxClockSkewMs: INGEST_DEFAULTS.maxClockSkewMs,
        token: config.ingestToken,
        mqttImages: INGEST_DEFAULTS.mqttImages,
        mqttMaxQueuedBytes: INGEST_DEFAULTS.mqttMaxQueuedBytes,
        outbox: outboxConfig(
          join(config.dataDir, INGEST_DEFAULTS.outboxDirName),
          config.ingestOutboxMaxDevices ?? INGEST_DEFAULTS.outboxMaxDevices,
        ),
        watch: undefined,
        camera: undefined,
        ...limits,
      },
      {
        store,
        mqtt: ingestMqtt,
        logger: child('ingest'),
        metrics: ingestMetrics,
        instanceId: ingestId,
        devices: deviceAccess,
      },
    ),
  );
  const runningIngest = ingest;
  parts.push({ name: 'ingest', stop: runningIngest.stop });

  // 7. Demo devices.
  let demoDevices: string[] = [];
  if (config.demo) {
    const { dir, devices, intervalMs } = config.demo;
    const simulator = await step('the demo devices', '', () =>
      startSimulator({
        devices,
        deviceIds: demoIds,
        intervalMs,
        imagesDir: dir,
        via: 'rest',
        url: runningIngest.url,
        mqtt: undefined,
        count: undefined,
        jitter: true,
        token: config.ingestToken ?? demoToken,
        instanceId: `${name}-demo`,
        logger: child('demo'),
      }),
    );
    parts.push({ name: 'demo', stop: async () => void (await simulator.stop()) });
    demoDevices = simulator.deviceIds;
    nameDemoCameras(engage.store, demoDevices, Date.now() / 1000);
    await engage.engine.refresh();
  }

  // 8. One Prometheus target for the whole stack.
  let metricsUrl: string | undefined;
  if (config.metricsPort !== undefined) {
    const metricsPort = config.metricsPort;
    const app = createHttpServer({
      title: 'People Counter (up)',
      description: 'Metrics of every part of the stack, labelled by service and instance.',
      logger: child('metrics'),
      metrics: combineMetrics(() => [
        ...(config.mqtt.url === undefined ? [brokerMetrics] : []),
        stackMetrics,
        engageMetrics,
        ingestMetrics,
        ...instances.map((instance) => instance.metrics),
      ]),
      connectionRegistry: stackMetrics,
      ...limits,
      healthChecks: instances.map((instance) => ({ name: instance.instanceId, check: instance.isSubscribed })),
    });
    parts.push({ name: 'metrics', stop: () => app.close() });
    metricsUrl = await step('the metrics server', 'use --metrics-port', () =>
      listen(app, config.metricsHost ?? STACK_DEFAULTS.metricsHost, metricsPort),
    );
  }
  // 9. The model, now that the URLs can be shown.
  const loadStarted = Date.now();
  loading = true;
  beginLoading();
  const loaded = model.ready.then(
    (counter) => {
      if (config.analytics.kind === 'fixed-delay') {
        logger.warn({ model: counter.model }, 'using the fixed-delay stand-in, not a model');
      }
      return { name: counter.model, ms: Date.now() - loadStarted };
    },
    (error: unknown) => {
      throw startFailure('the people-counting model', error, '');
    },
  );
  let stopping: Promise<void> | undefined;
  return {
    urls: {
      engage: engage.url,
      ingest: runningIngest.url,
      mqtt: mqtt.url,
      ...(metricsUrl ? { metrics: metricsUrl } : {}),
    },
    devices: admission,
    topics,
    storage: store.description,
    instanceIds,
    demoDevices,
    model: loaded,
    events: engage.events,
    stop: () => {
      stopping ??= stopAll(parts, logger).then(() => logger.info('every part stopped'));
      return stopping;
    },
  };
}

import { Command } from 'commander';
import { z } from 'zod';
import { ConfigError, readSecret } from '../../core/config.js';
import { registryAccess } from '../../core/device-registry.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { createMetricsRegistry } from '../../core/metrics.js';
import { MqttConnection } from '../../core/mqtt.js';
import { createObjectStore } from '../../core/storage/index.js';
import { DEFAULT_OUTBOX_DIR, INGEST_DEFAULTS, type IngestConfig, outboxConfig } from '../../ingest/config.js';
import { INGEST_TOKEN_ENV } from '../../ingest/http-api.js';
import { deviceIdRejection } from '../../ingest/photo-ingestor.js';
import { startIngestService } from '../../ingest/service.js';
import {
  addConnectionLimitOptions,
  addLogOptions,
  addMqttOptions,
  addStorageOptions,
  byteSizeArg,
  connectionLimitsFromOptions,
  deviceRegistryOption,
  durationArg,
  ENV_PREFIX,
  identityFromOptions,
  intArg,
  mqttConfigFromOptions,
  openDeviceRegistryOption,
  option,
  outboxMaxDevicesOption,
  parseOptions,
  storageConfigFromOptions,
} from '../options.js';

const ingestOptionsSchema = z.object({
  host: z.string(),
  port: z.number(),
  maxImageSize: z.number().int().positive(),
  maxPixels: z.number().int().positive(),
  allowAnyDeviceId: z.boolean().optional(),
  maxClockSkew: z.number().int().nonnegative(),
  mqttImages: z.boolean(),
  mqttMaxQueued: z.number().int().positive(),
  watch: z.string().optional(),
  device: z.string().optional(),
  moveTo: z.string().optional(),
  cameraCommand: z.string().min(1).optional(),
  interval: z.number().int().positive(),
  cameraTimeout: z.number().int().positive(),
  outboxDir: z.string().min(1),
  outboxMaxDevices: z.number().int().nonnegative(),
});

/** Options → service config, with the cross-option rules commander cannot express. */
export function ingestConfigFromOptions(raw: unknown, env: NodeJS.ProcessEnv = process.env): IngestConfig {
  const options = parseOptions(ingestOptionsSchema, raw);
  const allowAnyDeviceId = options.allowAnyDeviceId ?? false;
  if (options.device !== undefined) {
    const problem = deviceIdRejection(options.device, allowAnyDeviceId);
    if (problem) throw new ConfigError(`--device: ${problem}`);
  }
  if (options.cameraCommand !== undefined && options.device === undefined) {
    throw new ConfigError('--camera-command needs --device <id> (the device its photos belong to)');
  }
  if (options.moveTo !== undefined && options.watch === undefined) {
    throw new ConfigError('--move-to only makes sense with --watch');
  }
  if (options.device !== undefined && options.watch === undefined && options.cameraCommand === undefined) {
    throw new ConfigError('--device only makes sense with --watch or --camera-command');
  }
  return {
    host: options.host,
    port: options.port,
    limits: { maxBytes: options.maxImageSize, maxPixels: options.maxPixels },
    allowAnyDeviceId,
    maxClockSkewMs: options.maxClockSkew,
    token: readSecret(env, INGEST_TOKEN_ENV),
    connectionLimits: connectionLimitsFromOptions(raw),
    mqttImages: options.mqttImages,
    mqttMaxQueuedBytes: options.mqttMaxQueued,
    outbox: outboxConfig(options.outboxDir, options.outboxMaxDevices),
    watch:
      options.watch === undefined
        ? undefined
        : { dir: options.watch, deviceId: options.cameraCommand ? undefined : options.device, moveTo: options.moveTo },
    camera:
      options.cameraCommand === undefined || options.device === undefined
        ? undefined
        : {
            command: options.cameraCommand,
            deviceId: options.device,
            intervalMs: options.interval,
            timeoutMs: options.cameraTimeout,
          },
  };
}

export function ingestCommand(): Command {
  const command = new Command('ingest')
    .description(
      'accept photos from devices (REST, MQTT, a watched folder or a camera command), store them and publish their metadata',
    )
    .addOption(option('--host <address>', 'address the REST API binds').default(INGEST_DEFAULTS.host))
    .addOption(option('--port <port>', 'REST API port').argParser(intArg(0, 65535)).default(INGEST_DEFAULTS.port))
    .addOption(
      option('--max-image-size <size>', 'largest accepted photo (e.g. 10MB, 512KiB)')
        .argParser(byteSizeArg)
        .default(INGEST_DEFAULTS.limits.maxBytes, '10MB'),
    )
    .addOption(
      option('--max-pixels <n>', 'largest accepted width × height (refuses decompression bombs)')
        .argParser(intArg(1))
        .default(INGEST_DEFAULTS.limits.maxPixels, String(INGEST_DEFAULTS.limits.maxPixels)),
    )
    .addOption(
      option(
        '--allow-any-device-id',
        'accept any device ID that is safe as a topic level (letters, digits, . _ : @ -), not only UUID v4',
      ),
    )
    .addOption(
      option('--max-clock-skew <duration>', 'refuse photos whose creationTimestamp is further in the future')
        .argParser(durationArg)
        .default(INGEST_DEFAULTS.maxClockSkewMs, '5m'),
    )
    .addOption(
      option('--no-mqtt-images', 'do not accept raw JPEGs on <prefix>/devices/{deviceID}/image').env(
        `${ENV_PREFIX}NO_MQTT_IMAGES`,
      ),
    )
    .addOption(
      option(
        '--mqtt-max-queued <size>',
        'MQTT photos waiting for decoding beyond this many bytes are dropped with an "overloaded" dead letter',
      )
        .argParser(byteSizeArg)
        .default(INGEST_DEFAULTS.mqttMaxQueuedBytes, '200MB'),
    )
    .addOption(outboxMaxDevicesOption())
    .addOption(
      option('--outbox-dir <dir>', "where REST photos' metadata waits while the broker is away (created 0700)").default(
        DEFAULT_OUTBOX_DIR,
      ),
    )
    .addOption(deviceRegistryOption())
    .addOption(option('--watch <dir>', 'also ingest JPEG files dropped into this folder (<dir>/<deviceID>/<file>)'))
    .addOption(option('--device <id>', 'device of every --watch file, or of --camera-command photos'))
    .addOption(option('--move-to <dir>', 'with --watch: move ingested files here instead of deleting them'))
    .addOption(
      option('--camera-command <command>', 'shell command that writes one JPEG to stdout; run every --interval'),
    )
    .addOption(
      option('--interval <duration>', 'camera command interval')
        .argParser(durationArg)
        .default(INGEST_DEFAULTS.cameraIntervalMs, '10s'),
    )
    .addOption(
      option('--camera-timeout <duration>', 'kill a camera command running longer than this')
        .argParser(durationArg)
        .default(INGEST_DEFAULTS.cameraTimeoutMs, '30s'),
    )
    .addHelpText(
      'after',
      `
The REST API: POST /v1/devices/{deviceID}/images with a JPEG body (content-type image/jpeg).
With --device-registry, each device sends its own secret (people-counter devices add) as
"Authorization: Bearer <secret>". ${INGEST_TOKEN_ENV} (or ${INGEST_TOKEN_ENV}_FILE) is a token accepted
for every device (engage's uploads, the simulator); without a registry it is required of every request.
MQTT publishes carry no token: with a token set, the broker must authenticate devices and let each publish
only on its own image topic (deploy/mosquitto.acl), or use --no-mqtt-images. See docs/ingest.md.

Examples:
  people-counter ingest --mqtt-url mqtt://127.0.0.1:1883 --storage ./data
  people-counter ingest --watch ./inbox
  people-counter ingest --camera-command "libcamera-still -n -t 1 -o -" --interval 30s --device <uuid>
  people-counter ingest --camera-command "ffmpeg -loglevel error -rtsp_transport tcp -i rtsp://cam/stream \\
      -frames:v 1 -f image2pipe -vcodec mjpeg -" --interval 10s --device <uuid>`,
    );
  addMqttOptions(command);
  addStorageOptions(command);
  addConnectionLimitOptions(command);
  addLogOptions(command);
  return command.action(async (raw: unknown) => {
    const config = ingestConfigFromOptions(raw);
    const mqttConfig = mqttConfigFromOptions(raw);
    const { instanceId, logger } = identityFromOptions('ingest', raw);
    const store = createObjectStore(storageConfigFromOptions(raw));
    const mqtt = MqttConnection.start({ config: mqttConfig, service: 'ingest', instanceId, logger });
    const metrics = createMetricsRegistry('ingest', instanceId);
    const registry = await openDeviceRegistryOption(raw, logger);
    let service: Awaited<ReturnType<typeof startIngestService>>;
    try {
      service = await startIngestService(config, {
        store,
        mqtt,
        logger,
        metrics,
        instanceId,
        // A registry given to a service is enforced from the start, even while empty.
        ...(registry ? { devices: registryAccess(registry, { openWhileEmpty: false }) } : {}),
      });
    } catch (error) {
      registry?.close();
      await mqtt.close();
      await store.close();
      throw error;
    }
    await stopOnSignals(
      [
        { name: 'device-registry', stop: async () => registry?.close() },
        { name: 'storage', stop: () => store.close() },
        { name: 'mqtt', stop: () => mqtt.close() },
        { name: 'ingest', stop: service.stop },
      ],
      logger,
    );
  });
}

/**
 * Device simulator: N devices sending the JPEGs of a folder in turn, over REST or MQTT, every
 * interval (optionally jittered), until each has sent `count` photos or it is stopped.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type MqttConfig } from '../core/config.js';
import { newDeviceId } from '../core/ids.js';
import { looksLikeJpeg } from '../core/image.js';
import type { Logger } from '../core/log.js';
import { MqttConnection } from '../core/mqtt.js';

export type SimulatorTransport = 'rest' | 'mqtt';

export interface SimulatorConfig {
  devices: number;
  /** The devices' IDs (then `devices` is ignored); default: `devices` random UUIDs. */
  deviceIds?: string[];
  intervalMs: number;
  imagesDir: string;
  via: SimulatorTransport;
  /** Base URL of the ingestion REST API (for `rest`). */
  url: string;
  /** Broker settings (for `mqtt`). */
  mqtt: MqttConfig | undefined;
  /** Photos per device before stopping; undefined = until stopped. */
  count: number | undefined;
  /** Spread each device's sends randomly over ±50 % of the interval. */
  jitter: boolean;
  /** Sent as `Authorization: Bearer` over REST when set. */
  token: string | undefined;
  instanceId: string;
  logger: Logger;
}

export interface SimulatorStats {
  sent: number;
  failed: number;
}

export interface RunningSimulator {
  deviceIds: string[];
  /** Live totals (mutated while running). */
  stats: SimulatorStats;
  /** Resolves when every device has sent its `count` photos, or after stop(). */
  done: Promise<SimulatorStats>;
  stop(): Promise<SimulatorStats>;
}

const JPEG_NAME = /\.jpe?g$/i;

/** The JPEG files of a folder, in name order, read into memory once. */
export async function loadPhotos(dir: string): Promise<Array<{ name: string; jpeg: Buffer }>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => JPEG_NAME.test(name)).sort();
  } catch (error) {
    throw new ConfigError(`cannot read images folder ${dir}: ${(error as Error).message}`);
  }
  const photos = [];
  for (const name of names) {
    const jpeg = await readFile(join(dir, name));
    if (looksLikeJpeg(jpeg)) photos.push({ name, jpeg });
  }
  if (photos.length === 0) throw new ConfigError(`no JPEG files (*.jpg, *.jpeg) in ${dir}`);
  return photos;
}

/** Delay before a device's next photo. Pure given `random`. */
export function nextDelay(intervalMs: number, jitter: boolean, random: () => number = Math.random): number {
  return jitter ? Math.round(intervalMs * (0.5 + random())) : intervalMs;
}

export async function startSimulator(config: SimulatorConfig): Promise<RunningSimulator> {
  const photos = await loadPhotos(config.imagesDir);
  const deviceIds = config.deviceIds ?? Array.from({ length: config.devices }, () => newDeviceId());
  const stats: SimulatorStats = { sent: 0, failed: 0 };
  const { logger } = config;
  let mqtt: MqttConnection | undefined;
  if (config.via === 'mqtt') {
    if (!config.mqtt) throw new ConfigError('the MQTT transport needs broker settings');
    mqtt = await MqttConnection.connect({
      config: config.mqtt,
      service: 'simulate',
      instanceId: config.instanceId,
      logger,
    });
  }
  const base = config.url.replace(/\/+$/, '');

  const send = async (deviceId: string, jpeg: Buffer): Promise<void> => {
    if (mqtt) {
      await mqtt.publish(mqtt.topics.deviceImage(deviceId), jpeg, { qos: 1 });
      return;
    }
    const response = await fetch(`${base}/v1/devices/${encodeURIComponent(deviceId)}/images`, {
      method: 'POST',
      headers: {
        'content-type': 'image/jpeg',
        ...(config.token ? { authorization: `Bearer ${config.token}` } : {}),
      },
      body: new Uint8Array(jpeg),
      signal: AbortSignal.timeout(30_000),
    });
    // 202: the broker is away and the photo waits in ingest's outbox; accepted all the same.
    if (response.status !== 201 && response.status !== 202) {
      const text = await response.text().catch(() => '');
      throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
    }
  };

  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const wakers = new Set<() => void>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        timers.delete(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timers.add(timer);
      wakers.add(wake);
    });

  const runDevice = async (deviceId: string, index: number) => {
    // Devices start spread over one interval rather than all at once.
    await sleep(Math.round((config.intervalMs * index) / deviceIds.length));
    for (let n = 0; !stopped && (config.count === undefined || n < config.count); n++) {
      const photo = photos[(index + n) % photos.length]!;
      try {
        await send(deviceId, photo.jpeg);
        stats.sent++;
      } catch (error) {
        stats.failed++;
        logger.warn({ deviceID: deviceId, photo: photo.name, err: (error as Error).message }, 'photo not accepted');
      }
      if (config.count !== undefined && n + 1 >= config.count) break;
      if (!stopped) await sleep(nextDelay(config.intervalMs, config.jitter));
    }
  };

  const done = Promise.all(deviceIds.map((id, index) => runDevice(id, index))).then(async () => {
    await mqtt?.close();
    return { ...stats };
  });

  return {
    deviceIds,
    stats,
    done,
    stop: async () => {
      stopped = true;
      for (const wake of [...wakers]) wake();
      return done;
    },
  };
}

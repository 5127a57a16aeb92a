/**
 * MQTT source: devices publish raw JPEG bytes on `<prefix>/devices/{deviceID}/image`. Every photo
 * that cannot be ingested becomes a dead-letter message and a log line; the source never stops.
 * It receives on a connection of its own, so that pausing reads for backpressure never holds up
 * the acknowledgements of the service's own publishes.
 */
import type { MqttConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { type DeadLetterMessage, MESSAGE_VERSION, nowSeconds } from '../core/messages.js';
import { MqttConnection } from '../core/mqtt.js';
import { wildcardLevel } from '../core/topics.js';
import { deadLetterReasonFor } from './failure.js';
import type { PhotoIngestor } from './photo-ingestor.js';

export interface MqttImageSourceOptions {
  /** Settings for the source's own receiving connection. */
  mqttConfig: MqttConfig;
  /** The service's connection, used to publish dead letters. */
  mqtt: MqttConnection;
  ingestor: PhotoIngestor;
  logger: Logger;
  instanceId: string;
  /** Photos decoded at the same time; more would only queue on 2 cores. Default 4. */
  concurrency?: number;
  /**
   * Photos received but not yet started before the source stops reading from the broker (the
   * broker then holds further messages, within its own queue limits). Default 16.
   */
  maxBacklog?: number;
}

export interface MqttImageSource {
  /** Resolves when every photo received so far has been handled. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** Dead letter for an image that arrived over MQTT (the JPEG bytes are not copied into it). Pure. */
export function imageDeadLetter(
  error: unknown,
  topic: string,
  deviceId: string | undefined,
  bytes: number,
  instanceId: string,
): DeadLetterMessage {
  return {
    type: 'dead-letter',
    version: MESSAGE_VERSION,
    reason: deadLetterReasonFor(error),
    detail: `${(error as Error).message} (${bytes} bytes received)`,
    service: 'ingest',
    instanceId,
    topic,
    ...(deviceId !== undefined ? { deviceID: deviceId } : {}),
    at: nowSeconds(),
  };
}

export async function startMqttImageSource(options: MqttImageSourceOptions): Promise<MqttImageSource> {
  const { mqtt, ingestor, logger, instanceId } = options;
  const receiver = MqttConnection.start({
    config: options.mqttConfig,
    service: 'ingest',
    instanceId: `${instanceId}-images`,
    logger,
    announceAvailability: false,
  });
  const filter = receiver.topics.deviceImageWildcard;
  const limit = options.concurrency ?? 4;
  const maxBacklog = options.maxBacklog ?? 16;
  const waiting: Array<() => Promise<void>> = [];
  /** Acknowledgements held back while the backlog is full (MQTT.js reads no further packet meanwhile). */
  const heldAcks: Array<() => void> = [];
  const running = new Set<Promise<void>>();
  let stopped = false;

  const pump = () => {
    while (running.size < limit && waiting.length > 0) {
      const job = waiting.shift()!;
      const task = job().finally(() => {
        running.delete(task);
        pump();
      });
      running.add(task);
    }
    while (heldAcks.length > 0 && (stopped || waiting.length < maxBacklog)) heldAcks.shift()!();
  };

  // Backpressure through MQTT.js's documented hook: it sends the PUBACK and reads the next packet
  // only after handleMessage's callback, so holding it back stops the flood at the broker.
  const client = receiver.client;
  const defaultHandleMessage = client.handleMessage.bind(client);
  client.handleMessage = (packet, callback) => {
    if (stopped || waiting.length < maxBacklog) defaultHandleMessage(packet, callback);
    else heldAcks.push(() => defaultHandleMessage(packet, callback));
  };

  const handle = async (topic: string, payload: Buffer) => {
    const deviceId = wildcardLevel(filter, topic);
    try {
      const metadata = await ingestor.ingest(deviceId ?? '', payload);
      logger.debug({ filePath: metadata.filePath, deviceID: deviceId }, 'photo ingested from MQTT');
    } catch (error) {
      const letter = imageDeadLetter(error, topic, deviceId, payload.length, instanceId);
      logger.warn({ topic, reason: letter.reason, detail: letter.detail }, 'photo from MQTT refused');
      await mqtt.publishJson(mqtt.topics.deadLetter, letter).catch((publishError: unknown) => {
        logger.error({ err: publishError, topic }, 'cannot publish dead letter');
      });
    }
  };

  receiver.onMessage(filter, (topic, payload) => {
    if (stopped) return;
    waiting.push(() => handle(topic, payload));
    pump();
  });
  // Clean session: subscribe on every (re)connection, including one after a broker outage at start.
  const subscribe = () =>
    receiver.subscribe([filter]).catch((error: unknown) => logger.error({ err: error, filter }, 'cannot subscribe'));
  let firstSubscription: Promise<void> | undefined;
  receiver.client.on('connect', () => {
    firstSubscription = subscribe();
  });
  // When the broker is reachable, return only once subscribed, so no photo published next is missed.
  if (mqtt.connected) {
    await receiver.waitForConnection(5_000).catch(() => undefined);
    await firstSubscription;
  }

  const idle = async () => {
    while (running.size > 0 || waiting.length > 0) await Promise.allSettled([...running]);
  };
  return {
    idle,
    stop: async () => {
      stopped = true;
      client.handleMessage = defaultHandleMessage;
      pump();
      await receiver.close();
      await idle();
    },
  };
}

/**
 * MQTT source: devices publish raw JPEG bytes on `<prefix>/devices/{deviceID}/image`. Every photo
 * that cannot be ingested becomes a dead-letter message and a log line; the source never stops.
 */
import type { Logger } from '../core/log.js';
import { type DeadLetterMessage, MESSAGE_VERSION, nowSeconds } from '../core/messages.js';
import type { MqttConnection } from '../core/mqtt.js';
import { wildcardLevel } from '../core/topics.js';
import { deadLetterReasonFor } from './failure.js';
import type { PhotoIngestor } from './photo-ingestor.js';

export interface MqttImageSourceOptions {
  mqtt: MqttConnection;
  ingestor: PhotoIngestor;
  logger: Logger;
  instanceId: string;
  /** Photos decoded at the same time; more would only queue on 2 cores. Default 4. */
  concurrency?: number;
  /**
   * Bytes of photos allowed to wait for a decode slot. A photo arriving when the queue is full is
   * dead-lettered as `overloaded` instead of growing memory without bound.
   */
  maxQueuedBytes: number;
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
  const filter = mqtt.topics.deviceImageWildcard;
  const limit = options.concurrency ?? 4;
  const waiting: Array<() => Promise<void>> = [];
  let queuedBytes = 0;
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

  const shed = (topic: string, payload: Buffer) => {
    const deviceId = wildcardLevel(filter, topic);
    const detail = `ingest queue full (${queuedBytes} bytes waiting, limit ${options.maxQueuedBytes}); photo dropped`;
    const letter: DeadLetterMessage = {
      ...imageDeadLetter(new Error(detail), topic, deviceId, payload.length, instanceId),
      reason: 'overloaded',
    };
    logger.warn({ topic, bytes: payload.length }, 'ingest queue full; photo from MQTT dropped');
    void mqtt.publishJson(mqtt.topics.deadLetter, letter).catch((publishError: unknown) => {
      logger.error({ err: publishError, topic }, 'cannot publish dead letter');
    });
  };

  mqtt.onMessage(filter, (topic, payload) => {
    if (stopped) return;
    if (queuedBytes + payload.length > options.maxQueuedBytes && waiting.length > 0) {
      shed(topic, payload);
      return;
    }
    queuedBytes += payload.length;
    waiting.push(() => {
      queuedBytes -= payload.length;
      return handle(topic, payload);
    });
    pump();
  });
  // MQTT.js resubscribes after reconnecting; if the broker is down now, subscribe once it is up.
  const subscribe = () =>
    mqtt.subscribe([filter]).catch((error: unknown) => logger.error({ err: error, filter }, 'cannot subscribe'));
  if (mqtt.connected) await subscribe();
  else {
    const stopWaiting = mqtt.onConnect(() => {
      stopWaiting();
      void subscribe();
    });
  }

  const idle = async () => {
    while (running.size > 0 || waiting.length > 0) await Promise.allSettled([...running]);
  };
  return {
    idle,
    stop: async () => {
      stopped = true;
      if (mqtt.connected) await mqtt.unsubscribe(filter).catch(() => undefined);
      await idle();
    },
  };
}

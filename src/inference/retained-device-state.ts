/**
 * A per-device value that engage keeps retained on `<prefix>/devices/<id>/<name>`: subscribed on every
 * (re)connect, validated, an empty payload removes it. Invalid payloads are logged and ignored, keeping
 * the last good value (a bad publish must not reset a camera to the defaults).
 */
import type { z } from 'zod';
import type { Logger } from '../core/log.js';
import { parseJsonMessage } from '../core/messages.js';
import type { MqttConnection } from '../core/mqtt.js';
import { wildcardLevel } from '../core/topics.js';

export interface RetainedDeviceState<T> {
  get(deviceId: string): T | undefined;
  /** Resolves once subscribed for the first time (retained values follow in order on the same connection). */
  readonly subscribed: Promise<void>;
  stop(): void;
}

export function watchRetainedDeviceState<T extends { deviceID: string }>(options: {
  connection: MqttConnection;
  wildcard: string;
  schema: z.ZodType<T>;
  logger: Logger;
  onChange?: (deviceId: string, value: T | undefined) => void;
}): RetainedDeviceState<T> {
  const { connection, wildcard, schema, logger } = options;
  const values = new Map<string, T>();
  let stopped = false;
  connection.onMessage(wildcard, (topic, payload) => {
    const deviceId = wildcardLevel(wildcard, topic);
    if (stopped || deviceId === undefined) return;
    if (payload.length === 0) {
      values.delete(deviceId);
      options.onChange?.(deviceId, undefined);
      return;
    }
    const parsed = parseJsonMessage(schema, payload);
    if (!parsed.ok || parsed.value.deviceID !== deviceId) {
      const detail = parsed.ok ? `deviceID ${parsed.value.deviceID} does not match the topic` : parsed.detail;
      logger.warn({ topic, detail }, 'ignoring an invalid retained device message; keeping the last good one');
      return;
    }
    values.set(deviceId, parsed.value);
    options.onChange?.(deviceId, parsed.value);
  });
  let markSubscribed: () => void = () => undefined;
  const subscribed = new Promise<void>((resolve) => {
    markSubscribed = resolve;
  });
  const subscribe = () =>
    connection
      .subscribe([wildcard], 1)
      .then(markSubscribed)
      .catch((error: unknown) => logger.error({ err: error, wildcard }, 'subscribe failed'));
  const stopSubscribing = connection.onConnect(subscribe);
  if (connection.connected) void subscribe();
  return {
    get: (deviceId) => values.get(deviceId),
    subscribed,
    stop() {
      stopped = true;
      stopSubscribing();
    },
  };
}

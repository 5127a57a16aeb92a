/**
 * Keeps copies of a device's photos for tuning while engage asks for them (a retained `collect`
 * request on `<prefix>/devices/<id>/collect`): the copy goes to TUNING_BUCKET before the photo is
 * counted and deleted, so the photo path itself never outlives its analysis. Engage owns the copies
 * from then on (labels them, deletes them on apply, cancel or expiry). A failed copy is logged and
 * never holds up counting.
 */
import { collectMessageSchema, TUNING_BUCKET, tuningKey } from '../core/live-profile.js';
import type { Logger } from '../core/log.js';
import type { MqttConnection } from '../core/mqtt.js';
import type { ObjectStore } from '../core/storage/index.js';
import { watchRetainedDeviceState } from './retained-device-state.js';

export interface TuningCollector {
  /** Copies the photo when its device is collecting; resolves either way. */
  keep(deviceId: string, photoKey: string, jpeg: Buffer, creationTimestamp: number): Promise<void>;
  stop(): void;
}

export function startTuningCollector(options: {
  connection: MqttConnection;
  store: ObjectStore;
  logger: Logger;
  nowSeconds: () => number;
}): TuningCollector {
  const { store, logger } = options;
  const requests = watchRetainedDeviceState({
    connection: options.connection,
    wildcard: options.connection.topics.deviceCollectWildcard,
    schema: collectMessageSchema,
    logger,
  });
  return {
    async keep(deviceId, photoKey, jpeg, creationTimestamp) {
      const request = requests.get(deviceId);
      if (!request || options.nowSeconds() > request.until) return;
      try {
        await store.put(TUNING_BUCKET, tuningKey(request.sessionId, photoKey), jpeg, {
          deviceid: deviceId,
          session: request.sessionId,
          created: String(creationTimestamp),
        });
      } catch (error) {
        logger.warn({ err: error, deviceId, photoKey }, 'could not keep a photo for tuning');
      }
    },
    stop: requests.stop,
  };
}

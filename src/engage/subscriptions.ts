/**
 * What engage takes in over MQTT: results (signature checked, validated, stored once, bad ones
 * dead-lettered) and the retained availability of services and devices. Subscribes again on every
 * (re)connect, QoS 1 on a persistent session, so that results published while engage was away are
 * delivered when it is back; the retained per-device counts fill in the latest count of any device
 * whose results the broker could not keep (e.g. it restarted without persistence). Retained device
 * states (and zone states) that the broker kept for a device or zone engage no longer publishes are cleared.
 */
import type { z } from 'zod';
import type { Logger } from '../core/log.js';
import type { MessageAuth } from '../core/message-auth.js';
import {
  type AvailabilityState,
  availabilityStates,
  type DeadLetterMessage,
  deadLetterMessageSchema,
  describeZodError,
  MESSAGE_VERSION,
  payloadExcerpt,
  type ResultMessage,
  resultMessageSchema,
  supersededMessageSchema,
} from '../core/messages.js';
import type { MqttConnection } from '../core/mqtt.js';
import { wildcardLevel } from '../core/topics.js';
import type { EngageEngine } from './engine.js';
import type { EngageMetrics } from './metrics.js';
import { outcomeOfDeadLetter, outcomeOfResult, outcomeOfSuperseded, type PhotoOutcomes } from './photo-outcomes.js';
import type { EngageStore } from './store.js';

export interface PipelineInputs {
  mqtt: MqttConnection;
  store: EngageStore;
  engine: EngageEngine;
  metrics: EngageMetrics;
  logger: Logger;
  instanceId: string;
  now: () => number;
  /** Uploads waiting for their photo's outcome. */
  outcomes: PhotoOutcomes;
  messageAuth: MessageAuth;
  /** Each verified, valid result of the results topic (the tuning flow), once it is stored. */
  onResult?: (result: ResultMessage) => void;
}

export function availabilityOf(payload: Buffer): AvailabilityState | undefined {
  const text = payload.toString('utf8').trim();
  return (availabilityStates as readonly string[]).includes(text) ? (text as AvailabilityState) : undefined;
}

/**
 * Registers the handlers; `subscribed` resolves after the first successful subscription, and
 * `isSubscribed` says whether the current connection's subscription is in place (a broker that
 * lost the session delivers nothing until engage has subscribed again).
 */
export function subscribeToPipeline(inputs: PipelineInputs): { subscribed: Promise<void>; isSubscribed(): boolean } {
  const { mqtt, store, engine, metrics, logger, instanceId, now, outcomes, messageAuth, onResult } = inputs;
  const { topics } = mqtt;
  const deviceCounts = topics.deviceCount('+');
  const deadLetter = (topic: string, payload: Buffer, reason: 'invalid-json' | 'invalid-schema', detail: string) => {
    metrics.invalidMessages.inc();
    logger.warn({ topic, reason, detail }, 'invalid result message; sent to dead letter');
    const message: DeadLetterMessage = {
      type: 'dead-letter',
      version: MESSAGE_VERSION,
      reason,
      detail,
      service: 'engage',
      instanceId,
      topic,
      payload: payloadExcerpt(payload),
      at: now(),
    };
    mqtt
      .publishJson(topics.deadLetter, message)
      .catch((error: unknown) => logger.warn({ err: error }, 'could not publish dead letter'));
  };

  const recordResult = (topic: string, payload: Buffer, live: boolean) => {
    const verified = messageAuth.verify(topic, payload);
    if (!verified.ok) {
      if (verified.reason === 'invalid-json') return deadLetter(topic, payload, verified.reason, verified.detail);
      // Not dead-lettered: whoever can forge a result could otherwise flood the dead-letter topic too.
      metrics.unauthenticatedMessages.inc({ reason: verified.reason });
      logger.warn({ topic, reason: verified.reason, detail: verified.detail }, 'unauthenticated result dropped');
      return;
    }
    const parsed = resultMessageSchema.safeParse(verified.value);
    if (!parsed.success) return deadLetter(topic, payload, 'invalid-schema', describeZodError(parsed.error));
    const result = parsed.data;
    outcomes.settle(result.filePath, outcomeOfResult(result));
    storeResult(result);
    if (live) onResult?.(result);
  };
  const storeResult = (result: ResultMessage) => {
    try {
      if (store.recordResult(result, now()) === 'duplicate') {
        metrics.duplicatesIgnored.inc();
        return;
      }
    } catch (error) {
      logger.error({ err: error, resultId: result.resultId }, 'could not store result');
      return;
    }
    metrics.resultsStored.inc();
    void engine.refresh();
  };
  mqtt.onMessage(topics.results, (topic, payload) => recordResult(topic, payload, true));
  // Only the retained copy matters (it is the reconciliation at subscribe); live copies duplicate results.
  mqtt.onMessage(deviceCounts, (topic, payload, packet) => {
    if (packet.retain && payload.length > 0) recordResult(topic, payload, false);
  });

  // The other two outcomes matter only to uploads waiting for them; anything unusable is ignored here.
  // Signed like results: a forged outcome must not answer an upload either.
  const verifiedOutcome = <T>(topic: string, payload: Buffer, schema: z.ZodType<T>): T | undefined => {
    const verified = messageAuth.verify(topic, payload);
    if (!verified.ok) return undefined;
    const parsed = schema.safeParse(verified.value);
    return parsed.success ? parsed.data : undefined;
  };
  mqtt.onMessage(topics.superseded, (topic, payload) => {
    const superseded = verifiedOutcome(topic, payload, supersededMessageSchema);
    if (superseded) outcomes.settle(superseded.filePath, outcomeOfSuperseded(superseded));
  });
  mqtt.onMessage(topics.deadLetter, (topic, payload) => {
    const failed = verifiedOutcome(topic, payload, deadLetterMessageSchema);
    if (failed?.filePath) outcomes.settle(failed.filePath, outcomeOfDeadLetter(failed));
  });

  mqtt.onMessage(topics.deviceStateWildcard, (topic, payload, packet) => {
    const deviceId = wildcardLevel(topics.deviceStateWildcard, topic);
    if (!packet.retain || payload.length === 0 || deviceId === undefined) return;
    engine
      .clearOrphanedState(deviceId)
      .catch((error: unknown) => logger.warn({ err: error, deviceId }, 'could not clear a retained device state'));
  });
  mqtt.onMessage(topics.deviceZoneWildcard, (topic, payload, packet) => {
    const [deviceId, zoneId] = topic.slice(`${topics.prefix}/devices/`.length).split('/zones/');
    if (!packet.retain || payload.length === 0 || !deviceId || !zoneId) return;
    engine
      .clearOrphanedZone(deviceId, zoneId)
      .catch((error: unknown) => logger.warn({ err: error, topic }, 'could not clear a retained zone state'));
  });
  mqtt.onMessage(topics.availabilityWildcard, (topic, payload) => {
    const [, service, instanceId] = topic.slice(topics.prefix.length).split('/');
    const state = availabilityOf(payload);
    if (service && instanceId && state) engine.setServiceAvailability(service, instanceId, state);
  });
  mqtt.onMessage(topics.deviceAvailabilityWildcard, (topic, payload) => {
    const deviceId = wildcardLevel(topics.deviceAvailabilityWildcard, topic);
    const state = availabilityOf(payload);
    if (deviceId && state) engine.setDeviceAvailability(deviceId, state);
  });

  let markSubscribed: () => void = () => undefined;
  const subscribed = new Promise<void>((resolve) => {
    markSubscribed = resolve;
  });
  let subscribedNow = false;
  mqtt.onDisconnect(() => {
    subscribedNow = false;
  });
  mqtt.onConnect(() => {
    mqtt
      .subscribe(
        [
          topics.results,
          deviceCounts,
          topics.deviceStateWildcard,
          topics.deviceZoneWildcard,
          topics.superseded,
          topics.deadLetter,
          topics.availabilityWildcard,
          topics.deviceAvailabilityWildcard,
        ],
        1,
      )
      .then(() => {
        subscribedNow = mqtt.connected;
        markSubscribed();
        return engine.republish();
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not subscribe'));
  });
  return { subscribed, isSubscribed: () => subscribedNow };
}

/**
 * What engage takes in over MQTT: results (validated, stored once, bad ones dead-lettered) and the
 * retained availability of services and devices. Subscribes again on every (re)connect.
 */
import type { Logger } from '../core/log.js';
import {
  type AvailabilityState,
  availabilityStates,
  type DeadLetterMessage,
  deadLetterMessageSchema,
  MESSAGE_VERSION,
  parseJsonMessage,
  payloadExcerpt,
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
}

export function availabilityOf(payload: Buffer): AvailabilityState | undefined {
  const text = payload.toString('utf8').trim();
  return (availabilityStates as readonly string[]).includes(text) ? (text as AvailabilityState) : undefined;
}

/** Registers the handlers; `subscribed` resolves after the first successful subscription. */
export function subscribeToPipeline(inputs: PipelineInputs): { subscribed: Promise<void> } {
  const { mqtt, store, engine, metrics, logger, instanceId, now, outcomes } = inputs;
  const { topics } = mqtt;
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

  mqtt.onMessage(topics.results, (topic, payload) => {
    const parsed = parseJsonMessage(resultMessageSchema, payload);
    if (!parsed.ok) return deadLetter(topic, payload, parsed.reason, parsed.detail);
    outcomes.settle(parsed.value.filePath, outcomeOfResult(parsed.value));
    try {
      if (store.recordResult(parsed.value, now()) === 'duplicate') {
        metrics.duplicatesIgnored.inc();
        return;
      }
    } catch (error) {
      logger.error({ err: error, resultId: parsed.value.resultId }, 'could not store result');
      return;
    }
    metrics.resultsStored.inc();
    void engine.refresh();
  });

  // The other two outcomes matter only to uploads waiting for them; anything unusable is ignored here.
  mqtt.onMessage(topics.superseded, (_topic, payload) => {
    const parsed = parseJsonMessage(supersededMessageSchema, payload);
    if (parsed.ok) outcomes.settle(parsed.value.filePath, outcomeOfSuperseded(parsed.value));
  });
  mqtt.onMessage(topics.deadLetter, (_topic, payload) => {
    const parsed = parseJsonMessage(deadLetterMessageSchema, payload);
    if (parsed.ok && parsed.value.filePath) outcomes.settle(parsed.value.filePath, outcomeOfDeadLetter(parsed.value));
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
  mqtt.client.on('connect', () => {
    mqtt
      .subscribe([
        topics.results,
        topics.superseded,
        topics.deadLetter,
        topics.availabilityWildcard,
        topics.deviceAvailabilityWildcard,
      ])
      .then(() => {
        markSubscribed();
        return engine.republish();
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not subscribe'));
  });
  return { subscribed };
}

/**
 * What engage takes in over MQTT: results (validated, stored once, bad ones dead-lettered) and the
 * retained availability of services and devices. Subscribes again on every (re)connect.
 */
import type { Logger } from '../core/log.js';
import {
  type AvailabilityState,
  availabilityStates,
  type DeadLetterMessage,
  MESSAGE_VERSION,
  parseJsonMessage,
  payloadExcerpt,
  resultMessageSchema,
} from '../core/messages.js';
import type { MqttConnection } from '../core/mqtt.js';
import { wildcardLevel } from '../core/topics.js';
import type { EngageEngine } from './engine.js';
import type { EngageMetrics } from './metrics.js';
import type { EngageStore } from './store.js';

export interface PipelineInputs {
  mqtt: MqttConnection;
  store: EngageStore;
  engine: EngageEngine;
  metrics: EngageMetrics;
  logger: Logger;
  instanceId: string;
  now: () => number;
}

export function availabilityOf(payload: Buffer): AvailabilityState | undefined {
  const text = payload.toString('utf8').trim();
  return (availabilityStates as readonly string[]).includes(text) ? (text as AvailabilityState) : undefined;
}

/** Registers the handlers; `subscribed` resolves after the first successful subscription. */
export function subscribeToPipeline(inputs: PipelineInputs): { subscribed: Promise<void> } {
  const { mqtt, store, engine, metrics, logger, instanceId, now } = inputs;
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
      .subscribe([topics.results, topics.availabilityWildcard, topics.deviceAvailabilityWildcard])
      .then(() => {
        markSubscribed();
        return engine.republish();
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not subscribe'));
  });
  return { subscribed };
}

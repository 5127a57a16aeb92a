import { type RunningBroker, startBroker } from '../../src/broker/broker.js';
import { defaultMqttConfig, type MqttConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/log.js';

/** The embedded aedes broker on a free loopback port. */
export function startEmbeddedBroker(): Promise<RunningBroker> {
  return startBroker({ host: '127.0.0.1', port: 0, logger: silentLogger() });
}

export function mqttConfigFor(url: string, overrides: Partial<MqttConfig> = {}): MqttConfig {
  return defaultMqttConfig({ url, ...overrides });
}

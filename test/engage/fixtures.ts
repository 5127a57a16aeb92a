/** Result messages and a running engage service for the engage tests. */
import { randomUUID } from 'node:crypto';
import type { RunningBroker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/core/log.js';
import { MESSAGE_VERSION, type ResultMessage } from '../../src/core/messages.js';
import { type EngageSettings, engageConfig } from '../../src/engage/config.js';
import { type EngageDeps, type EngageService, startEngageService } from '../../src/engage/service.js';
import { mqttConfigFor } from '../helpers/broker.js';

export function result(
  deviceID: string,
  count: number,
  creationTimestamp: number,
  resultId: string = randomUUID(),
): ResultMessage {
  return {
    type: 'result',
    version: MESSAGE_VERSION,
    resultId,
    deviceID,
    count,
    filePath: `people-counter-images/image${randomUUID()}.jpg`,
    creationTimestamp,
    superseded: 0,
    batchId: 'batch-1',
    instanceId: 'test',
    model: 'test-model',
    analysedAt: creationTimestamp + 0.5,
    latencyMs: 500,
    reprocessed: false,
  };
}

export async function startEngage(
  broker: RunningBroker,
  settings: Partial<EngageSettings> = {},
  deps: Partial<EngageDeps> = {},
): Promise<EngageService> {
  const config = engageConfig(mqttConfigFor(broker.url), `t${randomUUID().slice(0, 8)}`, {
    port: 0,
    dbPath: ':memory:',
    ...settings,
  });
  const engage = await startEngageService(config, { logger: silentLogger(), ...deps });
  await engage.subscribed;
  return engage;
}

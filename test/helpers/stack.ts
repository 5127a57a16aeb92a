/** The `up` config and the photo upload that the stack tests share. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { parseAnalyticsSpec } from '../../src/analytics/counter-spec.js';
import type { StackConfig } from '../../src/stack/stack.js';
import { freePorts } from './net.js';
import { type ServiceProcess, spawnProcess } from './processes.js';

/**
 * A whole stack in `dataDir` on free loopback ports, counting with the 5 ms stand-in for the model;
 * one inference instance, and no metrics server unless `overrides` gives a `metricsPort`.
 */
export function testStackConfig(dataDir: string, overrides: Partial<StackConfig> = {}): StackConfig {
  return {
    dataDir,
    host: '127.0.0.1',
    engagePort: 0,
    ingestPort: 0,
    mqttPort: 0,
    mqtt: {},
    analytics: parseAnalyticsSpec('fixed-delay:5'),
    inferenceInstances: 1,
    batchSize: 4,
    maxWaitMs: 100,
    drainMs: 5000,
    name: `test-${randomUUID().slice(0, 8)}`,
    ...overrides,
  };
}

/** Posts a photo as `deviceId` to ingest's REST API (with the device's secret when given); it must be taken (201). */
export async function postPhoto(ingestUrl: string, deviceId: string, jpeg: Buffer, secret?: string): Promise<void> {
  const response = await fetch(`${ingestUrl}/v1/devices/${deviceId}/images`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: new Uint8Array(jpeg),
  });
  assert.equal(response.status, 201, await response.text());
}

export interface UpOnFreePorts {
  up: ServiceProcess;
  engagePort: number;
  ingestPort: number;
  mqttPort: number;
  metricsPort: number;
}

/**
 * `people-counter up` in `dataDir` on free loopback ports, with an open dashboard (writes without a
 * token: the callers post as a local user does) and `args` after the ports; `nodeArgs` go to Node.
 */
export async function spawnUp(dataDir: string, args: string[] = [], nodeArgs: string[] = []): Promise<UpOnFreePorts> {
  const [engagePort = 0, ingestPort = 0, mqttPort = 0, metricsPort = 0] = await freePorts(4);
  const up = spawnProcess(
    'up',
    [
      'up',
      ...['--data-dir', dataDir, '--engage-port', String(engagePort), '--ingest-port', String(ingestPort)],
      ...['--mqtt-port', String(mqttPort), '--metrics-port', String(metricsPort), ...args],
    ],
    { PEOPLE_COUNTER_ENGAGE_TOKEN: '' },
    undefined,
    nodeArgs,
  );
  return { up, engagePort, ingestPort, mqttPort, metricsPort };
}

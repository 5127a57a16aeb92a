import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { ingestCommand, ingestConfigFromOptions } from '../../src/cli/commands/ingest.js';
import { ConfigError } from '../../src/core/config.js';

/** Parses argv through the real command definition without running it. */
function optionsOf(argv: string[]): unknown {
  const command = ingestCommand().exitOverride();
  command.action(() => undefined);
  command.parse(argv, { from: 'user' });
  return command.opts();
}

describe('people-counter ingest options', () => {
  test('defaults', () => {
    const config = ingestConfigFromOptions(optionsOf([]), {});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8081);
    assert.deepEqual(config.limits, { maxBytes: 10_000_000, maxPixels: 24_000_000 });
    assert.equal(config.maxClockSkewMs, 300_000);
    assert.equal(config.allowAnyDeviceId, false);
    assert.equal(config.mqttImages, true);
    assert.equal(config.mqttMaxQueuedBytes, 200_000_000);
    assert.equal(config.token, undefined);
    assert.equal(config.watch, undefined);
    assert.equal(config.camera, undefined);
    assert.deepEqual(config.outbox, { dir: './people-counter-data/ingest-outbox', maxDevices: 10_000 });
  });

  test('the outbox: its directory and cap; a cap of 0 turns it off', () => {
    const config = ingestConfigFromOptions(
      optionsOf(['--outbox-dir', '/var/lib/pc/outbox', '--outbox-max-devices', '50']),
      {},
    );
    assert.deepEqual(config.outbox, { dir: '/var/lib/pc/outbox', maxDevices: 50 });
    assert.equal(ingestConfigFromOptions(optionsOf(['--outbox-max-devices', '0']), {}).outbox, undefined);
    assert.throws(() => optionsOf(['--outbox-max-devices', '-1']), /whole number/);
  });

  test('sources, limits and the token from the environment', () => {
    const device = randomUUID();
    const config = ingestConfigFromOptions(
      optionsOf([
        '--max-image-size',
        '2MiB',
        '--max-pixels',
        '1000000',
        '--no-mqtt-images',
        '--camera-command',
        'cat x.jpg',
        '--interval',
        '30s',
        '--device',
        device,
        '--watch',
        './inbox',
      ]),
      { PEOPLE_COUNTER_INGEST_TOKEN: 'tok' },
    );
    assert.deepEqual(config.limits, { maxBytes: 2_097_152, maxPixels: 1_000_000 });
    assert.equal(config.mqttImages, false);
    assert.equal(config.token, 'tok');
    assert.deepEqual(config.camera, { command: 'cat x.jpg', deviceId: device, intervalMs: 30_000, timeoutMs: 30_000 });
    assert.deepEqual(config.watch, { dir: './inbox', deviceId: undefined, moveTo: undefined });
  });

  test('inconsistent options are refused with a clear message', () => {
    assert.throws(() => ingestConfigFromOptions(optionsOf(['--camera-command', 'x']), {}), /needs --device/);
    assert.throws(() => ingestConfigFromOptions(optionsOf(['--move-to', 'done']), {}), /only makes sense with --watch/);
    assert.throws(
      () => ingestConfigFromOptions(optionsOf(['--watch', 'in', '--device', 'cam-1']), {}),
      (error: unknown) => error instanceof ConfigError && /UUID v4/.test(error.message),
    );
    assert.doesNotThrow(() =>
      ingestConfigFromOptions(optionsOf(['--watch', 'in', '--device', 'cam-1', '--allow-any-device-id']), {}),
    );
  });
});

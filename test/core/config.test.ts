import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ConfigError,
  defaultMqttConfig,
  formatDuration,
  parseByteSize,
  parseDuration,
  parseStorageSpec,
  readSecret,
  validateMqttConfig,
} from '../../src/core/config.js';

describe('config', () => {
  test('durations', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('250'), 250);
    assert.throws(() => parseDuration('soon'), ConfigError);
  });

  test('durations are shown in the largest exact unit and parse back', () => {
    for (const [ms, text] of [
      [250, '250ms'],
      [5_000, '5s'],
      [90_000, '90s'],
      [120_000, '2m'],
      [7_776_000_000, '90d'],
      [0, '0ms'],
    ] as const) {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    }
  });

  test('byte sizes', () => {
    assert.equal(parseByteSize('10MB'), 10_000_000);
    assert.equal(parseByteSize('512KiB'), 524_288);
    assert.equal(parseByteSize('2000'), 2000);
    assert.throws(() => parseByteSize('big'), ConfigError);
  });

  test('secrets from the environment or a *_FILE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-secret-'));
    try {
      await writeFile(join(dir, 'pw'), 'from-file\n');
      assert.equal(readSecret({ PW: 'plain' }, 'PW'), 'plain');
      assert.equal(readSecret({ PW: '' }, 'PW'), undefined);
      assert.equal(readSecret({ PW: 'plain', PW_FILE: join(dir, 'pw') }, 'PW'), 'from-file');
      assert.throws(() => readSecret({ PW_FILE: join(dir, 'missing') }, 'PW'), ConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('storage specs', () => {
    assert.deepEqual(parseStorageSpec('./data', {}), { kind: 'local', dir: './data' });
    assert.deepEqual(parseStorageSpec('file:/srv/x', {}), { kind: 'local', dir: '/srv/x' });
    assert.deepEqual(
      parseStorageSpec('s3://minio:9000?region=eu-west-1', { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' }),
      {
        kind: 's3',
        endpoint: 'http://minio:9000',
        region: 'eu-west-1',
        forcePathStyle: true,
        accessKeyId: 'k',
        secretAccessKey: 's',
      },
    );
    const aws = parseStorageSpec('s3://', { AWS_REGION: 'us-west-2' });
    assert.ok(aws.kind === 's3' && aws.endpoint === undefined && aws.region === 'us-west-2' && !aws.forcePathStyle);
    const tls = parseStorageSpec('s3://host:443?tls=true', {});
    assert.ok(tls.kind === 's3' && tls.endpoint === 'https://host:443');
    assert.throws(() => parseStorageSpec('file:', {}), ConfigError);
  });

  test('MQTT settings are validated', () => {
    const config = defaultMqttConfig({ prefix: 'site' });
    assert.equal(config.metadataTopic, 'site/images');
    assert.equal(defaultMqttConfig({ metadataTopic: 'image/latest' }).metadataTopic, 'image/latest');
    assert.throws(() => validateMqttConfig({ ...config, url: 'http://x' }), ConfigError);
    assert.throws(() => validateMqttConfig({ ...config, prefix: 'a/#' }), ConfigError);
    assert.throws(() => validateMqttConfig({ ...config, prefix: '/a' }), ConfigError);
    assert.throws(() => validateMqttConfig({ ...config, metadataTopic: 'x/+' }), ConfigError);
  });
});

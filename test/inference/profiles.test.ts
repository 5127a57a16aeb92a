import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readProfiles } from '../../src/cli/commands/inference.js';
import { ConfigError } from '../../src/core/config.js';
import { parseAnalyticsSpec } from '../../src/inference/counter-spec.js';

test('--profiles: a validated map of device ID to camera profile', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-profiles-'));
  const good = join(dir, 'good.json');
  await writeFile(good, JSON.stringify({ 'cam-1': { scoreThreshold: 0.4, correction: { scale: 1.1, offset: 0 } } }));
  assert.deepEqual(readProfiles(good), { 'cam-1': { scoreThreshold: 0.4, correction: { scale: 1.1, offset: 0 } } });
  assert.deepEqual(readProfiles(undefined), {});
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ 'cam/#': {}, 'cam-2': { scoreThreshold: 7 } }));
  assert.throws(
    () => readProfiles(bad),
    (error: unknown) => error instanceof ConfigError && /cam-2/.test(error.message),
  );
  assert.throws(() => readProfiles(join(dir, 'missing.json')), ConfigError);
});

test('--analytics: local, an http(s) URL, or the labelled fixed-delay stand-in', () => {
  assert.deepEqual(parseAnalyticsSpec('local'), { kind: 'local' });
  assert.deepEqual(parseAnalyticsSpec('fixed-delay:50'), { kind: 'fixed-delay', delayMs: 50 });
  assert.deepEqual(parseAnalyticsSpec('https://analytics:8082'), { kind: 'http', url: 'https://analytics:8082/' });
  assert.throws(() => parseAnalyticsSpec('tensorflow'), ConfigError);
});

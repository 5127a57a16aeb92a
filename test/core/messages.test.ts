import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEAD_LETTER_PAYLOAD_LIMIT,
  metadataTopicMessageSchema,
  parseJsonMessage,
  payloadExcerpt,
  photoMetadataSchema,
  type ResultMessage,
  resultMessageSchema,
  toLegacyResult,
} from '../../src/core/messages.js';

const filePath = 'people-counter-images/image0b5c4a36-5d0e-4a4b-9a3c-1f2e3d4c5b6a.jpg';
const seed = { type: 'data', deviceID: '0b5c4a36-5d0e-4a4b-9a3c-1f2e3d4c5b6a', filePath, creationTimestamp: 1.7e9 };

describe('messages', () => {
  test('seed-format metadata parses; extra fields are dropped', () => {
    const parsed = parseJsonMessage(photoMetadataSchema, JSON.stringify({ ...seed, extra: 1 }));
    assert.deepEqual(parsed, { ok: true, value: seed });
  });

  test('parse failures say what is wrong', () => {
    assert.deepEqual(
      { ...parseJsonMessage(photoMetadataSchema, '{nope'), detail: undefined },
      { ok: false, reason: 'invalid-json', detail: undefined },
    );
    const ms = parseJsonMessage(
      photoMetadataSchema,
      Buffer.from(JSON.stringify({ ...seed, creationTimestamp: 1.7e12 })),
    );
    assert.equal(ms.ok, false);
    assert.ok(!ms.ok && ms.reason === 'invalid-schema' && /milliseconds/.test(ms.detail));
    const device = parseJsonMessage(photoMetadataSchema, JSON.stringify({ ...seed, deviceID: 'a/b' }));
    assert.ok(!device.ok && /deviceID: .*separator/.test(device.detail));
    const path = parseJsonMessage(photoMetadataSchema, JSON.stringify({ ...seed, filePath: 'other/x.jpg' }));
    assert.ok(!path.ok && /filePath/.test(path.detail));
  });

  test('the metadata topic carries data and legacy results', () => {
    const result: ResultMessage = resultMessageSchema.parse({
      type: 'result',
      version: 1,
      resultId: 'r1',
      deviceID: seed.deviceID,
      count: 3,
      filePath,
      creationTimestamp: 1.7e9,
      superseded: 0,
      batchId: 'b',
      instanceId: 'i',
      model: 'm',
      analysedAt: 1.7e9 + 1,
      latencyMs: 1000,
    });
    assert.equal(result.reprocessed, false, 'defaults to false');
    const legacy = toLegacyResult(result);
    assert.deepEqual(legacy.analysisMetadata, { results: { count: 3 } });
    assert.equal(metadataTopicMessageSchema.parse(legacy).type, 'result');
    assert.equal(metadataTopicMessageSchema.parse(seed).type, 'data');
  });

  test('payload excerpts are bounded', () => {
    assert.equal(payloadExcerpt('short'), 'short');
    const long = payloadExcerpt(Buffer.from('x'.repeat(DEAD_LETTER_PAYLOAD_LIMIT * 2)));
    assert.equal(long.length, DEAD_LETTER_PAYLOAD_LIMIT + 1);
  });
});

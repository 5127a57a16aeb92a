import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  deviceIdProblem,
  filePathOf,
  IMAGE_BUCKET,
  isUuidV4,
  newDeviceId,
  newImageKey,
  parseFilePath,
} from '../../src/core/ids.js';

describe('ids', () => {
  test('isUuidV4 accepts v4 only', () => {
    assert.ok(isUuidV4(newDeviceId()));
    assert.ok(isUuidV4('0B5C4A36-5D0E-4A4B-9A3C-1F2E3D4C5B6A'));
    assert.equal(isUuidV4('0b5c4a36-5d0e-1a4b-9a3c-1f2e3d4c5b6a'), false, 'version 1');
    assert.equal(isUuidV4('0b5c4a36-5d0e-4a4b-7a3c-1f2e3d4c5b6a'), false, 'wrong variant');
    assert.equal(isUuidV4('not-a-uuid'), false);
  });

  test('deviceIdProblem accepts safe IDs and explains refusals', () => {
    for (const ok of [newDeviceId(), 'edge-42', 'site:cam@3', 'a.b_c']) assert.equal(deviceIdProblem(ok), null, ok);
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['x'.repeat(129), /longer than 128/],
      ['a/b', /wildcard or separator/],
      ['a#', /wildcard or separator/],
      ['a+b', /wildcard or separator/],
      ['a..b', /"\.\."/],
      ['a\u0000b', /control characters/],
      ['-leading', /must start with a letter or digit/],
      ['white space', /may contain only/],
    ];
    for (const [id, reason] of cases) assert.match(deviceIdProblem(id) ?? '', reason, JSON.stringify(id));
  });

  test('new image keys parse back as photos of our bucket', () => {
    const key = newImageKey();
    assert.match(key, /^image[0-9a-f-]{36}\.jpg$/);
    assert.notEqual(newImageKey(), key);
    assert.deepEqual(parseFilePath(filePathOf(key)), { bucket: IMAGE_BUCKET, key });
  });

  test('parseFilePath accepts both name patterns and refuses everything else', () => {
    const uuid = '0b5c4a36-5d0e-4a4b-9a3c-1f2e3d4c5b6a';
    assert.deepEqual(parseFilePath(`${IMAGE_BUCKET}/image-${uuid}.jpg`), {
      bucket: IMAGE_BUCKET,
      key: `image-${uuid}.jpg`,
    });
    const refused: Array<[string, RegExp]> = [
      [`image${uuid}.jpg`, /no bucket/],
      [`other/image${uuid}.jpg`, /not in bucket/],
      [`${IMAGE_BUCKET}/../image${uuid}.jpg`, /separator or traversal/],
      [`${IMAGE_BUCKET}/a/image${uuid}.jpg`, /separator or traversal/],
      [`${IMAGE_BUCKET}/photo.jpg`, /not named/],
    ];
    for (const [path, reason] of refused) {
      const parsed = parseFilePath(path);
      assert.ok('problem' in parsed, path);
      assert.match(parsed.problem, reason, path);
    }
  });
});

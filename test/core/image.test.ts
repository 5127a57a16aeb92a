import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import {
  asJpeg,
  DEFAULT_IMAGE_LIMITS,
  ImageRejectedError,
  inspectJpeg,
  looksLikeJpeg,
  photoFormat,
} from '../../src/core/image.js';
import { heicHeader, hugeHeaderJpeg, noiseJpeg, solidJpeg, truncated } from '../helpers/fixtures.js';

async function problemOf(buffer: Buffer, limits = DEFAULT_IMAGE_LIMITS): Promise<string> {
  try {
    await inspectJpeg(buffer, limits);
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof ImageRejectedError);
    return error.problem;
  }
}

describe('inspectJpeg', () => {
  test('accepts a whole JPEG and reports its size', async () => {
    assert.deepEqual(await inspectJpeg(await solidJpeg(64, 48)), { width: 64, height: 48 });
  });

  test('names each problem', async () => {
    const noise = await noiseJpeg();
    assert.equal(await problemOf(Buffer.alloc(0)), 'empty');
    assert.equal(await problemOf(Buffer.from('GIF89a')), 'not-jpeg');
    assert.equal(await problemOf(noise, { maxBytes: noise.length - 1, maxPixels: 1e9 }), 'too-large');
    assert.equal(await problemOf(await solidJpeg(100, 100), { maxBytes: 1e9, maxPixels: 9_999 }), 'too-many-pixels');
    assert.equal(await problemOf(truncated(noise)), 'truncated');
    assert.equal(await problemOf(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])), 'undecodable');
  });

  test('a decompression bomb header is refused as too-many-pixels before decoding', async () => {
    // 20000×20000 = 400 M pixels: above sharp's own default limit, which must not mask our reason.
    assert.equal(await problemOf(await hugeHeaderJpeg()), 'too-many-pixels');
    assert.equal(await problemOf(await hugeHeaderJpeg(8000, 8000)), 'too-many-pixels');
    // The probe's case: a tiny file whose header says 7000×7000 (49 MP) was decoded in full.
    const bomb = await hugeHeaderJpeg(7000, 7000);
    assert.ok(bomb.length < 1000);
    assert.equal(await problemOf(bomb), 'too-many-pixels');
  });

  test('looksLikeJpeg checks the signature only', () => {
    assert.ok(looksLikeJpeg(Buffer.from([0xff, 0xd8, 0xff])));
    assert.equal(looksLikeJpeg(Buffer.from([0xff, 0xd8])), false);
  });
});

describe('asJpeg', () => {
  const picture = () =>
    sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 90, b: 200, alpha: 0.5 } } });

  test('keeps a JPEG, converts PNG and WebP to a JPEG of the same size', async () => {
    const jpeg = await solidJpeg(40, 30);
    assert.equal(await asJpeg(jpeg), jpeg);
    for (const source of [await picture().png().toBuffer(), await picture().webp().toBuffer()]) {
      const converted = await asJpeg(source);
      assert.equal(photoFormat(converted), 'jpeg');
      assert.deepEqual(await inspectJpeg(converted), { width: 40, height: 30 });
    }
  });

  test('refuses HEIC as unsupported and anything else naming the accepted formats', async () => {
    const problem = async (buffer: Buffer) =>
      asJpeg(buffer).then(
        () => 'accepted',
        (error: unknown) => (error instanceof ImageRejectedError ? `${error.problem}: ${error.message}` : 'other'),
      );
    assert.match(await problem(heicHeader()), /^unsupported-format: HEIC\/HEIF photos are not supported/);
    assert.match(await problem(Buffer.from('just some text')), /^not-jpeg: .*JPEG, PNG or WebP/);
    const png = await picture().png().toBuffer();
    assert.match(await problem(truncated(png, 0.6)), /^(truncated|undecodable): PNG cannot be converted/);
    assert.match(await problem(png), /^accepted/);
    assert.match(await problem(Buffer.concat([png, Buffer.alloc(100)])), /^accepted/);
  });
});

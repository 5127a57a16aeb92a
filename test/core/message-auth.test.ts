import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/core/config.js';
import {
  createMessageAuth,
  generateMessageSecret,
  keptMessageSecret,
  MESSAGE_SECRET_FILE,
  SIGNATURE_FIELD,
} from '../../src/core/message-auth.js';

const topic = 'people-counter/coordination';
const message = { type: 'done', version: 1, claimId: 'c1', items: ['a', 'b'], at: 1700000000.123 };

describe('message auth', () => {
  test('a signed message verifies on its topic and comes back without the signature', () => {
    const auth = createMessageAuth(generateMessageSecret());
    const payload = auth.sign(topic, message);
    assert.equal(typeof JSON.parse(payload)[SIGNATURE_FIELD], 'string');
    assert.deepEqual(auth.verify(topic, Buffer.from(payload)), { ok: true, value: message });
  });

  test('unsigned, altered, re-topiced or foreign-secret messages are refused with a reason', () => {
    const auth = createMessageAuth('a'.repeat(32));
    const payload = auth.sign(topic, message);
    const unsigned = auth.verify(topic, JSON.stringify(message));
    assert.ok(!unsigned.ok && unsigned.reason === 'unsigned');
    const altered = auth.verify(topic, payload.replace('"c1"', '"c2"'));
    assert.ok(!altered.ok && altered.reason === 'bad-signature');
    const otherTopic = auth.verify('people-counter/results', payload);
    assert.ok(!otherTopic.ok && otherTopic.reason === 'bad-signature');
    const foreign = createMessageAuth('b'.repeat(32)).verify(topic, payload);
    assert.ok(!foreign.ok && foreign.reason === 'bad-signature');
    const garbage = auth.verify(topic, '{nope');
    assert.ok(!garbage.ok && garbage.reason === 'invalid-json');
    const array = auth.verify(topic, '[1,2]');
    assert.ok(!array.ok && array.reason === 'unsigned');
    const badBase64 = auth.verify(topic, JSON.stringify({ ...message, sig: '!!' }));
    assert.ok(!badBase64.ok && badBase64.reason === 'bad-signature');
  });

  test('the wire form is the JSON body with the signature as its last field', () => {
    const auth = createMessageAuth(generateMessageSecret());
    for (const body of [message, {}, { 2: 'numeric key', a: [1, { b: null }] }]) {
      const payload = auth.sign(topic, body);
      const { [SIGNATURE_FIELD]: signature } = JSON.parse(payload) as Record<string, unknown>;
      assert.equal(payload, JSON.stringify({ ...body, [SIGNATURE_FIELD]: signature }));
      assert.deepEqual(auth.verify(topic, payload), { ok: true, value: body });
    }
  });

  test('a signed message re-serialised by another producer (spacing, key order) still verifies', () => {
    const auth = createMessageAuth(generateMessageSecret());
    const parsed = JSON.parse(auth.sign(topic, message)) as Record<string, unknown>;
    const spaced = JSON.stringify(parsed, null, 2);
    assert.deepEqual(auth.verify(topic, spaced), { ok: true, value: message });
    const { [SIGNATURE_FIELD]: signature, ...body } = parsed;
    const signatureFirst = JSON.stringify({ [SIGNATURE_FIELD]: signature, ...body });
    assert.deepEqual(auth.verify(topic, signatureFirst), { ok: true, value: message });
    const altered = auth.verify(topic, spaced.replace('"c1"', '"c2"'));
    assert.ok(!altered.ok && altered.reason === 'bad-signature');
  });

  test('a signature copied onto another body, or a field slipped in before it, is refused', () => {
    const auth = createMessageAuth(generateMessageSecret());
    const payload = auth.sign(topic, message);
    const tail = payload.slice(payload.lastIndexOf(`,"${SIGNATURE_FIELD}"`));
    const moved = auth.verify(topic, `{"type":"done","version":1,"claimId":"c9"${tail}`);
    assert.ok(!moved.ok && moved.reason === 'bad-signature');
    const extended = auth.verify(topic, payload.replace(tail, `,"count":999999999${tail}`));
    assert.ok(!extended.ok && extended.reason === 'bad-signature');
  });

  test('without a secret, messages pass as plain JSON and nothing is added', () => {
    const auth = createMessageAuth(undefined);
    assert.equal(auth.enabled, false);
    assert.equal(auth.sign(topic, message), JSON.stringify(message));
    assert.deepEqual(auth.verify(topic, JSON.stringify(message)), { ok: true, value: message });
  });

  test('a short secret is a configuration error', () => {
    assert.throws(() => createMessageAuth('short'), ConfigError);
  });

  test('a kept secret is made once, 0600, and read back on every later call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-kept-secret-'));
    try {
      const path = join(dir, MESSAGE_SECRET_FILE);
      const made = await keptMessageSecret(path);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal(await keptMessageSecret(path), made);
      assert.equal(createMessageAuth(made).enabled, true, 'long enough to sign with');
      await writeFile(path, 'short\n');
      await assert.rejects(keptMessageSecret(path), (error: unknown) => {
        return error instanceof ConfigError && error.message.includes(path) && /delete it/.test(error.message);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { createMessageAuth, generateMessageSecret } from '../../src/core/message-auth.js';
import { makeTopics } from '../../src/core/topics.js';
import { type BrokerLink, StreamSession, type StreamSessionHandlers } from '../../src/inference/stream-session.js';

const topics = makeTopics('pc-test');
const auth = createMessageAuth(generateMessageSecret());

/** A link that is always connected and lets the test deliver messages. */
function fakeLink(): BrokerLink & { deliver(topic: string, payload: string): void } {
  let onMessage: (topic: string, payload: Buffer) => void = () => undefined;
  return {
    connected: true,
    publish: async () => undefined,
    subscribe: async () => undefined,
    unsubscribe: async () => undefined,
    onConnect: () => undefined,
    onDisconnect: () => undefined,
    onMessage: (listener) => {
      onMessage = listener;
    },
    close: async () => undefined,
    deliver: (topic, payload) => onMessage(topic, Buffer.from(payload)),
  };
}

function sessionSeeing() {
  const link = fakeLink();
  const seen: string[] = [];
  const refused: string[] = [];
  const handlers: StreamSessionHandlers = {
    viewStarted: () => undefined,
    viewEnded: () => undefined,
    metadata: () => undefined,
    coordination: () => undefined,
    outcomeSeen: (filePath) => seen.push(filePath),
    refused: (_topic, reason) => refused.push(reason),
  };
  new StreamSession(link, topics, auth, handlers, silentLogger()).start();
  return { link, seen, refused };
}

const result = {
  type: 'result',
  version: 1,
  resultId: 'r1',
  deviceID: 'cam-1',
  count: 2,
  filePath: 'images/a.jpg',
  creationTimestamp: 1_764_480_000,
  superseded: 0,
  batchId: 'b',
  instanceId: 'i1',
  model: 'm',
  analysedAt: 1_764_480_001,
  latencyMs: 1000,
  reprocessed: false,
};
const superseded = { type: 'superseded', version: 1, deviceID: 'cam-1', filePath: 'images/b.jpg', supersededBy: 'x' };
const letter = {
  type: 'dead-letter',
  version: 1,
  reason: 'object-missing',
  detail: 'gone',
  service: 'inference',
  instanceId: 'i1',
  filePath: 'images/c.jpg',
  at: 1_764_480_001,
};

describe('stream session: outcomes seen', () => {
  test('a signed outcome of each kind settles its photo', () => {
    const { link, seen } = sessionSeeing();
    link.deliver(topics.results, auth.sign(topics.results, result));
    link.deliver(topics.superseded, auth.sign(topics.superseded, superseded));
    link.deliver(topics.deadLetter, auth.sign(topics.deadLetter, letter));
    assert.deepEqual(seen, ['images/a.jpg', 'images/b.jpg', 'images/c.jpg']);
  });

  test('outcomes that settle no photo: wrong topic, metadata dead letters, other services, no filePath', () => {
    const { link, seen } = sessionSeeing();
    // A result on the superseded topic (signed for that topic) is not a superseded outcome.
    link.deliver(topics.superseded, auth.sign(topics.superseded, result));
    link.deliver(topics.deadLetter, auth.sign(topics.deadLetter, { ...letter, payload: '{"not":"metadata"}' }));
    link.deliver(topics.deadLetter, auth.sign(topics.deadLetter, { ...letter, service: 'ingest' }));
    const { filePath: _dropped, ...pathless } = result;
    link.deliver(topics.results, auth.sign(topics.results, pathless));
    assert.deepEqual(seen, []);
  });

  test('an unsigned or re-signed-for-another-topic outcome is refused and settles nothing', () => {
    const { link, seen, refused } = sessionSeeing();
    link.deliver(topics.results, JSON.stringify(result));
    link.deliver(topics.results, auth.sign(topics.superseded, result));
    link.deliver(topics.results, createMessageAuth(generateMessageSecret()).sign(topics.results, result));
    assert.deepEqual(seen, []);
    assert.deepEqual(refused, ['unauthenticated', 'unauthenticated', 'unauthenticated']);
  });
});

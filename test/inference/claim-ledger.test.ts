import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClaimLedger, type LedgerEvent } from '../../src/inference/claim-ledger.js';
import {
  type CoordinationMessage,
  COORDINATION_VERSION as version,
} from '../../src/inference/coordination-messages.js';

const claim = (claimId: string, instanceId: string, filePaths: string[], session = 's1'): CoordinationMessage => ({
  type: 'claim',
  version,
  claimId,
  instanceId,
  session,
  filePaths,
  leaseMs: 1000,
});
/** The will of one connection (session) of an instance. */
const offline = (instanceId: string, session: string): CoordinationMessage => ({
  type: 'offline',
  version,
  instanceId,
  session,
});
const done = (claimId: string, instanceId: string, filePaths: string[]): CoordinationMessage => ({
  type: 'done',
  version,
  claimId,
  instanceId,
  filePaths,
});

function applied(events: LedgerEvent[]) {
  const event = events.find((e) => e.kind === 'claim-applied');
  assert.ok(event && event.kind === 'claim-applied');
  return event;
}

describe('ClaimLedger', () => {
  test('the first claim in the stream wins; a later overlapping claim wins only the rest', () => {
    const ledger = new ClaimLedger();
    assert.deepEqual(applied(ledger.apply(claim('a1', 'A', ['p1', 'p2']))).won, ['p1', 'p2']);
    const second = applied(ledger.apply(claim('b1', 'B', ['p2', 'p3'])));
    assert.deepEqual(second.won, ['p3']);
    assert.deepEqual(second.lost, ['p2']);
    assert.equal(ledger.ownerOf('p2')?.claimId, 'a1');
    assert.equal(ledger.ownerOf('p3')?.claimId, 'b1');
  });

  test('two ledgers fed the same stream compute the same owners', () => {
    const stream: CoordinationMessage[] = [
      claim('a1', 'A', ['p1', 'p2', 'p3']),
      claim('b1', 'B', ['p1', 'p4']),
      done('a1', 'A', ['p1', 'p2', 'p3']),
      claim('c1', 'C', ['p1', 'p4', 'p5']),
      { type: 'expire', version, claimId: 'b1', by: 'C' },
      claim('c2', 'C', ['p4']),
    ];
    const views = [new ClaimLedger(), new ClaimLedger()];
    for (const view of views) for (const message of stream) view.apply(message);
    for (const item of ['p1', 'p2', 'p3', 'p4', 'p5']) {
      assert.equal(views[0]?.ownerOf(item)?.claimId, views[1]?.ownerOf(item)?.claimId, item);
      assert.equal(views[0]?.isFinished(item), views[1]?.isFinished(item), item);
    }
    assert.equal(views[0]?.ownerOf('p4')?.claimId, 'c2');
    assert.equal(views[0]?.ownerOf('p5')?.claimId, 'c1');
  });

  test('finished items are never won again, so a late duplicate gets no second outcome', () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1']));
    ledger.apply(done('a1', 'A', ['p1']));
    assert.ok(ledger.isFinished('p1'));
    const late = ledger.apply(claim('b1', 'B', ['p1']));
    assert.deepEqual(applied(late).won, []);
    assert.ok(late.some((e) => e.kind === 'claim-ended' && e.reason === 'won-nothing'));
  });

  test('a duplicate delivery of the same claim is ignored', () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1']));
    assert.deepEqual(ledger.apply(claim('a1', 'A', ['p1'])), [{ kind: 'ignored', reason: 'duplicate-claim' }]);
    assert.equal(ledger.activeClaims().length, 1);
  });

  test('expire releases unfinished items and marks their next win as reprocessed', () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1', 'p2']));
    const events = ledger.apply({ type: 'expire', version, claimId: 'a1', by: 'B' });
    assert.deepEqual(events, [
      { kind: 'claim-ended', claimId: 'a1', instanceId: 'A', reason: 'expired', released: ['p1', 'p2'] },
    ]);
    const next = applied(ledger.apply(claim('b1', 'B', ['p1', 'p2', 'p3'])));
    assert.deepEqual(next.won, ['p1', 'p2', 'p3']);
    assert.deepEqual(next.reprocessed, ['p1', 'p2']);
    // An expire of a claim that already ended has no effect.
    assert.deepEqual(ledger.apply({ type: 'expire', version, claimId: 'a1', by: 'C' }), [
      { kind: 'ignored', reason: 'unknown-claim' },
    ]);
  });

  test("a late done from an expired claim finishes the items nobody else holds; the new owner's stay owned", () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1', 'p2']));
    ledger.apply({ type: 'expire', version, claimId: 'a1', by: 'B' });
    ledger.apply(claim('b1', 'B', ['p1']));
    const events = ledger.apply(done('a1', 'A', ['p1', 'p2']));
    assert.deepEqual(events, [{ kind: 'finished', items: ['p2'] }]);
    assert.equal(ledger.ownerOf('p1')?.claimId, 'b1');
    assert.ok(ledger.isFinished('p2'));
  });

  test("offline releases every active claim of that instance's session and nobody else's", () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1']));
    ledger.apply(claim('a2', 'A', ['p2']));
    ledger.apply(claim('b1', 'B', ['p3']));
    const events = ledger.apply(offline('A', 's1'));
    assert.deepEqual(
      events.map((e) => e.kind === 'claim-ended' && e.claimId),
      ['a1', 'a2'],
    );
    assert.equal(ledger.ownerOf('p1'), undefined);
    assert.equal(ledger.ownerOf('p3')?.claimId, 'b1');
  });

  test("a replayed will of an earlier session changes nothing; the current session's will releases its claims", () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1'], 'first'));
    const firstWill = offline('A', 'first');
    ledger.apply(firstWill);
    // A reconnected: a new session wins the item again.
    ledger.apply(claim('a2', 'A', ['p1', 'p2'], 'second'));
    assert.deepEqual(ledger.apply(firstWill), [], 'the replay ends no claim');
    assert.equal(ledger.ownerOf('p1')?.claimId, 'a2');
    assert.equal(ledger.ownerOf('p2')?.claimId, 'a2');
    assert.deepEqual(applied(ledger.apply(claim('b1', 'B', ['p1', 'p2']))).won, [], 'still taken');
    assert.deepEqual(ledger.apply(offline('A', 'second')), [
      { kind: 'claim-ended', claimId: 'a2', instanceId: 'A', reason: 'offline', released: ['p1', 'p2'] },
    ]);
    const next = applied(ledger.apply(claim('b2', 'B', ['p1', 'p2'])));
    assert.deepEqual(next.won, ['p1', 'p2']);
    assert.deepEqual(next.reprocessed, ['p1', 'p2'], 'released by a will: unsafely');
  });

  test('release by its owner frees the items without marking them reprocessed; by others it is ignored', () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1']));
    assert.deepEqual(ledger.apply({ type: 'release', version, claimId: 'a1', instanceId: 'B' }), [
      { kind: 'ignored', reason: 'not-owner' },
    ]);
    ledger.apply({ type: 'release', version, claimId: 'a1', instanceId: 'A' });
    assert.deepEqual(applied(ledger.apply(claim('b1', 'B', ['p1']))).reprocessed, []);
  });

  test('a done naming only part of a claim finishes that part and releases the rest', () => {
    const ledger = new ClaimLedger();
    ledger.apply(claim('a1', 'A', ['p1', 'p2']));
    ledger.apply(done('a1', 'A', ['p1']));
    assert.ok(ledger.isFinished('p1'));
    assert.equal(ledger.isTaken('p2'), false);
  });

  test('a renew of a claim made before this view existed adopts it; a renew of an ended claim does not', () => {
    const ledger = new ClaimLedger();
    const events = ledger.apply({
      type: 'renew',
      version,
      claimId: 'a1',
      instanceId: 'A',
      session: 's1',
      filePaths: ['p1'],
      leaseMs: 500,
    });
    assert.ok(events.some((e) => e.kind === 'renewed' && e.adopted));
    assert.equal(ledger.ownerOf('p1')?.claimId, 'a1');
    ledger.apply(done('a1', 'A', ['p1']));
    ledger.apply({
      type: 'renew',
      version,
      claimId: 'a1',
      instanceId: 'A',
      session: 's1',
      filePaths: ['p1'],
      leaseMs: 500,
    });
    assert.equal(ledger.ownerOf('p1'), undefined);
  });

  test('memory is bounded: the oldest finished items are forgotten', () => {
    const ledger = new ClaimLedger({ memory: 3 });
    for (let i = 0; i < 5; i++) {
      ledger.apply(claim(`c${i}`, 'A', [`p${i}`]));
      ledger.apply(done(`c${i}`, 'A', [`p${i}`]));
    }
    assert.equal(ledger.isFinished('p0'), false);
    assert.ok(ledger.isFinished('p4'));
  });
});

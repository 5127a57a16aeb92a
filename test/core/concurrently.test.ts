import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachConcurrently } from '../../src/core/concurrently.js';

/** A task whose completion the test controls, to observe how many run at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('forEachConcurrently', () => {
  it('runs at most `limit` tasks at once and every item exactly once', async () => {
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const done = forEachConcurrently([0, 1, 2, 3, 4], 2, async (item) => {
      started.push(item);
      await gates[item]?.opened;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1]);
    gates[1]?.open();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1, 2]);
    for (const g of gates) g.open();
    await done;
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
  });

  it('waits for running tasks after a failure, starts no new ones, then throws the first error', async () => {
    const slow = gate();
    const finished: number[] = [];
    const done = forEachConcurrently([0, 1, 2, 3], 2, async (item) => {
      if (item === 0) throw new Error('first');
      await slow.opened;
      finished.push(item);
    });
    let settled = false;
    void done
      .catch(() => undefined)
      .finally(() => {
        settled = true;
      });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'still waiting for the running task');
    slow.open();
    await assert.rejects(done, /first/);
    assert.deepEqual(finished, [1]);
  });

  it('handles an empty list', async () => {
    await forEachConcurrently([], 4, async () => assert.fail('no item to run'));
  });
});

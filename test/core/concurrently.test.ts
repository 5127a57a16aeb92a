import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLimiter, forEachConcurrently } from '../../src/core/concurrently.js';

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

describe('createLimiter', () => {
  it('runs at most `limit` tasks at once, in order, and frees the slot of a failed task', async () => {
    const limit = createLimiter(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates: Array<() => void> = [];
    const task = (id: number, fail = false) =>
      limit(async () => {
        started.push(id);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        if (fail) throw new Error(`task ${id} failed`);
        return id;
      });
    const results = [task(1, true), task(2), task(3), task(4)].map((promise) =>
      promise.then(
        (value) => value,
        (error: Error) => error.message,
      ),
    );
    // Release whoever is waiting at the gate until everything settled.
    const all = Promise.all(results);
    while (gates.length > 0 || started.length < 4) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.shift()?.();
    }
    assert.deepEqual(await all, ['task 1 failed', 2, 3, 4]);
    assert.deepEqual(started, [1, 2, 3, 4]);
    assert.equal(most, 2);
  });
});

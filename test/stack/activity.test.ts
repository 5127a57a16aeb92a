/** What `up` prints while it runs: a camera's first count, alerts, and a summary at most once a minute. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LiveEvent } from '../../src/engage/events.js';
import { Activity } from '../../src/stack/activity.js';

const STARTED = 1_000;

function device(id: string, count: number | null, lastPhotoAt: number | null, name: string | null = null): LiveEvent {
  return {
    type: 'device',
    data: {
      id,
      name,
      site: null,
      capacity: null,
      count,
      lastPhotoAt,
      photoIntervalSeconds: null,
      availability: 'unknown',
      online: null,
      stale: false,
      state: count === null ? 'no-data' : 'live',
    },
  };
}

test("a camera's first count since the start is a line; later ones are summed up; history is not news", () => {
  const lines: string[] = [];
  const activity = new Activity(STARTED, (line) => lines.push(line));
  activity.see(device('old', 4, STARTED - 600, 'Hall'));
  activity.see(device('new', null, null));
  activity.see(device('new', 1, STARTED + 1, 'Door'));
  activity.see(device('new', 1, STARTED + 1, 'Door'));
  activity.see(device('old', 3, STARTED + 2, 'Hall'));
  activity.see(device('new', 2, STARTED + 5, 'Door'));
  activity.see(device('new', 0, STARTED + 9, 'Door'));
  assert.deepEqual(lines, ['First count from camera Door: 1 person', 'First count from camera Hall: 3 people']);
  activity.summarize();
  activity.summarize();
  assert.deepEqual(lines.slice(2), ['2 new counts from 1 camera in the last minute']);
});

test('an alert raised or cleared is a line at once', () => {
  const lines: string[] = [];
  const activity = new Activity(STARTED, (line) => lines.push(line));
  activity.see({
    type: 'alert',
    data: {
      type: 'alert',
      version: 1,
      alertId: 'a1',
      state: 'raised',
      ruleId: 'r1',
      scope: 'site',
      target: 'shop',
      count: 12,
      capacity: 10,
      raiseAt: 10,
      clearBelow: 8,
      at: STARTED + 60,
    },
  });
  assert.deepEqual(lines, ['Alert raised: site shop at 12 (rule: 10)']);
});

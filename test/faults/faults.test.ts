/**
 * One round of every fault scenario with real brokers, s3rver and inference processes
 * (scenarios.ts); `npm run test:faults` soaks more rounds and prints the table.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { missingBinary } from '../helpers/binaries.js';
import { runRound, SCENARIOS } from './scenarios.js';

const rounds = Number(process.env.PEOPLE_COUNTER_FAULT_ROUNDS ?? 1);

describe('fault suite: exactly one outcome per photo (separate processes)', () => {
  for (const scenario of SCENARIOS) {
    test(scenario.name, { skip: missingBinary('mosquitto') }, async () => {
      for (let round = 1; round <= rounds; round++) {
        const report = await runRound(scenario, round);
        assert.deepEqual(report.problems, [], `${scenario.name}, round ${round}`);
        assert.equal(report.photos, 30);
      }
    });
  }
});

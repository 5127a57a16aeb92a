/**
 * History-store write throughput on each SQLite driver this Node has: results stored per second by
 * store.recordResult into a WAL file (one transaction per result, as engage stores them), median of
 * `rounds` fresh databases. Usage: node dist/bench/sqlite-drivers.js [results=20000] [rounds=3]
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQLITE_DRIVERS } from '../src/engage/sqlite.js';
import { EngageStore } from '../src/engage/store.js';
import { result } from '../test/engage/fixtures.js';

const total = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const start = Date.now() / 1000 - total;
const messages = Array.from({ length: total }, (_, i) => result(`cam-${i % 50}`, i % 40, start + i, randomUUID()));
const dir = await mkdtemp(join(tmpdir(), 'pc-sqlite-bench-'));

console.log(`results: ${total} per round, rounds: ${rounds}, node ${process.version}`);
try {
  for (const driver of SQLITE_DRIVERS) {
    const rates: number[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        const store = new EngageStore(join(dir, `${driver.replace(':', '-')}-${round}.db`), driver);
        const t0 = performance.now();
        for (const message of messages) store.recordResult(message, start);
        rates.push(total / ((performance.now() - t0) / 1000));
        store.close();
      }
    } catch (error) {
      console.log(`${driver}: not available (${(error as Error).message.slice(0, 100)}…)`);
      continue;
    }
    const sorted = [...rates].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    console.log(`${driver}: median ${Math.round(median)} results/s (rounds: ${rates.map(Math.round).join(', ')})`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Engage throughput: results stored per second, (1) straight into the SQLite store and (2) end to
 * end over MQTT (embedded broker → engage → SQLite, with live refresh and SSE fan-out in the loop).
 * Usage: node dist/bench/engage.js [results=10000] [devices=50]
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngageStore } from '../src/engage/store.js';
import { result, startEngage } from '../test/engage/fixtures.js';
import { startEmbeddedBroker } from '../test/helpers/broker.js';
import { MessageRecorder } from '../test/helpers/mqtt.js';
import { waitFor } from '../test/helpers/net.js';

const total = Number(process.argv[2] ?? 10_000);
const devices = Number(process.argv[3] ?? 50);
const dir = await mkdtemp(join(tmpdir(), 'pc-engage-bench-'));
const start = Date.now() / 1000 - total;
const messages = Array.from({ length: total }, (_, i) => result(`cam-${i % devices}`, i % 40, start + i, randomUUID()));

const store = new EngageStore(join(dir, 'direct.db'));
let t0 = performance.now();
for (const message of messages) store.recordResult(message, start);
const direct = total / ((performance.now() - t0) / 1000);
store.close();

const broker = await startEmbeddedBroker();
const engage = await startEngage(broker, { dbPath: join(dir, 'mqtt.db') });
const publisher = await MessageRecorder.start(broker.url, ['bench/none']);
const stored = () => (engage.store.db.prepare('SELECT COUNT(*) AS n FROM counts').get() as { n: number }).n;
t0 = performance.now();
await Promise.all(
  messages.map((m) => publisher.client.publishAsync('people-counter/results', JSON.stringify(m), { qos: 1 })),
);
await waitFor(() => stored() === total, { timeoutMs: 300_000, message: `${total} results stored` });
const endToEnd = total / ((performance.now() - t0) / 1000);
await publisher.stop();
await engage.stop();
await broker.stop();
await rm(dir, { recursive: true, force: true });

console.log(`results: ${total}, devices: ${devices}, node ${process.version}`);
console.log(`store.recordResult (SQLite WAL, file): ${Math.round(direct)} results/s`);
console.log(`MQTT → engage → SQLite, end to end:   ${Math.round(endToEnd)} results/s`);

/**
 * `people-counter bench ledger`: what one instance's in-memory coordination state costs per
 * pending photo, for the capacity model in docs/system.md. Drives the real pure parts (metadata
 * classification, the pending set, the claim ledger) with N announcements and the claims and
 * `done`s of other instances, and measures CPU time per message and heap bytes per item.
 * Prints measurements; asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { filePathOf, newImageKey } from '../core/ids.js';
import { createMessageAuth, generateMessageSecret } from '../core/message-auth.js';
import type { PhotoMetadata } from '../core/messages.js';
import { makeTopics } from '../core/topics.js';
import { PendingSet } from '../inference/batcher.js';
import { ClaimLedger } from '../inference/claim-ledger.js';
import {
  COORDINATION_VERSION,
  type CoordinationMessage,
  coordinationMessageSchema,
} from '../inference/coordination-messages.js';
import { classifyMetadataMessage } from '../inference/work-items.js';

export interface LedgerBenchOptions {
  /** Pending photos (announced, not yet finished). */
  items: number;
  /** Items per claim of the other instances. */
  batchSize: number;
  devices: number;
}

export interface LedgerBenchResult {
  options: LedgerBenchOptions;
  /** Parse, validate and add one announcement to the pending set. */
  announceMicros: number;
  /** Verify, validate and apply one claim (per item it names) to the ledger. */
  claimMicrosPerItem: number;
  /** One batching decision over every pending item while all are taken (runs on every message received). */
  decideAllTakenMicros: number;
  /** Verify, validate and apply one `done` (per item), removing the items from the pending set. */
  doneMicrosPerItem: number;
  /** Heap held per pending, claimed item (pending set + ledger owner maps). */
  heapBytesPerPendingItem: number;
  /** Heap held per finished item remembered (late-duplicate memory, at most 100 000). */
  heapBytesPerFinishedItem: number;
}

/** A collectable heap, when the runtime lets us ask for a collection; else undefined (no memory figures). */
function garbageCollector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

function heapUsed(gc: (() => void) | undefined): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function micros(run: () => void, operations: number): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1000 / Math.max(1, operations);
}

export function runLedgerBench(options: LedgerBenchOptions): LedgerBenchResult {
  const gc = garbageCollector();
  const now = Date.now();
  const topic = makeTopics().coordination;
  const auth = createMessageAuth(generateMessageSecret());
  // Every payload exists before the first measurement, as bytes off the wire: what the state keeps
  // (strings parsed from them) is counted, the payloads themselves are not.
  const filePaths = Array.from({ length: options.items }, () => filePathOf(newImageKey()));
  const announcements = filePaths.map((filePath, n) => {
    const metadata: PhotoMetadata = {
      type: 'data',
      deviceID: `bench-device-${n % options.devices}`,
      filePath,
      creationTimestamp: now / 1000 + n / 1e6,
    };
    return Buffer.from(JSON.stringify(metadata));
  });
  const claimPayloads: Buffer[] = [];
  const donePayloads: Buffer[] = [];
  for (let start = 0; start < filePaths.length; start += options.batchSize) {
    const claim = {
      claimId: randomUUID(),
      instanceId: 'other',
      filePaths: filePaths.slice(start, start + options.batchSize),
    };
    const v = COORDINATION_VERSION;
    const claimed: CoordinationMessage = { type: 'claim', version: v, session: 'bench', leaseMs: 30_000, ...claim };
    const done: CoordinationMessage = { type: 'done', version: v, ...claim };
    claimPayloads.push(Buffer.from(auth.sign(topic, claimed)));
    donePayloads.push(Buffer.from(auth.sign(topic, done)));
  }
  filePaths.length = 0;
  const n = Math.max(1, options.items);

  const before = heapUsed(gc);
  const pending = new PendingSet();
  const ledger = new ClaimLedger();
  /** What the service does with a coordination payload: verify the signature, validate, apply. */
  const applyCoordination = (payload: Buffer) => {
    const verified = auth.verify(topic, payload);
    const parsed = coordinationMessageSchema.safeParse(verified.ok ? verified.value : undefined);
    if (!parsed.success) throw new Error('bench coordination message did not validate');
    for (const event of ledger.apply(parsed.data)) {
      if (event.kind === 'finished') for (const key of event.items) pending.delete(key);
    }
  };
  const announceMicros = micros(() => {
    for (const payload of announcements) {
      const classified = classifyMetadataMessage(payload);
      if (classified.kind !== 'item') throw new Error('bench announcement did not classify as a photo');
      pending.add(classified.item, now);
    }
  }, n);
  const claimMicrosPerItem = micros(() => claimPayloads.forEach(applyCoordination), n);
  const withPending = heapUsed(gc);

  const isTaken = (key: string) => ledger.isTaken(key);
  const decisions = 20;
  const decideAllTakenMicros = micros(() => {
    for (let i = 0; i < decisions; i++) {
      if (pending.decide(now, { batchSize: options.batchSize, maxWaitMs: 0 }, isTaken).kind !== 'idle') {
        throw new Error('bench: every item should be taken');
      }
    }
  }, decisions);

  const doneMicrosPerItem = micros(() => donePayloads.forEach(applyCoordination), n);
  const withFinished = heapUsed(gc);
  if (pending.size !== 0) throw new Error('bench: pending items left after every done');
  return {
    options,
    announceMicros,
    claimMicrosPerItem,
    decideAllTakenMicros,
    doneMicrosPerItem,
    heapBytesPerPendingItem: gc ? (withPending - before) / n : Number.NaN,
    heapBytesPerFinishedItem: gc ? (withFinished - before) / Math.min(n, 100_000) : Number.NaN,
  };
}

export function formatLedgerBench(result: LedgerBenchResult): string {
  const { options: o } = result;
  const f = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  const perTenThousand = (bytes: number) => f((bytes * 10_000) / 1_048_576, 1);
  return [
    `ledger bench: ${o.items} pending photos from ${o.devices} devices, claims of ${o.batchSize} by another instance`,
    `announcement received:  ${f(result.announceMicros)} µs each (JSON + schema + pending set)`,
    `claim applied:          ${f(result.claimMicrosPerItem)} µs per item named (HMAC + schema + ledger)`,
    `batching decision:      ${f(result.decideAllTakenMicros, 0)} µs with all ${o.items} items taken (runs on every message received)`,
    `done applied:           ${f(result.doneMicrosPerItem)} µs per item (ledger + pending set)`,
    `heap per pending item:  ${f(result.heapBytesPerPendingItem, 0)} B (${perTenThousand(result.heapBytesPerPendingItem)} MiB per 10 000)`,
    `heap per finished item: ${f(result.heapBytesPerFinishedItem, 0)} B remembered (${perTenThousand(result.heapBytesPerFinishedItem)} MiB per 10 000; at most 100 000 kept)`,
  ].join('\n');
}

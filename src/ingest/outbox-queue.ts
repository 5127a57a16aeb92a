/**
 * The outbox's bookkeeping, without I/O: photos whose metadata waits for the broker, in the order
 * they will be published, at most one waiting per device (the latest: analysis only ever counts a
 * device's latest photo, so an older one queued behind it is worth nothing), up to a cap.
 */
import type { Clock } from '../core/clock.js';
import type { PhotoMetadata } from '../core/messages.js';

/** One stored photo whose metadata waits for the broker. */
export interface OutboxEntry {
  metadata: PhotoMetadata;
  /** When it was queued (the queue's clock, ms): how long the outage held it back. */
  queuedAtMs: number;
}

export type OfferResult =
  /** Queued; `superseded` is the device's older entry it replaced (its photo is now garbage). */
  | { outcome: 'queued'; entry: OutboxEntry; superseded: OutboxEntry | undefined }
  /** The device already has a newer photo queued: this one is garbage on arrival. */
  | { outcome: 'stale'; newer: OutboxEntry }
  /** The cap is reached and the device has nothing queued that this photo could replace. */
  | { outcome: 'full' };

/**
 * Whether `a` is a newer photo of its device than `b`: the rule inference uses to pick the photo
 * it counts (greater creationTimestamp, ties broken by the greater filePath). Pure.
 */
export function isNewerPhoto(a: PhotoMetadata, b: PhotoMetadata): boolean {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp > b.creationTimestamp;
  return a.filePath > b.filePath;
}

export class OutboxQueue {
  /** Every entry, in publishing order (Map keeps insertion order), by filePath. */
  private readonly entries = new Map<string, OutboxEntry>();
  /** Per device, its waiting entry that a newer photo replaces. Never the entry being published. */
  private readonly replaceable = new Map<string, OutboxEntry>();
  private publishing: OutboxEntry | undefined;

  constructor(
    /** Entries held at most (about one per device). */
    private readonly maxEntries: number,
    private readonly clock: Clock,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get isEmpty(): boolean {
    return this.entries.size === 0;
  }

  /** Every entry, the one being published first, in publishing order. */
  list(): OutboxEntry[] {
    return [...this.entries.values()];
  }

  /** Whether a photo of this device would be queued rather than refused as `full`. */
  hasRoomFor(deviceId: string): boolean {
    return this.replaceable.has(deviceId) || this.entries.size < this.maxEntries;
  }

  offer(metadata: PhotoMetadata): OfferResult {
    const current = this.replaceable.get(metadata.deviceID);
    if (current && !isNewerPhoto(metadata, current.metadata)) return { outcome: 'stale', newer: current };
    if (!current && this.entries.size >= this.maxEntries) return { outcome: 'full' };
    if (current) this.entries.delete(current.metadata.filePath);
    const entry = { metadata, queuedAtMs: this.clock.now() };
    this.add(entry);
    return { outcome: 'queued', entry, superseded: current };
  }

  /**
   * Entries read back after a restart, in their order, as they were: none is superseded here, since
   * one of them may have been published just before the restart and its photo must stay.
   */
  restore(entries: readonly OutboxEntry[]): void {
    for (const entry of entries) this.add(entry);
  }

  /** The first entry, now being published (no newer photo replaces it meanwhile); one at a time. */
  takeNext(): OutboxEntry | undefined {
    if (this.publishing) throw new Error('an outbox entry is being published already');
    const next = this.entries.values().next();
    if (next.done) return undefined;
    const entry = next.value;
    if (this.replaceable.get(entry.metadata.deviceID) === entry) this.replaceable.delete(entry.metadata.deviceID);
    this.publishing = entry;
    return entry;
  }

  /** The entry taken is on the broker: it leaves the queue. */
  published(entry: OutboxEntry): void {
    this.settle(entry);
    this.entries.delete(entry.metadata.filePath);
  }

  /**
   * The entry taken could not be published: it stays first in line, unless a newer photo of its
   * device was queued meanwhile. Returns the entry that is garbage now, if any.
   */
  publishFailed(entry: OutboxEntry): OutboxEntry | undefined {
    this.settle(entry);
    const deviceId = entry.metadata.deviceID;
    const other = this.replaceable.get(deviceId);
    if (!other) {
      this.replaceable.set(deviceId, entry);
      return undefined;
    }
    const [kept, dropped] = isNewerPhoto(other.metadata, entry.metadata) ? [other, entry] : [entry, other];
    this.entries.delete(dropped.metadata.filePath);
    this.replaceable.set(deviceId, kept);
    return dropped;
  }

  private add(entry: OutboxEntry): void {
    this.entries.set(entry.metadata.filePath, entry);
    this.replaceable.set(entry.metadata.deviceID, entry);
  }

  private settle(entry: OutboxEntry): void {
    if (this.publishing !== entry) throw new Error('settling an outbox entry that is not being published');
    this.publishing = undefined;
  }
}

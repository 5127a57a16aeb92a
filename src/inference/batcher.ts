/**
 * The pending set of one instance: work items deduplicated by key, in arrival order, and the
 * decision when to claim what (docs/coordination.md, "Latest per device across the backlog").
 * A claim holds up to `batchSize` units of analysis: per device the newest free photo, which is
 * counted, with every older free photo of that device, which the same claim supersedes without
 * analysis; an invalid or orphaned item is a unit of its own. Devices and items are taken
 * oldest pending first, so every device gets its turn. Pure: the caller passes the time and what
 * is taken (owned or finished) according to the ledger.
 */
import { MAX_CLAIM_ITEMS } from './coordination-messages.js';
import { compareNewestFirst, type PhotoItem, type WorkItem } from './work-items.js';

export interface BatchPolicy {
  /** Units of analysis per claim: photos counted (one per device) plus invalid and orphaned items. */
  batchSize: number;
  maxWaitMs: number;
}

export type BatchDecision = { kind: 'claim'; items: WorkItem[] } | { kind: 'wait'; ms: number } | { kind: 'idle' };

export class PendingSet {
  private readonly items = new Map<string, { item: WorkItem; since: number }>();
  /** Pending photos by device, so that a claim names every older photo of a device it counts. */
  private readonly byDevice = new Map<string, Map<string, PhotoItem>>();

  /** Adds an item; false when its key is already pending (a duplicate delivery). */
  add(item: WorkItem, now: number): boolean {
    if (this.items.has(item.key)) return false;
    this.items.set(item.key, { item, since: now });
    if (item.kind === 'photo') {
      const photos = this.byDevice.get(item.metadata.deviceID) ?? new Map<string, PhotoItem>();
      photos.set(item.key, item);
      this.byDevice.set(item.metadata.deviceID, photos);
    }
    return true;
  }

  get(key: string): WorkItem | undefined {
    return this.items.get(key)?.item;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  delete(key: string): void {
    const entry = this.items.get(key);
    if (!entry) return;
    this.items.delete(key);
    if (entry.item.kind !== 'photo') return;
    const device = entry.item.metadata.deviceID;
    const photos = this.byDevice.get(device);
    photos?.delete(key);
    if (photos?.size === 0) this.byDevice.delete(device);
  }

  clear(): void {
    this.items.clear();
    this.byDevice.clear();
  }

  get size(): number {
    return this.items.size;
  }

  /** Items nobody holds, oldest first. */
  claimable(isTaken: (key: string) => boolean): Array<{ item: WorkItem; since: number }> {
    return [...this.items.values()].filter(({ item }) => !isTaken(item.key));
  }

  /**
   * Claim when `batchSize` units are free or the oldest free item has waited max-wait. Scans in
   * arrival order only until the units are found (photos of a device already chosen are skipped).
   */
  decide(now: number, policy: BatchPolicy, isTaken: (key: string) => boolean): BatchDecision {
    const units: WorkItem[] = [];
    const devices = new Set<string>();
    let oldest: number | undefined;
    for (const { item, since } of this.items.values()) {
      if (isTaken(item.key)) continue;
      if (item.kind === 'photo') {
        if (devices.has(item.metadata.deviceID)) continue;
        devices.add(item.metadata.deviceID);
      }
      oldest ??= since;
      units.push(item);
      if (units.length >= policy.batchSize) break;
    }
    if (oldest === undefined) return { kind: 'idle' };
    const waited = now - oldest;
    if (units.length >= policy.batchSize || waited >= policy.maxWaitMs) {
      return { kind: 'claim', items: this.withOlderPhotos(units, isTaken) };
    }
    return { kind: 'wait', ms: policy.maxWaitMs - waited };
  }

  /**
   * Each chosen device's newest free photo (counted) first, then its older free photos, newest
   * first, as far as a claim's size allows: photos left out are older than the one counted.
   */
  private withOlderPhotos(units: WorkItem[], isTaken: (key: string) => boolean): WorkItem[] {
    const newest: WorkItem[] = [];
    const older: PhotoItem[] = [];
    for (const unit of units) {
      if (unit.kind !== 'photo') {
        newest.push(unit);
        continue;
      }
      const free = [...(this.byDevice.get(unit.metadata.deviceID)?.values() ?? [])]
        .filter((photo) => !isTaken(photo.key))
        .sort(compareNewestFirst);
      const [latest, ...rest] = free as [PhotoItem, ...PhotoItem[]];
      newest.push(latest);
      older.push(...rest);
    }
    return [...newest, ...older.slice(0, Math.max(0, MAX_CLAIM_ITEMS - newest.length))];
  }
}

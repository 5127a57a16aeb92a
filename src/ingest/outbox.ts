/**
 * The ingest outbox: while the broker is away, a REST photo is stored and its metadata queued on
 * disk instead of the photo being refused; once the broker is back, the queue is published in
 * order. A newer photo of a device supersedes its queued one, whose photo is deleted at once, so
 * an outage costs storage for one photo per device at most and leaves no photo behind.
 * The bookkeeping is OutboxQueue (pure); the disk is OutboxLog; this class runs them.
 */
import { type Cancel, type Clock, systemClock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { PhotoMetadata } from '../core/messages.js';
import { Counter, Gauge, type Registry } from '../core/metrics.js';
import type { MqttConnection } from '../core/mqtt.js';
import type { ObjectStore } from '../core/storage/index.js';
import { OutboxLog, type OutboxRecord, stateRecords } from './outbox-log.js';
import { type OutboxEntry, OutboxQueue } from './outbox-queue.js';
import { deleteStoredPhoto } from './photo-ingestor.js';

export interface OutboxOptions {
  /** Where the log lives (created 0700). */
  dir: string;
  /** Devices whose photos may wait at most; a photo of one more is refused. */
  maxDevices: number;
  store: ObjectStore;
  mqtt: MqttConnection;
  logger: Logger;
  metrics: Registry;
  clock?: Clock;
  /** Wait before publishing again after a publish failed while the broker stayed connected. */
  retryMs: number;
}

/** `accepted`: the outbox owns the photo now (it publishes or deletes it). `full`: the caller still does. */
export type EnqueueOutcome = 'accepted' | 'full';

/** Appended records beyond twice the state before the log is rewritten as the state. */
const COMPACT_AFTER_RECORDS = 1000;

export class Outbox {
  private readonly logger: Logger;
  private readonly superseded: Counter;
  private readonly published: Counter;
  /** Stops waking the drain on every (re)connect. */
  private stopWakingOnConnect: () => void = () => undefined;
  private readonly logWriteFailed = (error: unknown) =>
    this.logger.warn({ err: error }, 'cannot write the outbox log; its next write rewrites it whole');
  private drainWanted = false;
  private draining: Promise<void> | undefined;
  private cancelRetry: Cancel = () => undefined;
  private stopped = false;

  private constructor(
    private readonly options: OutboxOptions,
    private readonly clock: Clock,
    private readonly queue: OutboxQueue,
    /** Superseded photos not deleted yet: a compaction keeps their `superseded` records, a start deletes them. */
    private readonly awaitingDeletion: Set<string>,
    private readonly log: OutboxLog,
  ) {
    this.logger = options.logger.child({ component: 'outbox' });
    const registers = [options.metrics];
    new Gauge({
      name: 'people_counter_ingest_outbox_entries',
      help: 'Photos whose metadata waits in the outbox for the broker (one per device at most)',
      registers,
      collect() {
        this.set(queue.size);
      },
    });
    this.superseded = new Counter({
      name: 'people_counter_ingest_outbox_superseded_total',
      help: 'Photos dropped from the outbox (and deleted from storage) because a newer photo of their device was queued',
      registers,
    });
    this.published = new Counter({
      name: 'people_counter_ingest_outbox_published_total',
      help: 'Metadata messages published from the outbox once the broker was back',
      registers,
    });
  }

  /** Reads back what a previous run left (publishing it once the broker is reachable) and starts. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const clock = options.clock ?? systemClock;
    const queue = new OutboxQueue(options.maxDevices, clock);
    const awaitingDeletion = new Set<string>();
    const { log, replayed } = await OutboxLog.open(options.dir, () => stateRecords(queue.list(), awaitingDeletion));
    queue.restore(replayed.entries);
    for (const filePath of replayed.supersededPhotos) awaitingDeletion.add(filePath);
    const outbox = new Outbox(options, clock, queue, awaitingDeletion, log);
    if (replayed.unreadableLines > 0) {
      outbox.logger.warn(
        { path: log.path, unreadableLines: replayed.unreadableLines },
        'outbox log had unreadable lines (a torn last line after a kill is expected); skipped',
      );
    }
    if (!queue.isEmpty) {
      outbox.logger.info(
        { queued: queue.size, path: log.path },
        'outbox read back; publishing it once the broker is reachable',
      );
    }
    await log.compact();
    for (const filePath of replayed.supersededPhotos) await outbox.deletePhoto(filePath);
    outbox.stopWakingOnConnect = options.mqtt.onConnect(() => outbox.wakeDrain());
    if (options.mqtt.connected) outbox.wakeDrain();
    return outbox;
  }

  /**
   * Whether a photo must go through the outbox: the broker is away, or earlier photos still wait
   * (publishing past them would put a device's photos out of order).
   */
  get mustQueue(): boolean {
    return !this.options.mqtt.connected || !this.queue.isEmpty;
  }

  hasRoomFor(deviceId: string): boolean {
    return this.queue.hasRoomFor(deviceId);
  }

  /**
   * Queues the metadata of a stored photo; resolves once that is on disk. Rejects when the log cannot
   * be written: the entry stays queued in memory (a retry of the device supersedes it), unacknowledged.
   */
  async enqueue(metadata: PhotoMetadata): Promise<EnqueueOutcome> {
    const offered = this.queue.offer(metadata);
    if (offered.outcome === 'full') return 'full';
    if (offered.outcome === 'stale') {
      // Taken before the queued one of its device: never counted, so not kept.
      this.superseded.inc();
      this.logger.debug(
        { deviceID: metadata.deviceID, filePath: metadata.filePath },
        'older than the queued photo; deleted',
      );
      await this.deletePhoto(metadata.filePath);
      return 'accepted';
    }
    const { entry, superseded } = offered;
    if (this.queue.size === 1) {
      this.logger.info(
        { deviceID: metadata.deviceID },
        'photos wait in the outbox until the broker takes their metadata',
      );
    }
    const records: OutboxRecord[] = superseded ? [this.supersede(superseded)] : [];
    this.wakeDrain();
    await this.log.append([...records, { op: 'queued', ...entry }]);
    this.logger.debug({ deviceID: metadata.deviceID, filePath: metadata.filePath, queued: this.queue.size }, 'queued');
    if (superseded) await this.deletePhoto(superseded.metadata.filePath);
    this.compactIfWorthIt();
    return 'accepted';
  }

  /** Stops publishing (after the publish in progress) and writes what is pending. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelRetry();
    this.stopWakingOnConnect();
    await this.draining;
    await this.log.close();
  }

  private wakeDrain(): void {
    this.drainWanted = true;
    if (this.draining || this.stopped) return;
    this.draining = this.drainWhileWanted();
  }

  /** Drains until nobody asked again meanwhile (a reconnect, a photo queued as the last publish ended). */
  private async drainWhileWanted(): Promise<void> {
    while (this.drainWanted && !this.stopped) {
      this.drainWanted = false;
      await this.drain();
    }
    this.draining = undefined;
  }

  private async drain(): Promise<void> {
    const { mqtt } = this.options;
    if (!mqtt.connected || this.queue.isEmpty) return;
    this.logger.info({ queued: this.queue.size }, 'broker reachable: publishing the outbox');
    let published = 0;
    let longestWaitMs = 0;
    while (!this.stopped && mqtt.connected) {
      const entry = this.queue.takeNext();
      if (!entry) break;
      try {
        await mqtt.publishJson(mqtt.topics.metadata, entry.metadata, { qos: 1 });
      } catch (error) {
        await this.publishFailed(entry, error);
        break;
      }
      this.queue.published(entry);
      this.published.inc();
      published += 1;
      longestWaitMs = Math.max(longestWaitMs, this.clock.now() - entry.queuedAtMs);
      // Not awaited: a kill before this is on disk publishes the entry again (inference ignores duplicates).
      this.log.append([{ op: 'published', filePath: entry.metadata.filePath }]).catch(this.logWriteFailed);
    }
    this.logger.info(
      { published, queued: this.queue.size, longestWaitMs },
      this.queue.isEmpty ? 'outbox published' : 'outbox publishing interrupted',
    );
    this.compactIfWorthIt();
  }

  private async publishFailed(entry: OutboxEntry, error: unknown): Promise<void> {
    const dropped = this.queue.publishFailed(entry);
    this.logger.warn({ err: error, queued: this.queue.size }, 'cannot publish from the outbox; trying again later');
    if (dropped) {
      await this.log.append([this.supersede(dropped)]).catch(this.logWriteFailed);
      await this.deletePhoto(dropped.metadata.filePath);
    }
    // A reconnect wakes the drain; without one (e.g. an acknowledgement timed out) try again after a while.
    if (this.options.mqtt.connected && !this.stopped) {
      this.cancelRetry();
      this.cancelRetry = this.clock.schedule(this.options.retryMs, () => this.wakeDrain());
    }
  }

  /** Counts a superseded entry and remembers its photo for deletion; returns the record saying so. */
  private supersede(entry: OutboxEntry): OutboxRecord {
    this.superseded.inc();
    this.awaitingDeletion.add(entry.metadata.filePath);
    return { op: 'superseded', filePath: entry.metadata.filePath };
  }

  /** Deletes a photo nothing will announce; one that cannot be deleted now is deleted at the next start. */
  private async deletePhoto(filePath: string): Promise<void> {
    this.awaitingDeletion.add(filePath);
    try {
      await deleteStoredPhoto(this.options.store, filePath);
      this.awaitingDeletion.delete(filePath);
    } catch (error) {
      this.logger.error({ err: error, filePath }, 'cannot delete a superseded photo; trying again at the next start');
    }
  }

  /** Rewrites the log as the state once it is mostly history (bounded by the cap), or empty. */
  private compactIfWorthIt(): void {
    const history = this.log.appendedRecords;
    if (!this.queue.isEmpty && history < COMPACT_AFTER_RECORDS + 2 * this.queue.size) return;
    this.log.compact().catch(this.logWriteFailed);
  }
}

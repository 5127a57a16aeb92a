/**
 * The orphan sweeper: which stored photos nobody is handling (planSweep, pure) and the periodic
 * loop that re-announces them (OrphanSweeper). A photo whose metadata never arrived (QoS 0 from the original daemon, a broker that dropped it, a crash
 * between store and publish) would otherwise stay in storage forever without an outcome.
 */
import type { Cancel, Clock } from '../core/clock.js';
import { filePathOf, IMAGE_BUCKET, PHOTO_OBJECT_METADATA, parseFilePath } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { type PhotoMetadata, photoMetadataSchema } from '../core/messages.js';
import type { ObjectInfo, ObjectStore } from '../core/storage/index.js';
import type { InferenceMetrics } from './metrics.js';

export interface SweepView {
  /** Pending here, or owned by an active claim. */
  isHandled(filePath: string): boolean;
  isFinished(filePath: string): boolean;
}

export interface SweepPlan {
  /** Old enough and unknown: announce again (or fail as orphaned when it cannot be rebuilt). */
  reannounce: string[];
  /** Finished in this view but still stored (a delete that failed): delete. */
  leftover: string[];
}

export function planSweep(objects: ObjectInfo[], nowMs: number, minAgeMs: number, view: SweepView): SweepPlan {
  const plan: SweepPlan = { reannounce: [], leftover: [] };
  for (const object of objects) {
    const filePath = filePathOf(object.key);
    if ('problem' in parseFilePath(filePath)) continue; // not a photo of ours
    if (view.isFinished(filePath)) plan.leftover.push(filePath);
    else if (nowMs - object.lastModified.getTime() >= minAgeMs && !view.isHandled(filePath)) {
      plan.reannounce.push(filePath);
    }
  }
  return plan;
}

/** The metadata message for a stored photo, or why it cannot be rebuilt. */
export function rebuildMetadata(
  filePath: string,
  objectMetadata: Record<string, string>,
): { ok: true; metadata: PhotoMetadata } | { ok: false; detail: string } {
  const candidate = {
    type: 'data',
    deviceID: objectMetadata[PHOTO_OBJECT_METADATA.deviceId],
    filePath,
    creationTimestamp: Number(objectMetadata[PHOTO_OBJECT_METADATA.creationTimestamp]),
  };
  const parsed = photoMetadataSchema.safeParse(candidate);
  if (parsed.success) return { ok: true, metadata: parsed.data };
  return {
    ok: false,
    detail: `stored photo has no usable ${PHOTO_OBJECT_METADATA.deviceId}/${PHOTO_OBJECT_METADATA.creationTimestamp} object metadata; deleted unannounced`,
  };
}

export interface SweeperDeps {
  store: ObjectStore;
  clock: Clock;
  logger: Logger;
  metrics: InferenceMetrics;
  intervalMs: number;
  minAgeMs: number;
  /** Jitter source in [0, 1) (tests pass a fixed one). */
  random(): number;
  /** This view's knowledge; sweeping waits until the view may judge what is orphaned. */
  view: SweepView & { mayJudge(): boolean };
  reannounce(metadata: PhotoMetadata): Promise<void>;
  /** A photo whose announcement cannot be rebuilt becomes an `orphan` item of this instance. */
  addOrphan(filePath: string, detail: string): void;
}

/** Periodic sweeps (interval ±20 % jitter, so several instances spread out); owns its timer. */
export class OrphanSweeper {
  private cancel: Cancel = () => undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: SweeperDeps) {}

  start(): void {
    const jitter = 0.8 + this.deps.random() * 0.4;
    this.cancel = this.deps.clock.schedule(this.deps.intervalMs * jitter, () => {
      this.running = this.sweep().finally(() => {
        if (!this.stopped) this.start();
      });
    });
  }

  /** Runs one sweep now, after any running one; false when this view may not judge yet. */
  sweepNow(): Promise<boolean> {
    const swept = this.running.then(() => this.sweep());
    this.running = swept.then(() => undefined);
    return swept;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel();
    await this.running.catch(() => undefined);
  }

  private async sweep(): Promise<boolean> {
    const { deps } = this;
    if (!deps.view.mayJudge()) return false;
    let objects: ObjectInfo[];
    try {
      objects = await deps.store.list(IMAGE_BUCKET);
    } catch (error) {
      deps.logger.warn({ err: error }, 'sweeper could not list storage');
      return false;
    }
    const plan = planSweep(objects, deps.clock.now(), deps.minAgeMs, deps.view);
    for (const filePath of plan.leftover) {
      const parsed = parseFilePath(filePath);
      if ('problem' in parsed) continue;
      await deps.store.delete(parsed.bucket, parsed.key).catch(() => undefined);
      deps.metrics.swept.inc({ action: 'leftover' });
    }
    for (const filePath of plan.reannounce) {
      const parsed = parseFilePath(filePath);
      if ('problem' in parsed) continue;
      let metadata: Record<string, string>;
      try {
        metadata = (await deps.store.get(parsed.bucket, parsed.key)).metadata;
      } catch {
        continue; // deleted meanwhile, or storage away: the next sweep looks again
      }
      const rebuilt = rebuildMetadata(filePath, metadata);
      if (rebuilt.ok) {
        await deps.reannounce(rebuilt.metadata).catch(() => undefined);
        deps.metrics.swept.inc({ action: 'reannounced' });
      } else {
        deps.addOrphan(filePath, rebuilt.detail);
        deps.metrics.swept.inc({ action: 'orphaned' });
      }
    }
    deps.logger.info({ reannounced: plan.reannounce.length, leftover: plan.leftover.length }, 'sweep finished');
    return true;
  }
}

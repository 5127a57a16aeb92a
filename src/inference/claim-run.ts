/**
 * One won claim, run to its end: for each device group count the latest photo, publish its
 * outcome and the superseded ones, delete the photos, then say `done`. The run owns its renew
 * timer. It stops before the next publish as soon as it is aborted (claim ended by the stream,
 * view lost, arbiter refused the renew); an outcome already seen on the stream for an item (an
 * earlier owner crashed after publishing it) is never published again.
 */

import { type Clock, every } from '../core/clock.js';
import { forEachConcurrently } from '../core/concurrently.js';
import { parseFilePath } from '../core/ids.js';
import { ImageRejectedError } from '../core/image.js';
import type { Logger } from '../core/log.js';
import { type DeadLetterReason, toLegacyResult } from '../core/messages.js';
import type { CountResult, PeopleCounter } from '../core/people-counter.js';
import { UnusableImageError } from '../core/people-counter.js';
import { RetryAbortedError, type RetryPolicy, withRetry } from '../core/retry.js';
import { ObjectNotFoundError, type ObjectStore } from '../core/storage/index.js';
import type { Topics } from '../core/topics.js';
import type { Claimer } from './claimer.js';
import type { InferenceMetrics } from './metrics.js';
import {
  analyticsFailureReason,
  type DeadLetterFields,
  deadLetterMessage,
  invalidFields,
  type OutcomeContext,
  photoFields,
  resultMessage,
  supersededMessage,
} from './outcome-messages.js';
import type { ProfileChoice } from './profile-subscription.js';
import { type DeviceGroup, type PhotoItem, planBatch, type WorkItem } from './work-items.js';

/** Points of a run where a test can stop the process (crash tests, PEOPLE_COUNTER_TEST_CRASH_AT). */
export const RUN_STEPS = ['counted', 'published', 'deleted', 'before-done'] as const;
export type RunStep = (typeof RUN_STEPS)[number];

export type AbortReason = 'stream' | 'view-lost' | 'arbiter';

export interface ClaimRun {
  claimId: string;
  /** Won items whose metadata this instance holds. */
  items: WorkItem[];
  /** Every won key (some may lack metadata here). */
  won: string[];
  reprocessed: Set<string>;
  aborted: AbortReason | undefined;
  /** Outcome published (or seen from an earlier owner) and photo deleted. */
  completed: Set<string>;
  /** An outcome publish started and not acknowledged: it may have reached the broker. */
  uncertain: Set<string>;
}

export function newClaimRun(claimId: string, won: string[], items: WorkItem[], reprocessed: string[]): ClaimRun {
  return {
    claimId,
    items,
    won,
    reprocessed: new Set(reprocessed),
    aborted: undefined,
    completed: new Set(),
    uncertain: new Set(),
  };
}

export function unfinishedOf(run: ClaimRun): string[] {
  return run.won.filter((key) => !run.completed.has(key));
}

export interface ClaimRunDeps {
  instanceId: string;
  topics: Topics;
  store: ObjectStore;
  counter: PeopleCounter;
  /** The profile a device's photo is counted with, and its version (short hash). */
  profileFor(deviceId: string): ProfileChoice | undefined;
  /** Copies the photo for a tuning session when its device is collecting (engage's tuning flow). */
  keepForTuning?(deviceId: string, photoKey: string, jpeg: Buffer, creationTimestamp: number): Promise<void>;
  claimer: Claimer;
  leaseMs: number;
  retry: RetryPolicy;
  countConcurrency: number;
  legacyResults: boolean;
  clock: Clock;
  logger: Logger;
  metrics: InferenceMetrics;
  /** Publishes a signed message: an outcome (delivered before acknowledged) or a view of one. */
  publish(topic: string, message: object, options: { outcome?: boolean; retain?: boolean }): Promise<void>;
  /** An outcome of this photo was already seen on the stream (published by an earlier owner). */
  outcomeSeen(filePath: string): boolean;
  stepReached?(step: RunStep, key: string): void;
}

/** Runs a claim to `done`; throws RetryAbortedError when aborted (nothing more published for it). */
export async function runClaim(run: ClaimRun, deps: ClaimRunDeps): Promise<void> {
  const stopRenewing = every(deps.clock, Math.max(50, Math.floor(deps.leaseMs / 3)), () => {
    if (run.aborted) return;
    void deps.claimer.renew(run.claimId, unfinishedOf(run)).then((held) => {
      if (!held && !run.aborted) {
        run.aborted = 'arbiter';
        deps.logger.warn({ claimId: run.claimId }, 'the arbiter says the claim was lost; stopping it');
      }
    });
  });
  try {
    if (run.items.length < run.won.length)
      deps.logger.warn({ claimId: run.claimId }, 'won items without their metadata');
    // Items whose outcome an earlier owner already published only need their photo deleted.
    const handled = run.items.filter((item) => deps.outcomeSeen(item.key));
    for (const item of handled) {
      await deletePhoto(run, item.key, deps);
      run.completed.add(item.key);
    }
    const plan = planBatch(run.items.filter((item) => !deps.outcomeSeen(item.key)));
    for (const item of plan.invalid) {
      await publishFailure(run, item.key, item.reason, item.detail, invalidFields(item), deps);
      run.completed.add(item.key);
    }
    for (const orphan of plan.orphans) {
      await publishFailure(run, orphan.key, 'orphaned-photo', orphan.detail, { filePath: orphan.key }, deps);
      await deletePhoto(run, orphan.key, deps);
      run.completed.add(orphan.key);
    }
    await forEachConcurrently(plan.groups, deps.countConcurrency, (group) => completeGroup(run, group, deps));
    if (run.aborted) throw new RetryAbortedError(`claim ${run.claimId} aborted (${run.aborted})`);
    deps.stepReached?.('before-done', run.claimId);
    // Names only what was processed: anything else the claim won is released by the done.
    await deps.claimer.finish(run.claimId, [...run.completed], () => run.aborted !== undefined);
  } finally {
    stopRenewing();
  }
}

function context(run: ClaimRun, key: string, deps: ClaimRunDeps): OutcomeContext {
  return {
    instanceId: deps.instanceId,
    batchId: run.claimId,
    reprocessed: run.reprocessed.has(key),
    now: deps.clock.now() / 1000,
  };
}

/**
 * Outcomes and deletes of one device's photos in flight at once: under overload a device's backlog
 * is retired in one claim, and each costs round trips, not CPU (docs/coordination.md).
 */
const RETIRE_CONCURRENCY = 8;

/** Counts a device's latest photo, reports the ones it superseded, then deletes them all. */
async function completeGroup(run: ClaimRun, group: DeviceGroup, deps: ClaimRunDeps): Promise<void> {
  await countAndPublish(run, group.counted, group.superseded.length, deps);
  await forEachConcurrently(group.superseded, RETIRE_CONCURRENCY, async (old) => {
    await publishOutcome(
      run,
      old.key,
      deps.topics.superseded,
      supersededMessage(old, group.counted, context(run, old.key, deps)),
      deps,
    );
    deps.metrics.outcomes.inc({ outcome: 'superseded', reason: '' });
  });
  await forEachConcurrently([group.counted, ...group.superseded], RETIRE_CONCURRENCY, async (photo) => {
    await deletePhoto(run, photo.key, deps);
    run.completed.add(photo.key);
    deps.stepReached?.('deleted', photo.key);
  });
}

async function countAndPublish(run: ClaimRun, photo: PhotoItem, superseded: number, deps: ClaimRunDeps) {
  const parsed = parseFilePath(photo.key);
  if ('problem' in parsed) throw new Error(`validated filePath no longer parses: ${photo.key}`);
  const { metrics, logger, retry, clock } = deps;
  let jpeg: Buffer;
  try {
    jpeg = (
      await withRetry(
        () => deps.store.get(parsed.bucket, parsed.key, { metadata: false }),
        retry,
        {
          isPermanent: (error) => error instanceof ObjectNotFoundError,
          shouldStop: () => run.aborted !== undefined,
          onRetry: (error) => {
            metrics.retries.inc({ operation: 'storage-get' });
            logger.warn({ err: error, filePath: photo.key }, 'storage read failed; retrying');
          },
        },
        clock,
      )
    ).body;
  } catch (error) {
    if (error instanceof RetryAbortedError) throw error;
    if (error instanceof ObjectNotFoundError) {
      // Deleted meanwhile by an earlier owner that published its outcome first (seen since).
      if (deps.outcomeSeen(photo.key)) return;
      return publishFailure(run, photo.key, 'object-missing', error.message, photoFields(photo), deps);
    }
    return publishFailure(run, photo.key, 'storage-error', (error as Error).message, photoFields(photo), deps);
  }
  await deps.keepForTuning?.(photo.metadata.deviceID, parsed.key, jpeg, photo.metadata.creationTimestamp);
  const chosen = deps.profileFor(photo.metadata.deviceID);
  let counted: CountResult;
  try {
    counted = await withRetry(
      () => deps.counter.count(jpeg, chosen?.profile, photo.metadata.deviceID),
      retry,
      {
        isPermanent: (error) => error instanceof UnusableImageError || error instanceof ImageRejectedError,
        shouldStop: () => run.aborted !== undefined,
        onRetry: (error) => {
          metrics.retries.inc({ operation: 'analytics' });
          logger.warn({ err: error, filePath: photo.key }, 'counting failed; retrying');
        },
      },
      clock,
    );
  } catch (error) {
    if (error instanceof RetryAbortedError) throw error;
    const reason = analyticsFailureReason(error);
    return publishFailure(run, photo.key, reason, (error as Error).message, photoFields(photo), deps);
  }
  deps.stepReached?.('counted', photo.key);
  const result = resultMessage(photo, counted, superseded, context(run, photo.key, deps), chosen?.version);
  await publishOutcome(run, photo.key, deps.topics.results, result, deps);
  deps.stepReached?.('published', photo.key);
  // The retained per-device count and the legacy shape are views of the same outcome.
  await publishView(run, deps.topics.deviceCount(result.deviceID), result, true, deps);
  if (deps.legacyResults) await publishView(run, deps.topics.metadata, toLegacyResult(result), false, deps);
  metrics.outcomes.inc({ outcome: 'counted', reason: '' });
}

async function publishFailure(
  run: ClaimRun,
  key: string,
  reason: DeadLetterReason,
  detail: string,
  fields: DeadLetterFields,
  deps: ClaimRunDeps,
): Promise<void> {
  const now = deps.clock.now() / 1000;
  const message = deadLetterMessage(reason, detail, fields, {
    instanceId: deps.instanceId,
    now,
    topic: deps.topics.metadata,
    reprocessed: run.reprocessed.has(key),
  });
  await publishOutcome(run, key, deps.topics.deadLetter, message, deps);
  deps.metrics.outcomes.inc({ outcome: 'failed', reason });
}

/**
 * Publishes an item's outcome unless the run is aborted; retries through short outages. While the
 * publish is unacknowledged the item is uncertain; if it fails for good the item stays uncertain
 * (its photo is kept, and the claim ends unsafely so the next winner flags its outcome).
 */
async function publishOutcome(run: ClaimRun, key: string, topic: string, message: object, deps: ClaimRunDeps) {
  run.uncertain.add(key);
  await withRetry(
    () => deps.publish(topic, message, { outcome: true }),
    deps.retry,
    {
      shouldStop: () => run.aborted !== undefined,
      onRetry: () => deps.metrics.retries.inc({ operation: 'publish' }),
    },
    deps.clock,
  );
  run.uncertain.delete(key);
}

/** A derived view of an outcome (retained count, legacy shape): best effort once the outcome is out. */
async function publishView(run: ClaimRun, topic: string, message: object, retain: boolean, deps: ClaimRunDeps) {
  await deps.publish(topic, message, { retain }).catch((error: unknown) => {
    deps.logger.warn({ err: error, claimId: run.claimId, topic }, 'could not publish a view of an outcome');
  });
}

async function deletePhoto(run: ClaimRun, filePath: string, deps: ClaimRunDeps): Promise<void> {
  const parsed = parseFilePath(filePath);
  if ('problem' in parsed) return;
  await withRetry(
    () => deps.store.delete(parsed.bucket, parsed.key),
    deps.retry,
    {
      onRetry: () => deps.metrics.retries.inc({ operation: 'storage-delete' }),
    },
    deps.clock,
  ).catch((error: unknown) => {
    // The outcome is out; the sweeper deletes the leftover once it sees it finished.
    deps.logger.error({ err: error, filePath, claimId: run.claimId }, 'could not delete photo');
  });
}

/** Env var for crash tests: `<step>[:<n>]` kills this process (SIGKILL) the n-th time a run reaches the step. */
export const CRASH_AT_ENV = 'PEOPLE_COUNTER_TEST_CRASH_AT';

export function crashAtStepFromEnv(env: NodeJS.ProcessEnv, logger: Logger): ((step: RunStep) => void) | undefined {
  const spec = env[CRASH_AT_ENV];
  if (!spec) return undefined;
  const [step, times] = spec.split(':');
  if (!RUN_STEPS.includes(step as RunStep)) {
    throw new Error(`${CRASH_AT_ENV} must be one of ${RUN_STEPS.join(', ')} (optionally :<n>), not "${spec}"`);
  }
  let left = Number(times ?? 1);
  logger.warn({ step, times: left }, `${CRASH_AT_ENV} is set: this process kills itself at that step (tests only)`);
  return (reached) => {
    if (reached !== step) return;
    left -= 1;
    if (left <= 0) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * One inference instance: collects photo metadata, claims batches through the ordered
 * coordination stream (claim-ledger.ts, docs/coordination.md), counts the latest photo per
 * device of each won batch, publishes exactly one outcome per item and deletes the photos.
 */
import { randomUUID } from 'node:crypto';
import type { CameraProfile, PeopleCounter } from '../analytics/people-counter.js';
import { UnusableImageError } from '../analytics/people-counter.js';
import { forEachConcurrently } from '../core/concurrently.js';
import type { MqttConfig } from '../core/config.js';
import { IMAGE_BUCKET, parseFilePath } from '../core/ids.js';
import { ImageRejectedError } from '../core/image.js';
import type { Logger } from '../core/log.js';
import {
  type DeadLetterMessage,
  type DeadLetterReason,
  MESSAGE_VERSION,
  nowSeconds,
  parseJsonMessage,
  type ResultMessage,
  type SupersededMessage,
  toLegacyResult,
} from '../core/messages.js';
import { createMetricsRegistry, type Registry } from '../core/metrics.js';
import { MqttConnection } from '../core/mqtt.js';
import { ObjectNotFoundError, type ObjectStore } from '../core/storage/index.js';
import { makeTopics } from '../core/topics.js';
import { PendingSet } from './batcher.js';
import { BoundedSet } from './bounded-set.js';
import { ClaimLedger, type LedgerEvent } from './claim-ledger.js';
import { COORDINATION_VERSION, type CoordinationMessage, coordinationMessageSchema } from './coordination-messages.js';
import { createInferenceMetrics } from './metrics.js';
import { planSweep, rebuildMetadata } from './orphan-sweeper.js';
import { type ProfileChoice, subscribeToProfiles } from './profile-subscription.js';
import type { ClaimArbiter } from './redis-arbiter.js';
import { DEFAULT_RETRY, RetryAbortedError, type RetryPolicy, withRetry } from './retry.js';
import { startTuningCollector } from './tuning-collector.js';
import {
  classifyMetadataMessage,
  type DeviceGroup,
  type InvalidItem,
  type PhotoItem,
  planBatch,
  type WorkItem,
} from './work-items.js';

export interface InferenceConfig {
  mqtt: MqttConfig;
  instanceId: string;
  batchSize: number;
  maxWaitMs: number;
  leaseMs: number;
  heartbeatMs: number;
  /** After a reconnect without session, no new claims for this long (docs/coordination.md). */
  resyncMs: number;
  /** Orphan sweeper; null turns it off. */
  sweep: { intervalMs: number; minAgeMs: number } | null;
  legacyResults: boolean;
  profiles: Record<string, CameraProfile>;
  retry: RetryPolicy;
  /** Devices of one batch counted at the same time (match the model's parallelism). */
  countConcurrency: number;
}

export function defaultInferenceConfig(mqtt: MqttConfig, instanceId: string): InferenceConfig {
  return {
    mqtt,
    instanceId,
    batchSize: 10,
    maxWaitMs: 2_000,
    leaseMs: 30_000,
    heartbeatMs: 5_000,
    resyncMs: 2_000,
    sweep: { intervalMs: 60_000, minAgeMs: 2_000 + 30_000 + 10_000 },
    legacyResults: false,
    profiles: {},
    retry: DEFAULT_RETRY,
    countConcurrency: 1,
  };
}

/** Hooks for benchmarks and tests; the service works without them. */
export interface InferenceObserver {
  claimRoundTrip?(ms: number): void;
  coordinationMessage?(type: CoordinationMessage['type'] | 'invalid'): void;
  metadataMessage?(): void;
}

export interface InferenceDeps {
  counter: PeopleCounter;
  store: ObjectStore;
  logger: Logger;
  /** Decides claims instead of the ordered stream (clustered brokers); the stream is then informational. */
  arbiter?: ClaimArbiter;
  metrics?: Registry;
  observer?: InferenceObserver;
}

export interface InferenceInstance {
  instanceId: string;
  metrics: Registry;
  connection: MqttConnection;
  /** Resolves once subscribed to metadata and coordination for the first time. */
  subscribed: Promise<void>;
  /** Claimable items held here. */
  pendingCount(): number;
  /** True once subscribed to metadata and coordination: photos announced earlier are never claimed here. */
  isSubscribed(): boolean;
  /** Runs one sweep now (tests; normally periodic). */
  sweepNow(): Promise<void>;
  /** The profile this instance counts a device's next photo with (live from engage, else --profiles). */
  profileFor(deviceId: string): ProfileChoice | undefined;
  stop(): Promise<void>;
}

interface ClaimRun {
  claimId: string;
  items: WorkItem[];
  reprocessed: Set<string>;
  aborted: boolean;
  /** Items whose outcome is published and photo deleted. */
  completed: Set<string>;
  finished: Promise<void>;
}

export async function startInferenceInstance(config: InferenceConfig, deps: InferenceDeps): Promise<InferenceInstance> {
  const { instanceId } = config;
  const { counter, store, logger } = deps;
  const registry = deps.metrics ?? createMetricsRegistry('inference', instanceId);
  const metrics = createInferenceMetrics(registry);
  const ledger = new ClaimLedger();
  const pending = new PendingSet();
  const offline: CoordinationMessage = { type: 'offline', version: COORDINATION_VERSION, instanceId };

  const topics = makeTopics(config.mqtt.prefix, config.mqtt.metadataTopic);
  const connection = MqttConnection.start({
    config: config.mqtt,
    service: 'inference',
    instanceId,
    logger,
    persistentSession: true,
    // Not retained: it is an event in the ordered stream, applied at its position.
    will: { topic: topics.coordination, payload: JSON.stringify(offline), retain: false },
    announceAvailability: false,
  });
  // A connection has one will, and the stream's needs it; this second, idle connection carries the
  // retained availability (and its `offline` will) that dashboards and Home Assistant read.
  const presence = MqttConnection.start({
    config: config.mqtt,
    service: 'inference',
    instanceId,
    logger: logger.child({ connection: 'availability' }),
    clientIdSuffix: '-presence',
  });

  // Before the metadata subscription below, so that retained profiles arrive before the first photo.
  const liveProfiles = subscribeToProfiles({ connection, seed: config.profiles, logger });
  const tuning = startTuningCollector({ connection, store, logger, nowSeconds });

  /** Own claims published but not yet seen in the stream. */
  const outstanding = new Map<string, { publishedAt: number; items: Set<string> }>();
  const runs = new Map<string, ClaimRun>();
  /** Claims this process has run, so their echo is never mistaken for a previous life's. */
  const ranHere = new BoundedSet<string>(10_000);
  const { arbiter } = deps;
  /** Local receive time of every foreign active claim (lease clock; never compared across machines). */
  const leaseClock = new Map<string, number>();
  const expireSent = new Set<string>();
  let resyncUntil = 0;
  let subscribedSince = Number.POSITIVE_INFINITY;
  let everConnected = false;
  let stopping = false;
  let batchTimer: NodeJS.Timeout | undefined;
  let markSubscribed: () => void = () => undefined;
  const subscribed = new Promise<void>((resolve) => {
    markSubscribed = resolve;
  });

  const isTaken = (key: string) =>
    ledger.isTaken(key) || (outstanding.size > 0 && [...outstanding.values()].some((claim) => claim.items.has(key)));
  const claimableCount = () => pending.claimable(isTaken).length;
  const updateGauges = () => {
    metrics.pending.set(claimableCount());
    metrics.activeClaims.set(ledger.activeClaims().length);
  };

  const publishCoordination = (message: CoordinationMessage) =>
    connection.publishJson(topics.coordination, message, { qos: 1 });

  // ---- connection ------------------------------------------------------------------------
  connection.client.on('connect', (packet) => {
    const reconnect = everConnected;
    everConnected = true;
    for (const claimId of leaseClock.keys()) leaseClock.set(claimId, Date.now());
    const resync = reconnect && !packet.sessionPresent;
    if (resync) resyncUntil = Date.now() + config.resyncMs;
    // ONE subscribe for both topics: from here on this view sees every claim on every photo it
    // sees. Re-subscribing keeps a present session's queue (and repairs one without subscriptions).
    connection
      .subscribe([topics.metadata, topics.coordination], 1)
      .then(() => {
        subscribedSince = Math.min(subscribedSince, Date.now());
        markSubscribed();
        if (resync) return reannounceOwnClaims();
      })
      .catch((error: unknown) => logger.error({ err: error }, 'subscribe failed'))
      .finally(schedule);
  });

  /** After the broker lost our session, tell every view again which claims this instance holds. */
  async function reannounceOwnClaims(): Promise<void> {
    for (const run of runs.values()) {
      const claim = ledger.claim(run.claimId);
      if (!claim || run.aborted) continue;
      await publishCoordination({
        type: 'claim',
        version: COORDINATION_VERSION,
        claimId: run.claimId,
        instanceId,
        filePaths: [...claim.items],
        leaseMs: config.leaseMs,
      }).catch((error: unknown) => logger.warn({ err: error, claimId: run.claimId }, 're-announcing claim failed'));
    }
  }

  // ---- input: metadata -------------------------------------------------------------------
  connection.onMessage(topics.metadata, (topic, payload) => {
    if (topic !== topics.metadata) return;
    deps.observer?.metadataMessage?.();
    const classified = classifyMetadataMessage(payload);
    if (classified.kind === 'ignore') {
      metrics.ignored.inc({ reason: classified.reason });
      return;
    }
    const { item } = classified;
    if (ledger.isFinished(item.key)) {
      metrics.ignored.inc({ reason: 'already-finished' });
      return;
    }
    if (!pending.add(item, Date.now())) {
      metrics.ignored.inc({ reason: 'duplicate' });
      return;
    }
    schedule();
  });

  // ---- input: the ordered coordination stream --------------------------------------------
  connection.onMessage(topics.coordination, (topic, payload) => {
    if (topic !== topics.coordination) return;
    const parsed = parseJsonMessage(coordinationMessageSchema, payload);
    if (!parsed.ok) {
      metrics.coordinationMessages.inc({ type: 'invalid' });
      deps.observer?.coordinationMessage?.('invalid');
      logger.debug({ detail: parsed.detail }, 'ignoring invalid coordination message');
      return;
    }
    const message = parsed.value;
    metrics.coordinationMessages.inc({ type: message.type });
    deps.observer?.coordinationMessage?.(message.type);
    for (const event of ledger.apply(message)) onLedgerEvent(event);
    schedule();
  });

  function onLedgerEvent(event: LedgerEvent): void {
    switch (event.kind) {
      case 'claim-applied': {
        const own = event.instanceId === instanceId;
        const mine = own ? outstanding.get(event.claimId) : undefined;
        if (mine) {
          outstanding.delete(event.claimId);
          const ms = performance.now() - mine.publishedAt;
          metrics.coordinationLatency.observe(ms / 1000);
          deps.observer?.claimRoundTrip?.(ms);
          const result = event.lost.length === 0 ? 'won' : event.won.length === 0 ? 'lost' : 'partial';
          metrics.claims.inc({ result });
          metrics.claimItems.inc({ result: 'won' }, event.won.length);
          metrics.claimItems.inc({ result: 'lost' }, event.lost.length);
          if (event.won.length > 0) {
            if (stopping) void releaseClaim(event.claimId);
            else startRun(event.claimId, event.won, event.reprocessed);
          }
        } else if (event.won.length > 0) {
          leaseClock.set(event.claimId, Date.now());
          // Our own claim that this process is not running (a previous life's, or one we gave up
          // waiting for): nobody will finish it, so hand it on at once.
          if (own && !ranHere.has(event.claimId)) void expireClaim(event.claimId);
        }
        break;
      }
      case 'renewed':
        if (event.instanceId !== instanceId) leaseClock.set(event.claimId, Date.now());
        break;
      case 'claim-ended': {
        leaseClock.delete(event.claimId);
        expireSent.delete(event.claimId);
        if (event.reason === 'expired' || event.reason === 'offline')
          metrics.leaseExpiries.inc({ reason: event.reason });
        const run = runs.get(event.claimId);
        // With an arbiter the stream is informational: only the arbiter's renew can stop a run.
        if (run && !arbiter && event.reason !== 'done' && event.reason !== 'won-nothing') {
          run.aborted = true;
          logger.warn({ claimId: event.claimId, reason: event.reason }, 'own claim ended by the stream; stopping it');
        }
        break;
      }
      case 'finished':
        for (const key of event.items) pending.delete(key);
        break;
      case 'ignored':
        break;
    }
  }

  // ---- claiming --------------------------------------------------------------------------
  function schedule(): void {
    if (batchTimer) {
      clearTimeout(batchTimer);
      batchTimer = undefined;
    }
    if (stopping || !connection.connected || subscribedSince === Number.POSITIVE_INFINITY) return;
    const now = Date.now();
    if (now < resyncUntil) {
      batchTimer = setTimeout(schedule, resyncUntil - now);
      return;
    }
    if (outstanding.size + runs.size > 0) return; // one claim at a time per instance
    const decision = pending.decide(now, config, isTaken);
    if (decision.kind === 'wait') batchTimer = setTimeout(schedule, decision.ms);
    if (decision.kind === 'claim') void publishClaim(decision.items);
  }

  async function publishClaim(items: WorkItem[]): Promise<void> {
    const claimId = `${instanceId}:${randomUUID()}`;
    const keys = items.map((item) => item.key);
    outstanding.set(claimId, { publishedAt: performance.now(), items: new Set(keys) });
    if (arbiter) return arbitrate(arbiter, claimId, keys);
    try {
      await publishCoordination({
        type: 'claim',
        version: COORDINATION_VERSION,
        claimId,
        instanceId,
        filePaths: keys,
        leaseMs: config.leaseMs,
      });
    } catch (error) {
      logger.warn({ err: error }, 'could not publish claim; will retry');
      giveUpWaiting(claimId);
      batchTimer = setTimeout(schedule, 500);
      return;
    }
    // A claim that never comes back (lost by a crashing broker) must not block this instance.
    setTimeout(
      () => {
        if (outstanding.has(claimId)) giveUpWaiting(claimId);
      },
      Math.max(5_000, config.leaseMs),
    ).unref();
  }

  /** Claims through the arbiter; the claim published on the stream names only what was won. */
  async function arbitrate(arbiter: ClaimArbiter, claimId: string, keys: string[]): Promise<void> {
    const started = outstanding.get(claimId)?.publishedAt ?? performance.now();
    let decision: { won: string[]; reprocessed: string[] };
    try {
      decision = await arbiter.claim(claimId, keys, config.leaseMs);
    } catch (error) {
      logger.warn({ err: error }, 'arbiter unavailable; will retry the claim');
      outstanding.delete(claimId);
      batchTimer = setTimeout(schedule, 500);
      return;
    }
    const ms = performance.now() - started;
    metrics.coordinationLatency.observe(ms / 1000);
    deps.observer?.claimRoundTrip?.(ms);
    const { won, reprocessed } = decision;
    metrics.claims.inc({ result: won.length === keys.length ? 'won' : won.length === 0 ? 'lost' : 'partial' });
    metrics.claimItems.inc({ result: 'won' }, won.length);
    metrics.claimItems.inc({ result: 'lost' }, keys.length - won.length);
    if (won.length > 0) {
      startRun(claimId, won, reprocessed);
      void publishCoordination({
        type: 'claim',
        version: COORDINATION_VERSION,
        claimId,
        instanceId,
        filePaths: won,
        leaseMs: config.leaseMs,
      }).catch(() => undefined);
    }
    outstanding.delete(claimId);
    schedule();
  }

  function giveUpWaiting(claimId: string): void {
    // If it still arrives, it is not in `ranHere` and gets expired at once (see claim-applied).
    outstanding.delete(claimId);
    schedule();
  }

  async function expireClaim(claimId: string): Promise<void> {
    if (expireSent.has(claimId)) return;
    expireSent.add(claimId);
    await publishCoordination({ type: 'expire', version: COORDINATION_VERSION, claimId, by: instanceId }).catch(
      (error: unknown) => {
        expireSent.delete(claimId);
        logger.warn({ err: error, claimId }, 'could not publish expire');
      },
    );
  }

  async function releaseClaim(claimId: string): Promise<void> {
    await publishCoordination({ type: 'release', version: COORDINATION_VERSION, claimId, instanceId }).catch(
      (error: unknown) => logger.warn({ err: error, claimId }, 'could not publish release'),
    );
  }

  // ---- processing a won claim ------------------------------------------------------------
  function startRun(claimId: string, won: string[], reprocessed: string[]): void {
    const items = won.map((key) => pending.get(key)).filter((item): item is WorkItem => item !== undefined);
    const run: ClaimRun = {
      claimId,
      items,
      reprocessed: new Set(reprocessed),
      aborted: false,
      completed: new Set(),
      finished: Promise.resolve(),
    };
    if (run.reprocessed.size > 0) metrics.reprocessed.inc(run.reprocessed.size);
    runs.set(claimId, run);
    ranHere.add(claimId);
    run.finished = processRun(run, won)
      .catch((error: unknown) => {
        logger.error({ err: error, claimId }, 'claim processing failed; its lease will hand it on');
      })
      .finally(() => {
        runs.delete(claimId);
        schedule();
      });
  }

  async function processRun(run: ClaimRun, won: string[]): Promise<void> {
    const renewTimer = setInterval(
      () => {
        if (run.aborted) return;
        const unfinished = unfinishedOf(run);
        arbiter
          ?.renew(run.claimId, unfinished, config.leaseMs)
          .then((held) => {
            if (!held && !run.aborted) {
              run.aborted = true;
              logger.warn({ claimId: run.claimId }, 'the arbiter says the claim was lost; stopping it');
            }
          })
          .catch((error: unknown) => logger.warn({ err: error }, 'could not renew the claim with the arbiter'));
        void publishCoordination({
          type: 'renew',
          version: COORDINATION_VERSION,
          claimId: run.claimId,
          instanceId,
          filePaths: unfinished,
          leaseMs: config.leaseMs,
        }).catch(() => undefined);
      },
      Math.max(50, Math.floor(config.leaseMs / 3)),
    );
    try {
      // Items we won without knowing them (metadata never reached us): nothing to do but release.
      if (run.items.length < won.length) logger.warn({ claimId: run.claimId }, 'won items without their metadata');
      const batchId = run.claimId;
      const plan = planBatch(run.items);
      for (const item of plan.invalid) {
        await publishFailure(run, item.key, item.reason, item.detail, invalidFields(item));
        run.completed.add(item.key);
      }
      for (const orphan of plan.orphans) {
        await publishFailure(run, orphan.key, 'orphaned-photo', orphan.detail, { filePath: orphan.key });
        await deletePhoto(run, orphan.key);
        run.completed.add(orphan.key);
      }
      await forEachConcurrently(plan.groups, config.countConcurrency, (group) => completeGroup(run, batchId, group));
      if (run.aborted) return;
      if (arbiter) {
        await withRetry(() => arbiter.finish(run.claimId, [...run.completed]), config.retry, {
          shouldStop: () => run.aborted,
          onRetry: () => metrics.retries.inc({ operation: 'arbiter' }),
        });
      }
      // Names only what was processed: anything else the claim won is released by the done.
      await withRetry(
        () =>
          publishCoordination({
            type: 'done',
            version: COORDINATION_VERSION,
            claimId: run.claimId,
            instanceId,
            filePaths: [...run.completed],
          }),
        config.retry,
        { shouldStop: () => run.aborted },
      );
    } catch (error) {
      if (error instanceof RetryAbortedError) return;
      if (stopping) return finishEarly(run);
      throw error;
    } finally {
      clearInterval(renewTimer);
    }
  }

  /** Counts a device's latest photo, reports the ones it superseded, then deletes them all. */
  async function completeGroup(run: ClaimRun, batchId: string, group: DeviceGroup): Promise<void> {
    await countAndPublish(run, batchId, group.counted, group.superseded.length);
    for (const old of group.superseded) {
      if (run.aborted) return;
      const message: SupersededMessage = {
        type: 'superseded',
        version: MESSAGE_VERSION,
        deviceID: old.metadata.deviceID,
        filePath: old.key,
        creationTimestamp: old.metadata.creationTimestamp,
        supersededBy: group.counted.key,
        batchId,
        instanceId,
        ...(run.reprocessed.has(old.key) ? { reprocessed: true } : {}),
      };
      await publishOutcome(run, topics.superseded, message);
      metrics.outcomes.inc({ outcome: 'superseded', reason: '' });
    }
    for (const photo of [group.counted, ...group.superseded]) {
      await deletePhoto(run, photo.key);
      run.completed.add(photo.key);
    }
  }

  /** Graceful stop in the middle of a claim: finish what is done, release the rest. */
  async function finishEarly(run: ClaimRun): Promise<void> {
    if (run.aborted) return;
    run.aborted = true;
    if (arbiter) {
      await arbiter.finish(run.claimId, [...run.completed]).catch(() => undefined);
      await arbiter.release(run.claimId, unfinishedOf(run)).catch(() => undefined);
    }
    if (run.completed.size > 0) {
      await publishCoordination({
        type: 'done',
        version: COORDINATION_VERSION,
        claimId: run.claimId,
        instanceId,
        filePaths: [...run.completed],
      }).catch(() => undefined);
    }
    await releaseClaim(run.claimId);
  }

  async function countAndPublish(run: ClaimRun, batchId: string, photo: PhotoItem, superseded: number): Promise<void> {
    const parsed = parseFilePath(photo.key);
    if ('problem' in parsed) throw new Error(`validated filePath no longer parses: ${photo.key}`);
    const reprocessed = run.reprocessed.has(photo.key);
    let jpeg: Buffer;
    try {
      jpeg = (
        await withRetry(() => store.get(parsed.bucket, parsed.key), config.retry, {
          isPermanent: (error) => error instanceof ObjectNotFoundError,
          shouldStop: () => run.aborted,
          onRetry: (error) => {
            metrics.retries.inc({ operation: 'storage-get' });
            logger.warn({ err: error, filePath: photo.key }, 'storage read failed; retrying');
          },
        })
      ).body;
    } catch (error) {
      if (error instanceof RetryAbortedError) throw error;
      if (error instanceof ObjectNotFoundError) {
        // Re-processing after an expired lease: the first owner deletes only after publishing.
        if (reprocessed && ledger.isFinished(photo.key)) return;
        return publishFailure(run, photo.key, 'object-missing', (error as Error).message, photoFields(photo));
      }
      return publishFailure(run, photo.key, 'storage-error', (error as Error).message, photoFields(photo));
    }
    await tuning.keep(photo.metadata.deviceID, parsed.key, jpeg, photo.metadata.creationTimestamp);
    const chosen = liveProfiles.profileFor(photo.metadata.deviceID);
    const profile = chosen?.profile;
    let counted: Awaited<ReturnType<PeopleCounter['count']>>;
    try {
      counted = await withRetry(() => counter.count(jpeg, profile), config.retry, {
        isPermanent: (error) => error instanceof UnusableImageError || error instanceof ImageRejectedError,
        shouldStop: () => run.aborted,
        onRetry: (error) => {
          metrics.retries.inc({ operation: 'analytics' });
          logger.warn({ err: error, filePath: photo.key }, 'counting failed; retrying');
        },
      });
    } catch (error) {
      if (error instanceof RetryAbortedError) throw error;
      const reason = analyticsFailureReason(error);
      return publishFailure(run, photo.key, reason, (error as Error).message, photoFields(photo));
    }
    const analysedAt = nowSeconds();
    const result: ResultMessage = {
      type: 'result',
      version: MESSAGE_VERSION,
      resultId: randomUUID(),
      deviceID: photo.metadata.deviceID,
      count: counted.count,
      filePath: photo.key,
      creationTimestamp: photo.metadata.creationTimestamp,
      superseded,
      batchId,
      instanceId,
      model: counted.model,
      analysedAt,
      latencyMs: Math.round((analysedAt - photo.metadata.creationTimestamp) * 1000),
      reprocessed,
      detections: counted.detections,
      ...(chosen ? { profile: chosen.version } : {}),
      ...(counted.hints?.length ? { hints: counted.hints } : {}),
    };
    await publishOutcome(run, topics.results, result);
    // The retained per-device count and the legacy shape are views of the same outcome.
    await publishOutcome(run, topics.deviceCount(result.deviceID), result, true);
    if (config.legacyResults) await publishOutcome(run, topics.metadata, toLegacyResult(result));
    metrics.outcomes.inc({ outcome: 'counted', reason: '' });
  }

  async function publishFailure(
    run: ClaimRun,
    key: string,
    reason: DeadLetterReason,
    detail: string,
    fields: Partial<Pick<DeadLetterMessage, 'deviceID' | 'filePath' | 'payload'>>,
  ): Promise<void> {
    const message: DeadLetterMessage = {
      type: 'dead-letter',
      version: MESSAGE_VERSION,
      reason,
      detail,
      service: 'inference',
      instanceId,
      topic: topics.metadata,
      ...fields,
      at: nowSeconds(),
      ...(run.reprocessed.has(key) ? { reprocessed: true } : {}),
    };
    await publishOutcome(run, topics.deadLetter, message);
    metrics.outcomes.inc({ outcome: 'failed', reason });
  }

  /** Publishes one outcome unless the claim has ended; retries through broker outages (bounded). */
  async function publishOutcome(run: ClaimRun, topic: string, message: unknown, retain = false): Promise<void> {
    await withRetry(() => connection.publishJson(topic, message, { qos: 1, retain }), config.retry, {
      shouldStop: () => run.aborted,
      onRetry: () => metrics.retries.inc({ operation: 'publish' }),
    });
  }

  async function deletePhoto(run: ClaimRun, filePath: string): Promise<void> {
    const parsed = parseFilePath(filePath);
    if ('problem' in parsed) return;
    await withRetry(() => store.delete(parsed.bucket, parsed.key), config.retry, {
      onRetry: () => metrics.retries.inc({ operation: 'storage-delete' }),
    }).catch((error: unknown) => {
      // The outcome is out; the sweeper deletes the leftover once it sees it finished.
      logger.error({ err: error, filePath, claimId: run.claimId }, 'could not delete photo');
    });
  }

  // ---- leases, heartbeats, sweeping ------------------------------------------------------
  const leaseTimer = setInterval(
    () => {
      if (!connection.connected) return;
      const now = Date.now();
      for (const claim of ledger.activeClaims()) {
        if (claim.instanceId === instanceId && runs.has(claim.claimId)) continue;
        const since = leaseClock.get(claim.claimId);
        if (since === undefined) leaseClock.set(claim.claimId, now);
        else if (now - since > claim.leaseMs) void expireClaim(claim.claimId);
      }
    },
    Math.max(20, Math.min(1_000, Math.floor(config.leaseMs / 4))),
  );
  // Gauges are sampled, not updated per message: counting claimable items walks the pending set.
  const gaugeTimer = setInterval(updateGauges, 1_000);
  gaugeTimer.unref();
  const heartbeatTimer = setInterval(() => {
    if (!connection.connected) return;
    void publishCoordination({
      type: 'heartbeat',
      version: COORDINATION_VERSION,
      instanceId,
      pending: claimableCount(),
      activeClaims: runs.size,
    }).catch(() => undefined);
  }, config.heartbeatMs);
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> = Promise.resolve();
  const scheduleSweep = () => {
    if (!config.sweep || stopping) return;
    const jitter = 0.8 + Math.random() * 0.4;
    sweepTimer = setTimeout(() => {
      sweeping = sweep().finally(scheduleSweep);
    }, config.sweep.intervalMs * jitter);
  };
  scheduleSweep();

  async function sweep(): Promise<void> {
    if (!config.sweep || !connection.connected) return;
    // Only a view that has watched the stream for a whole lease knows every live claim
    // (owners renew at a third of the lease), so only such a view may judge what is orphaned.
    if (Date.now() - subscribedSince < config.leaseMs) return;
    const bucket = IMAGE_BUCKET;
    let objects: Awaited<ReturnType<ObjectStore['list']>>;
    try {
      objects = await store.list(bucket);
    } catch (error) {
      logger.warn({ err: error }, 'sweeper could not list storage');
      return;
    }
    const plan = planSweep(objects, Date.now(), config.sweep.minAgeMs, {
      isHandled: (filePath) => pending.has(filePath) || ledger.ownerOf(filePath) !== undefined,
      isFinished: (filePath) => ledger.isFinished(filePath),
    });
    for (const filePath of plan.leftover) {
      const parsed = parseFilePath(filePath);
      if ('problem' in parsed) continue;
      await store.delete(parsed.bucket, parsed.key).catch(() => undefined);
      metrics.swept.inc({ action: 'leftover' });
    }
    for (const filePath of plan.reannounce) {
      const parsed = parseFilePath(filePath);
      if ('problem' in parsed) continue;
      let metadata: Record<string, string>;
      try {
        metadata = (await store.get(parsed.bucket, parsed.key)).metadata;
      } catch {
        continue; // deleted meanwhile, or storage away: the next sweep looks again
      }
      const rebuilt = rebuildMetadata(filePath, metadata);
      if (rebuilt.ok) {
        await connection.publishJson(topics.metadata, rebuilt.metadata, { qos: 1 }).catch(() => undefined);
        metrics.swept.inc({ action: 'reannounced' });
      } else {
        pending.add({ kind: 'orphan', key: filePath, detail: rebuilt.detail }, Date.now());
        metrics.swept.inc({ action: 'orphaned' });
      }
    }
    logger.info({ reannounced: plan.reannounce.length, leftover: plan.leftover.length }, 'sweep finished');
    schedule();
  }

  return {
    instanceId,
    metrics: registry,
    connection,
    subscribed,
    pendingCount: claimableCount,
    isSubscribed: () => subscribedSince !== Number.POSITIVE_INFINITY,
    sweepNow: () => {
      sweeping = sweeping.then(sweep);
      return sweeping;
    },
    profileFor: liveProfiles.profileFor,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      if (batchTimer) clearTimeout(batchTimer);
      if (sweepTimer) clearTimeout(sweepTimer);
      clearInterval(heartbeatTimer);
      clearInterval(leaseTimer);
      clearInterval(gaugeTimer);
      // A claim still on its way is released when it comes back (see onLedgerEvent).
      const deadline = Date.now() + 2_000;
      while (outstanding.size > 0 && connection.connected && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await Promise.all([...runs.values()].map((run) => run.finished));
      await sweeping.catch(() => undefined);
      // A stopped instance should not have the broker queue the stream for it.
      await connection.client.unsubscribeAsync([topics.metadata, topics.coordination]).catch(() => undefined);
      liveProfiles.stop();
      tuning.stop();
      await connection.close();
      await presence.close();
    },
  };
}

function unfinishedOf(run: ClaimRun): string[] {
  return run.items.map((item) => item.key).filter((key) => !run.completed.has(key));
}

function photoFields(photo: PhotoItem): Pick<DeadLetterMessage, 'deviceID' | 'filePath'> {
  return { deviceID: photo.metadata.deviceID, filePath: photo.key };
}

function invalidFields(item: InvalidItem): Partial<Pick<DeadLetterMessage, 'deviceID' | 'filePath' | 'payload'>> {
  return {
    payload: item.payload,
    ...(item.deviceID !== undefined ? { deviceID: item.deviceID } : {}),
    ...(item.filePath !== undefined ? { filePath: item.filePath } : {}),
  };
}

function analyticsFailureReason(error: unknown): DeadLetterReason {
  if (error instanceof ImageRejectedError) {
    return error.problem === 'too-large' || error.problem === 'too-many-pixels'
      ? 'image-too-large'
      : 'undecodable-image';
  }
  return error instanceof UnusableImageError ? 'undecodable-image' : 'analytics-error';
}

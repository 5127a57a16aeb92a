/**
 * One inference instance, wired from its parts: the stream session (views, signing), the ledger
 * and pending set (pure), the claimer (stream or Redis arbiter), one run per won claim, the lease
 * watch, the heartbeat and the orphan sweeper. Collects photo metadata, claims batches, counts
 * the latest photo per device of each won batch, publishes exactly one outcome per item and
 * deletes the photos (docs/coordination.md).
 */
import { randomUUID } from 'node:crypto';
import { BoundedSet } from '../core/bounded-set.js';
import { type Cancel, type Clock, systemClock } from '../core/clock.js';
import type { MqttConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { createMessageAuth, type MessageAuth } from '../core/message-auth.js';
import { payloadExcerpt } from '../core/messages.js';
import { createMetricsRegistry, type Registry } from '../core/metrics.js';
import { type LastWill, MqttConnection } from '../core/mqtt.js';
import type { CameraProfile, PeopleCounter } from '../core/people-counter.js';
import { DEFAULT_RETRY, RetryAbortedError, type RetryPolicy } from '../core/retry.js';
import type { ObjectStore } from '../core/storage/index.js';
import { makeTopics } from '../core/topics.js';
import { PendingSet } from './batcher.js';
import { ClaimLedger, type LedgerEvent } from './claim-ledger.js';
import { type ClaimRun, newClaimRun, type RunStep, runClaim, unfinishedOf } from './claim-run.js';
import { ArbiterClaimer, type ClaimerContext, type ClaimGrant, endsRun, StreamClaimer } from './claimer.js';
import { COORDINATION_VERSION, type CoordinationMessage } from './coordination-messages.js';
import { startHeartbeat } from './heartbeat.js';
import { LeaseWatch } from './lease-watch.js';
import { createInferenceMetrics } from './metrics.js';
import { OrphanSweeper } from './orphan-sweeper.js';
import { deadLetterMessage } from './outcome-messages.js';
import { type ProfileChoice, staticProfiles, subscribeToProfiles } from './profile-subscription.js';
import type { ClaimArbiter } from './redis-arbiter.js';
import {
  type BrokerLink,
  mqttBrokerLink,
  type OutcomeQos,
  type RefusedReason,
  StreamSession,
} from './stream-session.js';
import { startTuningCollector } from './tuning-collector.js';
import { classifyMetadataMessage, type WorkItem } from './work-items.js';

export interface InferenceConfig {
  mqtt: MqttConfig;
  instanceId: string;
  batchSize: number;
  maxWaitMs: number;
  leaseMs: number;
  heartbeatMs: number;
  /** Orphan sweeper; null turns it off. */
  sweep: { intervalMs: number; minAgeMs: number } | null;
  legacyResults: boolean;
  /** Camera profiles by device ID from `--profiles`; a live profile from engage wins (profile-subscription.ts). */
  profiles: Record<string, CameraProfile>;
  retry: RetryPolicy;
  /** Devices of one batch counted at the same time (match the model's parallelism). */
  countConcurrency: number;
  /** Signs what this instance publishes and verifies coordination and outcomes it receives. */
  messageAuth: MessageAuth;
  /** QoS of outcome messages (default 2); 1 for brokers without QoS 2, e.g. NATS 2.9 (docs/system.md). */
  outcomeQos?: OutcomeQos;
}

/** Every default of an instance's settings; the CLI shows and uses these. */
export const INFERENCE_DEFAULTS = {
  batchSize: 10,
  maxWaitMs: 2_000,
  leaseMs: 30_000,
  heartbeatMs: 5_000,
  sweepIntervalMs: 60_000,
  retry: DEFAULT_RETRY,
  countConcurrency: 1,
} as const;

/**
 * A stored photo nobody handles is re-announced once older than this: by then its announcement
 * would have been batched (max wait) and its claim's lease run out, with some slack.
 */
export function defaultSweepMinAgeMs(maxWaitMs: number, leaseMs: number): number {
  return maxWaitMs + leaseMs + 10_000;
}

export function defaultInferenceConfig(mqtt: MqttConfig, instanceId: string): InferenceConfig {
  const { batchSize, maxWaitMs, leaseMs, heartbeatMs, sweepIntervalMs, retry, countConcurrency } = INFERENCE_DEFAULTS;
  return {
    mqtt,
    instanceId,
    batchSize,
    maxWaitMs,
    leaseMs,
    heartbeatMs,
    sweep: { intervalMs: sweepIntervalMs, minAgeMs: defaultSweepMinAgeMs(maxWaitMs, leaseMs) },
    legacyResults: false,
    profiles: {},
    retry,
    countConcurrency,
    messageAuth: createMessageAuth(undefined),
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
  /** Time for every timer and lease of the instance (default: the system clock). */
  clock?: Clock;
  /**
   * Opens the broker connection, each connect of which carries `will()` as its last will (default:
   * MQTT from `config.mqtt`); unit tests pass a fake broker's.
   */
  link?: (will: () => LastWill) => BrokerLink;
  /** Jitter source for the sweeper (default Math.random). */
  random?: () => number;
  /** Called when a run reaches a step (crash tests stop the process there). */
  stepReached?: (step: RunStep, key: string) => void;
}

export interface InferenceInstance {
  instanceId: string;
  metrics: Registry;
  /** Resolves once subscribed to metadata and coordination for the first time. */
  subscribed: Promise<void>;
  /** Claimable items held here. */
  pendingCount(): number;
  /** True while a view is subscribed: photos announced outside a view are never claimed here. */
  isSubscribed(): boolean;
  connected(): boolean;
  /** Runs one sweep now (tests; normally periodic); false when the view may not judge yet or sweeping is off. */
  sweepNow(): Promise<boolean>;
  /** The profile this instance counts a device's next photo with (live from engage, else --profiles). */
  profileFor(deviceId: string): ProfileChoice | undefined;
  stop(): Promise<void>;
}

interface RunningClaim {
  run: ClaimRun;
  finished: Promise<void>;
}

export async function startInferenceInstance(config: InferenceConfig, deps: InferenceDeps): Promise<InferenceInstance> {
  const { instanceId, messageAuth } = config;
  const { counter, store, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const registry = deps.metrics ?? createMetricsRegistry('inference', instanceId);
  const metrics = createInferenceMetrics(registry);
  const topics = makeTopics(config.mqtt.prefix, config.mqtt.metadataTopic);
  const ledger = new ClaimLedger();
  const pending = new PendingSet();
  /** Photos whose outcome was seen on the stream: never given a second one (docs/coordination.md). */
  const outcomeSeen = new BoundedSet<string>(100_000);
  const runs = new Map<string, RunningClaim>();
  /** Runs stopped by a lost view, whose claim is ended on the stream once a new view is subscribed. */
  const toGiveUp: ClaimRun[] = [];
  let claiming: Promise<void> | undefined;
  let viewSince: number | undefined;
  let stopping = false;
  let cancelBatch: Cancel = () => undefined;
  let markSubscribed: () => void = () => undefined;
  const subscribed = new Promise<void>((resolve) => {
    markSubscribed = resolve;
  });

  // Each connection is a session of its own, named in its will and in the claims made over it: a
  // will replayed later ends no claim of a newer connection (docs/coordination.md, "Signatures").
  let connectionSession = randomUUID();
  const nextWill = (): LastWill => {
    connectionSession = randomUUID();
    const offline: CoordinationMessage = {
      type: 'offline',
      version: COORDINATION_VERSION,
      instanceId,
      session: connectionSession,
    };
    // Not retained: it is an event in the ordered stream, applied at its position.
    return { topic: topics.coordination, payload: messageAuth.sign(topics.coordination, offline), retain: false };
  };
  const connection = deps.link
    ? undefined
    : MqttConnection.start({
        config: config.mqtt,
        service: 'inference',
        instanceId,
        logger,
        persistentSession: true,
        will: nextWill,
        announceAvailability: false,
        withdrawOnDisconnect: true,
      });
  // A connection has one will, and the stream's needs it; this second, idle connection carries the
  // retained availability (and its `offline` will) that dashboards and Home Assistant read.
  const presence = deps.link
    ? undefined
    : MqttConnection.start({
        config: config.mqtt,
        service: 'inference',
        instanceId,
        logger: logger.child({ connection: 'availability' }),
        clientIdSuffix: '-presence',
      });
  const link = deps.link?.(nextWill) ?? mqttBrokerLink(connection as MqttConnection);
  // Before the stream subscribes, so that retained profiles arrive before the first photo. A fake
  // broker link (unit tests) has only the --profiles map and no tuning requests.
  const profiles = connection
    ? subscribeToProfiles({ connection, seed: config.profiles, logger })
    : staticProfiles(config.profiles);
  const tuning = connection
    ? startTuningCollector({ connection, store, logger, nowSeconds: () => clock.now() / 1000 })
    : undefined;

  const session = new StreamSession(
    link,
    topics,
    messageAuth,
    { viewStarted, viewEnded, metadata, coordination, outcomeSeen: (filePath) => outcomeSeen.add(filePath), refused },
    logger,
    config.outcomeQos ?? 2,
  );
  const claimerContext: ClaimerContext = {
    instanceId,
    session: () => connectionSession,
    leaseMs: config.leaseMs,
    clock,
    retry: config.retry,
    logger,
    publish: (message) => session.publishCoordination(message),
  };
  const claimer = deps.arbiter ? new ArbiterClaimer(deps.arbiter, claimerContext) : new StreamClaimer(claimerContext);
  const isTaken = (key: string) => ledger.isTaken(key) || claimer.isOutstanding(key);
  const claimableCount = () => pending.claimable(isTaken).length;

  const leaseWatch = new LeaseWatch({
    clock,
    checkMs: Math.max(20, Math.min(1_000, Math.floor(config.leaseMs / 4))),
    activeClaims: () => ledger.activeClaims(),
    isRunningHere: (claimId) => runs.has(claimId),
    ready: () => session.ready,
    expire: (claimId) =>
      session.publishCoordination({ type: 'expire', version: COORDINATION_VERSION, claimId, by: instanceId }),
  });
  const sweeper = config.sweep
    ? new OrphanSweeper({
        store,
        clock,
        logger,
        metrics,
        intervalMs: config.sweep.intervalMs,
        minAgeMs: config.sweep.minAgeMs,
        random: deps.random ?? Math.random,
        view: {
          isHandled: (filePath) => pending.has(filePath) || ledger.ownerOf(filePath) !== undefined,
          isFinished: (filePath) => ledger.isFinished(filePath) || outcomeSeen.has(filePath),
          // Only a view that has watched the stream for a whole lease knows every live claim
          // (owners renew at a third of the lease), so only such a view may judge what is orphaned.
          mayJudge: () => session.ready && viewSince !== undefined && clock.now() - viewSince >= config.leaseMs,
        },
        reannounce: (metadata) => session.publishMetadata(metadata),
        addOrphan: (filePath, detail) => {
          pending.add({ kind: 'orphan', key: filePath, detail }, clock.now());
          schedule();
        },
      })
    : undefined;

  // ---- views -----------------------------------------------------------------------------
  function viewStarted(): void {
    viewSince = clock.now();
    markSubscribed();
    for (const run of toGiveUp.splice(0)) giveUp(run);
    schedule();
  }

  /**
   * The view may have missed messages from here on: forget what it cannot trust (active claims,
   * pending announcements) and stop own runs before their next publish. A new view starts like a
   * late joiner; the photos pending here reach a claimer through another view or the sweeper.
   */
  function viewEnded(): void {
    viewSince = undefined;
    cancelBatch();
    ledger.forgetActiveClaims();
    pending.clear();
    leaseWatch.clear();
    claimer.viewEnded();
    if (!claimer.streamDecides) return;
    for (const { run } of runs.values()) run.aborted ??= 'view-lost';
  }

  // ---- input -----------------------------------------------------------------------------
  function metadata(payload: Buffer): void {
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
    if (!pending.add(item, clock.now())) {
      metrics.ignored.inc({ reason: 'duplicate' });
      return;
    }
    schedule();
  }

  function coordination(message: CoordinationMessage): void {
    metrics.coordinationMessages.inc({ type: message.type });
    deps.observer?.coordinationMessage?.(message.type);
    for (const event of ledger.apply(message)) onLedgerEvent(event);
    schedule();
  }

  function refused(topic: string, reason: RefusedReason, detail: string, payload: Buffer): void {
    const coordinationTopic = topic === topics.coordination;
    if (reason === 'invalid') {
      if (coordinationTopic) {
        metrics.coordinationMessages.inc({ type: 'invalid' });
        deps.observer?.coordinationMessage?.('invalid');
      }
      logger.debug({ topic, detail }, 'ignoring invalid message');
      return;
    }
    metrics.unauthenticated.inc({ topic: coordinationTopic ? 'coordination' : 'outcome' });
    logger.warn({ topic, detail }, 'dropped a message without a valid signature');
    if (!coordinationTopic || !session.ready) return;
    const letter = deadLetterMessage(
      'unauthenticated',
      detail,
      { payload: payloadExcerpt(payload) },
      { instanceId, now: clock.now() / 1000, topic },
    );
    void session.publishSigned(topics.deadLetter, letter).catch(() => undefined);
  }

  function onLedgerEvent(event: LedgerEvent): void {
    switch (event.kind) {
      case 'claim-applied': {
        const grant: ClaimGrant = { won: event.won, reprocessed: event.reprocessed };
        if (event.instanceId === instanceId && claimer.claimApplied(event.claimId, grant)) {
          // Started here, synchronously, so that no later message of the stream comes between.
          if (grant.won.length > 0) startRun(event.claimId, grant);
          break;
        }
        if (event.won.length === 0) break;
        leaseWatch.heard(event.claimId);
        // Our own claim that this process is not running (a previous life's, or one we gave up
        // waiting for): nobody will finish it, so hand it on at once.
        if (event.instanceId === instanceId && claimer.streamDecides && !runs.has(event.claimId)) {
          leaseWatch.expireNow(event.claimId);
        }
        break;
      }
      case 'renewed':
        if (event.instanceId !== instanceId) leaseWatch.heard(event.claimId);
        break;
      case 'claim-ended': {
        leaseWatch.ended(event.claimId);
        if (event.reason === 'expired' || event.reason === 'offline') {
          metrics.leaseExpiries.inc({ reason: event.reason });
        }
        const running = runs.get(event.claimId);
        if (running && claimer.streamDecides && endsRun(event.reason) && !running.run.aborted) {
          running.run.aborted = 'stream';
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
    cancelBatch();
    // One claim at a time per instance: busy instances leave new batches to idle ones.
    if (stopping || !session.ready || claiming || runs.size > 0) return;
    const decision = pending.decide(clock.now(), config, isTaken);
    if (decision.kind === 'wait') cancelBatch = clock.schedule(decision.ms, schedule);
    if (decision.kind === 'claim') {
      claiming = claimBatch(decision.items).finally(() => {
        claiming = undefined;
        schedule();
      });
    }
  }

  async function claimBatch(items: WorkItem[]): Promise<void> {
    const claimId = `${instanceId}:${randomUUID()}`;
    const keys = items.map((item) => item.key);
    const started = performance.now();
    const grant = await claimer.claim(claimId, keys);
    if (grant === null) {
      await new Promise<void>((resolve) => clock.schedule(500, resolve));
      return;
    }
    // Finished elsewhere (the arbiter knows; this view may never see the `done`): nothing to claim.
    for (const key of grant.finished ?? []) pending.delete(key);
    const ms = performance.now() - started;
    metrics.coordinationLatency.observe(ms / 1000);
    deps.observer?.claimRoundTrip?.(ms);
    const { won } = grant;
    metrics.claims.inc({ result: won.length === keys.length ? 'won' : won.length === 0 ? 'lost' : 'partial' });
    metrics.claimItems.inc({ result: 'won' }, won.length);
    metrics.claimItems.inc({ result: 'lost' }, keys.length - won.length);
    // The stream claimer's runs start from the ledger event; the arbiter's start here.
    if (!claimer.streamDecides && won.length > 0) startRun(claimId, grant);
  }

  function startRun(claimId: string, grant: ClaimGrant): void {
    const items = grant.won.map((key) => pending.get(key)).filter((item): item is WorkItem => item !== undefined);
    const run = newClaimRun(claimId, grant.won, items, grant.reprocessed);
    if (stopping) {
      void claimer.giveUp(claimId, [], grant.won, false);
      return;
    }
    if (run.reprocessed.size > 0) metrics.reprocessed.inc(run.reprocessed.size);
    const finished = runClaim(run, {
      instanceId,
      topics,
      store,
      counter,
      profileFor: profiles.profileFor,
      ...(tuning ? { keepForTuning: tuning.keep } : {}),
      claimer,
      leaseMs: config.leaseMs,
      retry: config.retry,
      countConcurrency: config.countConcurrency,
      legacyResults: config.legacyResults,
      clock,
      logger,
      metrics,
      publish: (topic, message, options) => session.publishSigned(topic, message, options),
      outcomeSeen: (filePath) => outcomeSeen.has(filePath),
      ...(deps.stepReached ? { stepReached: deps.stepReached } : {}),
    })
      .then(
        () => undefined,
        (error: unknown) => runStopped(run, error),
      )
      .finally(() => {
        runs.delete(claimId);
        schedule();
      });
    runs.set(claimId, { run, finished });
  }

  function runStopped(run: ClaimRun, error: unknown): void {
    // Ended by the stream or the arbiter: the claim is gone, nothing to say about it.
    if (run.aborted === 'stream' || run.aborted === 'arbiter') return;
    if (!(error instanceof RetryAbortedError)) {
      logger.error({ err: error, claimId: run.claimId }, 'claim processing failed; handing the claim on');
    }
    if (run.aborted === 'view-lost' && !session.ready) toGiveUp.push(run);
    else giveUp(run);
  }

  function giveUp(run: ClaimRun): void {
    void claimer.giveUp(run.claimId, [...run.completed], unfinishedOf(run), run.uncertain.size > 0);
  }

  // ---- start -----------------------------------------------------------------------------
  session.start();
  leaseWatch.start();
  const stopHeartbeat = startHeartbeat({
    instanceId,
    clock,
    intervalMs: config.heartbeatMs,
    metrics,
    ready: () => session.ready,
    publish: (message) => session.publishCoordination(message),
    claimable: claimableCount,
    activeClaims: () => ledger.activeClaims().length,
    runningClaims: () => runs.size,
  });
  sweeper?.start();

  return {
    instanceId,
    metrics: registry,
    subscribed,
    pendingCount: claimableCount,
    isSubscribed: () => session.ready,
    connected: () => link.connected,
    sweepNow: () => sweeper?.sweepNow() ?? Promise.resolve(false),
    profileFor: profiles.profileFor,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      cancelBatch();
      stopHeartbeat();
      leaseWatch.stop();
      await sweeper?.stop();
      // A claim still on its way is given up when it comes back (see startRun).
      await claiming;
      await Promise.all([...runs.values()].map((running) => running.finished));
      await session.stop();
      profiles.stop();
      tuning?.stop();
      await link.close();
      await presence?.close();
    },
  };
}

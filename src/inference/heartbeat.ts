/**
 * Liveness and observability of one instance: a `heartbeat` on the stream every interval (no
 * effect on any ledger) and the sampled gauges. Owns its timers.
 */
import { type Cancel, type Clock, every } from '../core/clock.js';
import { COORDINATION_VERSION, type CoordinationMessage } from './coordination-messages.js';
import type { InferenceMetrics } from './metrics.js';

export interface HeartbeatDeps {
  instanceId: string;
  clock: Clock;
  intervalMs: number;
  metrics: InferenceMetrics;
  ready(): boolean;
  publish(message: CoordinationMessage): Promise<void>;
  claimable(): number;
  activeClaims(): number;
  runningClaims(): number;
}

export function startHeartbeat(deps: HeartbeatDeps): Cancel {
  const stopBeating = every(deps.clock, deps.intervalMs, () => {
    if (!deps.ready()) return;
    void deps
      .publish({
        type: 'heartbeat',
        version: COORDINATION_VERSION,
        instanceId: deps.instanceId,
        pending: deps.claimable(),
        activeClaims: deps.runningClaims(),
      })
      .catch(() => undefined);
  });
  // Sampled, not updated per message: counting claimable items walks the pending set.
  const stopSampling = every(deps.clock, 1_000, () => {
    deps.metrics.pending.set(deps.claimable());
    deps.metrics.activeClaims.set(deps.activeClaims());
  });
  return () => {
    stopBeating();
    stopSampling();
  };
}

/** Prometheus metrics of one inference instance. */
import { Counter, Gauge, Histogram, type Registry } from '../core/metrics.js';

export type InferenceMetrics = ReturnType<typeof createInferenceMetrics>;

export function createInferenceMetrics(registry: Registry) {
  const registers = [registry];
  return {
    outcomes: new Counter({
      name: 'people_counter_inference_outcomes_total',
      help: 'Outcomes published, by type (counted, superseded, failed) and failure reason',
      labelNames: ['outcome', 'reason'] as const,
      registers,
    }),
    ignored: new Counter({
      name: 'people_counter_inference_ignored_messages_total',
      help: 'Metadata-topic messages ignored: legacy results, duplicates of pending or finished photos',
      labelNames: ['reason'] as const,
      registers,
    }),
    claims: new Counter({
      name: 'people_counter_inference_claims_total',
      help: 'Own claims by result: won (all items), partial, lost (no item)',
      labelNames: ['result'] as const,
      registers,
    }),
    claimItems: new Counter({
      name: 'people_counter_inference_claim_items_total',
      help: 'Items named in own claims, by whether this instance won them',
      labelNames: ['result'] as const,
      registers,
    }),
    leaseExpiries: new Counter({
      name: 'people_counter_inference_lease_expiries_total',
      help: 'Claims ended by lease expiry or owner offline, as applied from the stream',
      labelNames: ['reason'] as const,
      registers,
    }),
    reprocessed: new Counter({
      name: 'people_counter_inference_reprocessed_total',
      help: 'Items processed after an earlier owner lost them to lease expiry or going offline',
      registers,
    }),
    coordinationMessages: new Counter({
      name: 'people_counter_inference_coordination_messages_total',
      help: 'Coordination messages received, by type (invalid ones as "invalid")',
      labelNames: ['type'] as const,
      registers,
    }),
    unauthenticated: new Counter({
      name: 'people_counter_inference_unauthenticated_messages_total',
      help: 'Coordination or outcome messages dropped because their HMAC was missing or wrong, by topic kind',
      labelNames: ['topic'] as const,
      registers,
    }),
    coordinationLatency: new Histogram({
      name: 'people_counter_inference_coordination_latency_seconds',
      help: 'From publishing a claim to seeing it come back in the ordered stream',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    retries: new Counter({
      name: 'people_counter_inference_retries_total',
      help: 'Retried operations after a transient failure',
      labelNames: ['operation'] as const,
      registers,
    }),
    swept: new Counter({
      name: 'people_counter_inference_swept_photos_total',
      help: 'Photos found by the orphan sweeper: re-announced, orphaned (no metadata) or leftover (deleted)',
      labelNames: ['action'] as const,
      registers,
    }),
    pending: new Gauge({
      name: 'people_counter_inference_pending',
      help: 'Claimable items this instance holds',
      registers,
    }),
    activeClaims: new Gauge({
      name: 'people_counter_inference_active_claims',
      help: 'Active claims in this instance view of the ledger',
      registers,
    }),
  };
}

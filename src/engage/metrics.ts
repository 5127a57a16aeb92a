/** Engage's Prometheus metrics. */
import { Counter, Gauge, type Registry } from '../core/metrics.js';

export function createEngageMetrics(registry: Registry) {
  return {
    resultsStored: new Counter({
      name: 'people_counter_engage_results_stored_total',
      help: 'Results stored in the history',
      registers: [registry],
    }),
    duplicatesIgnored: new Counter({
      name: 'people_counter_engage_duplicates_ignored_total',
      help: 'Re-delivered results (same resultId) ignored',
      registers: [registry],
    }),
    invalidMessages: new Counter({
      name: 'people_counter_engage_invalid_messages_total',
      help: 'MQTT messages that failed validation and went to the dead-letter topic',
      registers: [registry],
    }),
    unauthenticatedMessages: new Counter({
      name: 'people_counter_engage_unauthenticated_messages_total',
      help: 'Result messages dropped because their signature is missing or wrong (forged or misconfigured)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    sseClients: new Gauge({
      name: 'people_counter_engage_sse_clients',
      help: 'Dashboards connected to the live event stream',
      registers: [registry],
    }),
    alertsRaised: new Counter({
      name: 'people_counter_engage_alerts_raised_total',
      help: 'Occupancy alerts raised',
      registers: [registry],
    }),
    webhookFailures: new Counter({
      name: 'people_counter_engage_webhook_failures_total',
      help: 'Alert webhook deliveries given up after retries',
      registers: [registry],
    }),
    rowsPruned: new Counter({
      name: 'people_counter_engage_rows_pruned_total',
      help: 'History rows deleted by retention',
      registers: [registry],
    }),
  };
}
export type EngageMetrics = ReturnType<typeof createEngageMetrics>;

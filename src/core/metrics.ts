/** Prometheus metrics: one registry per service instance, default process metrics included. */
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/** Prometheus's registered default port for this exporter's kind (an inference instance, `up`). */
export const DEFAULT_METRICS_PORT = 9464;

/** `processMetrics: false` for a part of a process whose other registries report the process already. */
export function createMetricsRegistry(service: string, instanceId: string, { processMetrics = true } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, instance: instanceId });
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'people_counter_' });
  return registry;
}

/** What a `/metrics` endpoint serves: one registry, or several combined. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * One exposition of several registries, e.g. every part `up` runs in one process. Their default labels
 * (`service`, `instance`) keep same-named metrics apart, which a plain concatenation would not allow.
 */
export function combineMetrics(registries: () => readonly Registry[]): MetricsSource {
  return {
    contentType: Registry.PROMETHEUS_CONTENT_TYPE,
    metrics: async () => {
      const snapshots = await Promise.all(registries().map((registry) => registry.getMetricsAsJSON()));
      return AggregatorRegistry.aggregate(snapshots).metrics();
    },
  };
}

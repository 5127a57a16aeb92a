/** Prometheus metrics: one registry per service instance, default process metrics included. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

export function createMetricsRegistry(service: string, instanceId: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, instance: instanceId });
  collectDefaultMetrics({ register: registry, prefix: 'people_counter_' });
  return registry;
}

/** Prometheus metrics on a registry owned by one Nexus instance (no process-global registry). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nexus_process_' });
  // Allocation outcomes are counted in a plain map and handed to prom-client when scraped:
  // Counter.inc() hashes its label set into a new string on every call (100,000s per bulk load).
  const outcomes = new Map<string, { labels: { pool: string; result: string }; n: number; reported: number }>();
  return {
    registry,
    allocations: new Counter({
      name: 'nexus_allocations_total', help: 'allocation API calls by pool and result', labelNames: ['pool', 'result'], registers: [registry],
      collect() {
        for (const o of outcomes.values()) if (o.n > o.reported) { this.inc(o.labels, o.n - o.reported); o.reported = o.n; }
      },
    }),
    allocationOutcome(pool: string, result: string) {
      const key = `${pool}\u0000${result}`;
      let o = outcomes.get(key);
      if (!o) outcomes.set(key, (o = { labels: { pool, result }, n: 0, reported: 0 }));
      o.n++;
    },
    conflicts: new Counter({ name: 'nexus_allocation_conflicts_total', help: 'duplicate holders found on merge and resolved', labelNames: ['pool'], registers: [registry] }),
    poolUtilisation: new Gauge({ name: 'nexus_pool_utilisation_ratio', help: 'allocated / usable units per pool', labelNames: ['pool', 'type'], registers: [registry] }),
    poolAllocated: new Gauge({ name: 'nexus_pool_allocated', help: 'allocated units per pool', labelNames: ['pool', 'type'], registers: [registry] }),
    peers: new Gauge({ name: 'nexus_replication_peers', help: 'open peer connections that said hello', registers: [registry] }),
    liveAllocators: new Gauge({ name: 'nexus_live_allocators', help: 'allocators in this replica\'s live set (itself included)', registers: [registry] }),
    rtt: new Gauge({ name: 'nexus_replication_rtt_seconds', help: 'round-trip time to each peer (replication lag floor)', labelNames: ['peer'], registers: [registry] }),
    lagBytes: new Gauge({ name: 'nexus_replication_lag_bytes', help: 'bytes queued on each peer socket, not yet sent', labelNames: ['peer'], registers: [registry] }),
    watchers: new Gauge({ name: 'nexus_watch_streams', help: 'open edge watch streams', registers: [registry] }),
    subscribers: new Gauge({ name: 'nexus_subscribers', help: 'subscribers in the replicated state', registers: [registry] }),
    docs: new Gauge({ name: 'nexus_documents', help: 'replicated documents held', registers: [registry] }),
    httpDuration: new Histogram({
      name: 'nexus_http_request_duration_seconds', help: 'API latency', labelNames: ['method', 'route', 'status'], registers: [registry],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Prometheus view of the AAA components: counters and gauges read from their stats() at scrape
 * time, so the components themselves stay free of prom-client.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AccountingManager } from './accounting.js';
import type { CoaServer } from './coa-server.js';
import type { RadiusClient } from './radius-client.js';

export interface AaaMetricsSources {
  /** The clients by realm, read at each scrape (new realms appear without re-registering). */
  readonly clients: () => Iterable<RadiusClient>;
  readonly accounting?: AccountingManager;
  readonly coa?: CoaServer;
}

export function registerAaaMetrics(registry: Registry, src: AaaMetricsSources): void {
  new Counter({
    name: 'bng_radius_client_events_total',
    help: 'RADIUS client events by realm and kind (requests, responses, retransmissions, failovers, timeouts, malformed, badAuthenticator, ...)',
    labelNames: ['realm', 'event'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of src.clients()) for (const [event, v] of Object.entries(c.stats())) this.inc({ realm: c.name, event }, v);
    },
  });
  new Gauge({
    name: 'bng_radius_server_up',
    help: '1 when the RADIUS server endpoint is considered alive',
    labelNames: ['realm', 'endpoint', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of src.clients()) for (const s of c.servers()) this.set({ realm: c.name, endpoint: s.endpoint, kind: s.kind }, s.alive ? 1 : 0);
    },
  });
  if (src.accounting) {
    const acct = src.accounting;
    new Gauge({
      name: 'bng_accounting_records',
      help: 'Accounting records: journaled and acknowledged since start (counters), pending and in flight now',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const s = acct.stats();
        this.set({ state: 'journaled' }, s.journaled);
        this.set({ state: 'acknowledged' }, s.acknowledged);
        this.set({ state: 'failed_attempts' }, s.failedAttempts);
        this.set({ state: 'pending' }, s.pending);
        this.set({ state: 'in_flight' }, s.inFlight);
        this.set({ state: 'active_sessions' }, s.activeSessions);
      },
    });
  }
  if (src.coa) {
    const coa = src.coa;
    new Counter({
      name: 'bng_coa_events_total',
      help: 'CoA/Disconnect requests by outcome (received, unknownClient, malformed, badAuthenticator, replayed, duplicates, acks, naks)',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [event, v] of Object.entries(coa.stats())) this.inc({ event }, v);
      },
    });
  }
}

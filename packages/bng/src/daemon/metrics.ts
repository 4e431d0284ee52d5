/**
 * Prometheus metrics of `bng run`. Counters are read from the components at scrape time (the
 * components stay free of prom-client); only the latency histogram is fed per request.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DhcpFastPath } from '@bng/datapath';
import type { DhcpService } from './dhcp-service.js';
import type { SubscriberSessions } from './subscriber-sessions.js';

export interface DaemonMetrics {
  readonly registry: Registry;
  observe(seconds: number, type: string): void;
}

/** Kernel counters that are replies sent by XDP, by message type. */
const KERNEL_REPLIES: Record<string, string> = { tx_offer: 'OFFER', tx_ack: 'ACK', tx_nak: 'NAK' };

export function createDaemonMetrics(): DaemonMetrics {
  const registry = new Registry();
  const hist = new Histogram({
    name: 'bng_dhcp_slowpath_request_duration_seconds',
    help: 'time the slow path spent deciding one DHCPv4 request (decode, classify, lease store), by message type',
    labelNames: ['type'],
    buckets: [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  // one child per message type, looked up once: observe() runs for every request
  const children = new Map<string, { observe(v: number): void }>();
  return {
    registry,
    observe: (s, type) => {
      let c = children.get(type);
      if (c === undefined) children.set(type, (c = hist.labels({ type })));
      c.observe(s);
    },
  };
}

/**
 * Registers the daemon's metrics. Returns `warm`, which renders them all once and forgets what that
 * read, so the next scrape reads fresh values.
 */
export function registerDaemonMetrics(m: DaemonMetrics, dhcp: DhcpService, fastPath: DhcpFastPath | undefined): { warm(): Promise<void> } {
  const registry = m.registry;
  collectDefaultMetrics({ register: registry, prefix: 'bng_process_' });
  // One scrape reads the kernel counters and walks the lease store once, not once per metric.
  const forget: Array<() => void> = [];
  const perScrape = <T>(read: () => T): (() => T) => {
    let at = -Infinity;
    let value: T;
    forget.push(() => (at = -Infinity));
    return () => {
      const now = Date.now();
      if (now - at > 250) {
        value = read();
        at = now;
      }
      return value;
    };
  };
  let kernel: Record<string, bigint> = {};
  const readKernel = perScrape((): Record<string, bigint> => {
    try {
      kernel = fastPath ? fastPath.readCounters() : {};
    } catch {
      // keep the last reading
    }
    return kernel;
  });
  const poolUsage = perScrape(() => dhcp.poolUsage());
  new Counter({
    name: 'bng_dhcp_requests_total',
    help: 'DHCPv4 requests by path (fast = answered by XDP, slow = handled in userspace) and message type',
    labelNames: ['path', 'type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, v] of Object.entries(dhcp.stats.requests)) this.inc({ path: 'slow', type }, v);
      const k = readKernel();
      for (const [ctr, type] of Object.entries(KERNEL_REPLIES)) {
        // the kernel answers DISCOVER with OFFER and REQUEST with ACK or NAK
        const req = type === 'OFFER' ? 'DISCOVER' : 'REQUEST';
        const v = Number(k[ctr] ?? 0n);
        if (v > 0) this.inc({ path: 'fast', type: req }, v);
      }
    },
  });
  new Counter({
    name: 'bng_dhcp_replies_total',
    help: 'DHCPv4 replies sent, by path and message type',
    labelNames: ['path', 'type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, v] of Object.entries(dhcp.stats.replies)) this.inc({ path: 'slow', type }, v);
      const k = readKernel();
      for (const [ctr, type] of Object.entries(KERNEL_REPLIES)) {
        const v = Number(k[ctr] ?? 0n);
        if (v > 0) this.inc({ path: 'fast', type }, v);
      }
    },
  });
  new Counter({
    name: 'bng_dhcp_slowpath_outcomes_total',
    help: 'slow-path decisions that sent nothing, by reason (NO_POOL, POOL_EXHAUSTED, DECODE_ERROR, OTHER_SERVER, ...)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, v] of Object.entries(dhcp.drops())) if (v > 0) this.inc({ reason }, v);
    },
  });
  new Counter({
    name: 'bng_dhcp_errors_total',
    help: 'transport and storage errors: malformed frames, send failures, lease journal failures, requests the server failed on, fast path map failures',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      const s = dhcp.stats;
      this.inc({ kind: 'malformed_frame' }, s.malformedFrames);
      this.inc({ kind: 'send' }, s.sendErrors);
      this.inc({ kind: 'journal' }, s.journalErrors);
      this.inc({ kind: 'internal' }, s.internalErrors);
      this.inc({ kind: 'fastpath_map' }, dhcp.sync?.stats.mapErrors ?? 0);
      this.inc({ kind: 'ack_withheld' }, s.withheld);
    },
  });
  new Gauge({
    name: 'bng_dhcp_acks_waiting_journal',
    help: 'ACKs decided and held until the lease journal sync covering their binding completes',
    registers: [registry],
    collect() {
      this.set(dhcp.stats.held);
    },
  });
  new Counter({
    name: 'bng_fastpath_packets_total',
    help: 'XDP program outcomes by reason (enum bng_counter: rx, tx_*, pass_*, drop_*, err_*)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, v] of Object.entries(readKernel())) this.inc({ reason }, Number(v));
    },
  });
  new Gauge({
    name: 'bng_dhcp_fastpath_hit_ratio',
    help: 'share of DHCPv4 requests the kernel answered (the fast path cache hit rate) since the counters were created',
    registers: [registry],
    collect() {
      const k = readKernel();
      const fast = Number((k.tx_offer ?? 0n) + (k.tx_ack ?? 0n) + (k.tx_nak ?? 0n));
      const slow = Object.values(dhcp.stats.requests).reduce((a, b) => a + b, 0);
      this.set(fast + slow > 0 ? fast / (fast + slow) : 0);
    },
  });
  new Gauge({
    name: 'olt_bng_dhcp_leases_active',
    help: 'bound, unexpired DHCPv4 leases by pool',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of poolUsage()) this.set({ pool: u.pool }, u.active);
    },
  });
  new Gauge({
    name: 'bng_dhcp_pool_addresses',
    help: 'addresses of each pool by state (size = the dynamic range)',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of poolUsage()) {
        this.set({ pool: u.pool, state: 'size' }, u.size);
        this.set({ pool: u.pool, state: 'bound' }, u.active);
        this.set({ pool: u.pool, state: 'offered' }, u.offered);
        this.set({ pool: u.pool, state: 'declined' }, u.declined);
      }
    },
  });
  new Gauge({
    name: 'bng_dhcp_pool_utilization_ratio',
    help: 'bound, offered and quarantined addresses over the size of the dynamic range',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of poolUsage()) this.set({ pool: u.pool }, u.size > 0 ? (u.active + u.offered + u.declined) / u.size : 0);
    },
  });
  new Counter({
    name: 'bng_fastpath_sync_total',
    help: 'lease store ↔ XDP map synchronisation: binds, unbinds, kernel ACK/NAK events, leases extended by the kernel, recovered renewals',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [event, v] of Object.entries(dhcp.sync?.stats ?? {})) this.inc({ event }, v);
    },
  });
  return {
    async warm() {
      await registry.metrics();
      for (const f of forget) f();
    },
  };
}

/** Subscriber sessions (AAA on): how many, how they were decided, why they ended. */
export function registerSessionMetrics(m: DaemonMetrics, sessions: SubscriberSessions): void {
  const registry = m.registry;
  new Gauge({
    name: 'bng_sessions',
    help: 'subscriber sessions by state: active, or authorizing (a DISCOVER held while RADIUS decides)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'active' }, sessions.size);
      this.set({ state: 'authorizing' }, sessions.authorizationsPending);
    },
  });
  new Counter({
    name: 'bng_aaa_decisions_total',
    help: 'authorizations of new subscribers by outcome (accepted, rejected = refused, walled_garden, error, overloaded), and DISCOVERs ignored while refused',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      const s = sessions.stats;
      this.inc({ outcome: 'accepted' }, s.accepted);
      this.inc({ outcome: 'rejected' }, s.rejected);
      this.inc({ outcome: 'walled_garden' }, s.walledGarden);
      this.inc({ outcome: 'error' }, s.errors);
      this.inc({ outcome: 'overloaded' }, s.overloaded);
      this.inc({ outcome: 'ignored_while_refused' }, s.refusedRequests);
    },
  });
  new Counter({
    name: 'bng_sessions_ended_total',
    help: 'sessions ended, by Acct-Terminate-Cause (UserRequest, LostCarrier, IdleTimeout, SessionTimeout, AdminReset, ...)',
    labelNames: ['cause'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [cause, v] of Object.entries(sessions.stats.ended)) this.inc({ cause }, v);
    },
  });
}

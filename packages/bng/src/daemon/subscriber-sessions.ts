/**
 * IPoE subscriber sessions with RADIUS: the gate in front of the DHCPv4 server and the life of a
 * session after it.
 *
 * - A client with no session sends a DISCOVER: the service holds it and calls `authorize`. An
 *   Access-Accept becomes a grant (Framed-IP-Address, else Framed-Pool, else the local pools)
 *   that the server's next new binding of that client takes; the held DISCOVER is then served.
 *   A reject or timeout refuses the client for `rejectHoldMs`, or grants a walled-garden session,
 *   as `onReject`/`onTimeout` say.
 * - The binding carries the session in its lease record (the lease journal makes both durable
 *   before the ACK leaves). On the first binding the datapath gets the subscriber's entry
 *   (counters, rates, walled flag) and, once the ACK has been sent, accounting starts.
 * - Release, expiry, decline, Session-Timeout, Idle-Timeout and Disconnect end it: the final
 *   counters are read, the datapath entry goes and the Accounting-Stop carries the cause.
 * - CoA changes the rate or the walled-garden flag of a live session in place.
 */
import { BngError } from '@bng/api';
import { ipToU32 } from '@bng/protocols';
import { addressSource, expandTemplate, type AaaService, type AuthDecision, type SubscriberIdentity } from '../aaa/aaa-service.js';
import type { AccountingManager, SessionCounters, TerminateCause } from '../aaa/accounting.js';
import type { CoaActions, CoaSessionRef, CoaSessionRegistry } from '../aaa/coa-server.js';
import type { RateLimit } from '../aaa/aaa-service.js';
import type { Dhcp4Admission, Dhcp4Grant } from '../dhcp/server.js';
import { LeaseState, type LeaseRecord, type LeaseSession, type LeaseStore } from '../dhcp/lease-store.js';
import type { Dhcp4Logger } from '../dhcp/types.js';

/** What the sessions need of the kernel: one entry per subscriber address (see DhcpFastPath). */
export interface SessionDatapath {
  setSession(ip: string, policy: { upKbps?: number; downKbps?: number; walled?: boolean }): void;
  deleteSession(ip: string): boolean;
  /** rx = from the subscriber; lastRxNs on CLOCK_BOOTTIME, 0 when it never sent anything */
  sessionUsage(ip: string): { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint; lastRxNs: bigint } | undefined;
}

export interface SubscriberSessionsConfig {
  /** realm of every subscriber (the ISP whose RADIUS servers authenticate it) */
  readonly realm: string;
  /** a refused client's DISCOVERs are ignored this long before it is asked about again */
  readonly rejectHoldMs: number;
  /** a grant waits this long for its binding (the DISCOVER/REQUEST exchange) */
  readonly grantTtlMs: number;
  /** pool of walled-garden sessions granted after a reject/timeout; default: the local pools */
  readonly walledGardenPool?: string;
  /** a Filter-Id equal to this puts an accepted subscriber in the walled garden */
  readonly walledGardenFilterId: string;
  /** NAS-Port-Id template (the one the Access-Request used), for accounting */
  readonly nasPortIdTemplate: string;
  /** at most this many authorizations outstanding; beyond it DISCOVERs of new clients are dropped */
  readonly maxPending: number;
}

export interface SubscriberSessionsDeps {
  readonly aaa: AaaService;
  readonly accounting?: AccountingManager;
  readonly datapath?: SessionDatapath;
  readonly store: LeaseStore;
  readonly log: Dhcp4Logger;
  readonly now: () => number;
  /** CLOCK_BOOTTIME in ns (the datapath's lastRxNs clock) */
  readonly boottimeNs: () => bigint;
  /** ends the binding on `ip` (the DHCP service revokes it and calls `ended` back) */
  readonly end: (ip: string, cause: TerminateCause) => void;
  /** makes lease records changed outside a receive batch durable (CoA updates) */
  readonly persist: () => void;
  /** random Acct-Session-Id */
  readonly newSessionId: () => string;
}

export type GateVerdict = 'serve' | 'authorize' | 'refused';

export interface SessionStats {
  authorizations: number;
  accepted: number;
  rejected: number;
  walledGarden: number;
  /** DISCOVERs ignored while their client is refused */
  refusedRequests: number;
  /** authorizations that failed inside the daemon (a defect or no server group) */
  errors: number;
  /** DISCOVERs dropped because too many authorizations were outstanding */
  overloaded: number;
  started: number;
  ended: Record<string, number>;
}

interface Live {
  lease: LeaseRecord;
  /** accounting Start sent (or restored: it was sent before the restart) */
  acctStarted: boolean;
  lastRxNs: bigint;
  lastActiveMs: number;
}

interface PendingGrant {
  readonly grant: Dhcp4Grant;
  readonly untilMs: number;
}

/** Dhcp4 unbind reasons to RFC 2866 §5.10 Acct-Terminate-Cause */
export const UNBIND_CAUSE: Record<'released' | 'declined' | 'expired' | 'replaced', TerminateCause> = {
  // RFC 2131 §4.4.6: the client gave the address back
  released: 'UserRequest',
  // the lease ran out: the client is gone without a word
  expired: 'LostCarrier',
  // RFC 2131 §4.4.1: the address is in use by another host, the service cannot be given
  declined: 'ServiceUnavailable',
  // the client took another address
  replaced: 'UserRequest',
};

const hexToBytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

export class SubscriberSessions implements Dhcp4Admission {
  readonly stats: SessionStats = { authorizations: 0, accepted: 0, rejected: 0, walledGarden: 0, refusedRequests: 0, errors: 0, overloaded: 0, started: 0, ended: {} };
  private readonly live = new Map<string, Live>();
  private readonly grants = new Map<string, PendingGrant>();
  private readonly refusedUntil = new Map<string, number>();
  private readonly pending = new Set<string>();
  /** counters of sessions just ended, read by their Accounting-Stop */
  private readonly finalUsage = new Map<string, SessionCounters>();

  constructor(
    private readonly cfg: SubscriberSessionsConfig,
    private readonly deps: SubscriberSessionsDeps,
  ) {}

  /** What to do with a DISCOVER of `clientKey`. */
  check(clientKey: string, now: number): GateVerdict {
    const rec = this.deps.store.findByClient(clientKey);
    if (rec?.session !== undefined && rec.state === LeaseState.BOUND && rec.expiresAtMs > now) return 'serve';
    const g = this.grants.get(clientKey);
    if (g !== undefined && g.untilMs > now) return 'serve';
    const until = this.refusedUntil.get(clientKey);
    if (until !== undefined && until > now) {
      this.stats.refusedRequests++;
      return 'refused';
    }
    return 'authorize';
  }

  grantFor(clientKey: string): Dhcp4Grant | undefined {
    const g = this.grants.get(clientKey);
    return g !== undefined && g.untilMs > this.deps.now() ? g.grant : undefined;
  }

  /** an authorization for this client is running */
  authorizing(clientKey: string): boolean {
    return this.pending.has(clientKey);
  }

  /**
   * Asks RADIUS about a client; resolves true when it may be served (a grant waits for it).
   * Never rejects: failures count and refuse.
   */
  async authorize(clientKey: string, identity: Omit<SubscriberIdentity, 'realm' | 'acctSessionId'>): Promise<boolean> {
    if (this.pending.has(clientKey)) return false;
    if (this.pending.size >= this.cfg.maxPending) {
      this.stats.overloaded++;
      return false;
    }
    this.pending.add(clientKey);
    this.stats.authorizations++;
    const id: SubscriberIdentity = { ...identity, realm: this.cfg.realm, acctSessionId: this.deps.newSessionId() };
    let decision: AuthDecision;
    try {
      decision = await this.deps.aaa.authorize(id);
    } catch (e) {
      this.stats.errors++;
      this.deps.log.error({ mac: identity.mac, err: (e as Error).message }, 'aaa: authorization failed; the subscriber is refused for now');
      this.refusedUntil.set(clientKey, this.deps.now() + this.cfg.rejectHoldMs);
      return false;
    } finally {
      this.pending.delete(clientKey);
    }
    const now = this.deps.now();
    let nasPortId: string | undefined;
    try {
      nasPortId = expandTemplate(this.cfg.nasPortIdTemplate, id) || undefined;
    } catch {
      nasPortId = undefined;
    }
    if (decision.kind === 'refuse') {
      this.stats.rejected++;
      this.refusedUntil.set(clientKey, now + this.cfg.rejectHoldMs);
      this.deps.log.info({ mac: identity.mac, userName: decision.userName, reason: decision.reason, replyMessages: decision.replyMessages }, 'aaa: subscriber refused');
      return false;
    }
    this.refusedUntil.delete(clientKey);
    let grant: Dhcp4Grant;
    if (decision.kind === 'walled-garden') {
      this.stats.walledGarden++;
      grant = {
        ...(this.cfg.walledGardenPool !== undefined ? { pool: this.cfg.walledGardenPool } : {}),
        session: { id: id.acctSessionId!, userName: decision.userName, realm: decision.realm, walled: true, accounting: false, ...(nasPortId ? { nasPortId } : {}) },
      };
      this.deps.log.info({ mac: identity.mac, userName: decision.userName, reason: decision.reason }, 'aaa: subscriber put in the walled garden');
    } else {
      this.stats.accepted++;
      const a = decision.authorization;
      const walled = a.filterIds.includes(this.cfg.walledGardenFilterId);
      // Framed-IP-Address, else Framed-Pool, else the local pools
      const src = addressSource(a);
      grant = {
        ...(src.kind === 'fixed' ? { ip: ipToU32(src.ip) } : src.kind === 'pool' ? { pool: src.pool } : {}),
        session: {
          id: id.acctSessionId!,
          userName: a.userName,
          realm: a.realm,
          accounting: true,
          ...(a.classes.length > 0 ? { classes: a.classes.map((c) => Buffer.from(c).toString('hex')) } : {}),
          ...(a.interimIntervalSec !== undefined ? { interimSec: a.interimIntervalSec } : {}),
          ...(a.sessionTimeoutSec !== undefined && a.sessionTimeoutSec > 0 ? { sessionTimeoutSec: a.sessionTimeoutSec } : {}),
          ...(a.idleTimeoutSec !== undefined && a.idleTimeoutSec > 0 ? { idleTimeoutSec: a.idleTimeoutSec } : {}),
          ...(a.rateLimit?.upKbps !== undefined ? { upKbps: a.rateLimit.upKbps } : {}),
          ...(a.rateLimit?.downKbps !== undefined ? { downKbps: a.rateLimit.downKbps } : {}),
          ...(walled ? { walled: true } : {}),
          ...(nasPortId ? { nasPortId } : {}),
        },
      };
      this.deps.log.info({ mac: identity.mac, userName: a.userName, framedIp: a.framedIp, framedPool: a.framedPool, rate: a.rateLimit }, 'aaa: subscriber accepted');
    }
    this.grants.set(clientKey, { grant, untilMs: now + this.cfg.grantTtlMs });
    return true;
  }

  /** A binding was committed; true when it begins a session (not a renewal). */
  bound(lease: LeaseRecord, now: number): boolean {
    const s = lease.session;
    if (s === undefined) return false;
    const cur = this.live.get(s.id);
    if (cur !== undefined) {
      cur.lease = lease;
      return false;
    }
    this.grants.delete(lease.clientKey);
    this.live.set(s.id, { lease, acctStarted: false, lastRxNs: 0n, lastActiveMs: now });
    this.program(lease.ip, s);
    this.stats.started++;
    return true;
  }

  /** The ACK of a new session left: accounting starts now (RFC 2866: Start when service begins). */
  ackSent(lease: LeaseRecord): void {
    const s = lease.session;
    const l = s !== undefined ? this.live.get(s.id) : undefined;
    if (s === undefined || l === undefined || l.acctStarted) return;
    l.acctStarted = true;
    if (!s.accounting || this.deps.accounting === undefined) return;
    this.deps.accounting
      .start(this.acctSession(lease, s))
      .then(() => this.markStarted(s.id))
      .catch((e: unknown) => this.deps.log.error({ sessionId: s.id, err: (e as Error).message }, 'accounting: Start not journaled'));
  }

  /**
   * The Start is in the accounting journal: say so in the lease record, so that a crash between
   * the ACK and this point makes the restart send the Start instead of assuming it.
   */
  private markStarted(sessionId: string): void {
    const l = this.live.get(sessionId);
    const cur = l !== undefined ? this.deps.store.get(l.lease.ip) : undefined;
    if (l === undefined || cur?.session?.id !== sessionId) return;
    const rec: LeaseRecord = { ...cur, session: { ...cur.session, acctStarted: true } };
    this.deps.store.put(rec);
    this.deps.persist();
    l.lease = rec;
  }

  /** A binding ended (release, expiry, decline, revoke): the session ends with `cause`. */
  ended(lease: LeaseRecord, cause: TerminateCause): void {
    const s = lease.session;
    const l = s !== undefined ? this.live.get(s.id) : undefined;
    if (s === undefined || l === undefined) return;
    this.live.delete(s.id);
    this.stats.ended[cause] = (this.stats.ended[cause] ?? 0) + 1;
    const dp = this.deps.datapath;
    if (dp !== undefined) {
      const u = dp.sessionUsage(lease.ip);
      if (u !== undefined) this.finalUsage.set(s.id, toCounters(u));
      dp.deleteSession(lease.ip);
    }
    this.deps.log.info({ sessionId: s.id, ip: lease.ip, mac: lease.mac, userName: s.userName, cause }, 'session ended');
    const acct = this.deps.accounting;
    if (!s.accounting || acct === undefined || !l.acctStarted || !acct.isActive(s.id)) {
      this.finalUsage.delete(s.id);
      return;
    }
    acct
      .stop(s.id, cause)
      .catch((e: unknown) => this.deps.log.error({ sessionId: s.id, err: (e as Error).message }, 'accounting: Stop not journaled'))
      .finally(() => this.finalUsage.delete(s.id));
  }

  /**
   * After a restart, before the first expiry pass: the sessions of bound leases go on (same
   * Acct-Session-Id, no second Start). Those whose lease ran out while the daemon was down are
   * restored too, so that the expiry pass ends them with their Accounting-Stop.
   */
  restore(now: number): { sessions: number; realms: Set<string> } {
    const realms = new Set<string>();
    for (const rec of this.deps.store.all()) {
      const s = rec.session;
      if (s === undefined || rec.state !== LeaseState.BOUND || this.live.has(s.id)) continue;
      const started = s.acctStarted === true;
      this.live.set(s.id, { lease: rec, acctStarted: started, lastRxNs: 0n, lastActiveMs: now });
      this.program(rec.ip, s);
      if (s.accounting && this.deps.accounting !== undefined) {
        realms.add(s.realm);
        // the ACK left but the Start never reached the journal (a crash in between): send it now
        if (started) this.deps.accounting.resume(this.acctSession(rec, s), s.startedAtMs);
        else this.ackSent(rec);
      }
    }
    return { sessions: this.live.size, realms };
  }

  /** Session-Timeout and Idle-Timeout (RFC 2865 §5.27, §5.28), and bookkeeping of grants. */
  tick(now: number): void {
    const ending: Array<[string, TerminateCause]> = [];
    for (const l of this.live.values()) {
      const s = l.lease.session!;
      if (s.sessionTimeoutSec !== undefined && now - s.startedAtMs >= s.sessionTimeoutSec * 1000) {
        ending.push([l.lease.ip, 'SessionTimeout']);
        continue;
      }
      if (s.idleTimeoutSec !== undefined) {
        const u = this.deps.datapath?.sessionUsage(l.lease.ip);
        if (u !== undefined && u.lastRxNs > l.lastRxNs) {
          l.lastRxNs = u.lastRxNs;
          // the kernel saw it on CLOCK_BOOTTIME; translate to our clock
          const agoMs = Number((this.deps.boottimeNs() - u.lastRxNs) / 1_000_000n);
          l.lastActiveMs = Math.max(l.lastActiveMs, now - Math.max(0, agoMs));
        }
        if (now - l.lastActiveMs >= s.idleTimeoutSec * 1000) ending.push([l.lease.ip, 'IdleTimeout']);
      }
    }
    for (const [ip, cause] of ending) this.deps.end(ip, cause);
    for (const [k, g] of this.grants) if (g.untilMs <= now) this.grants.delete(k);
    for (const [k, t] of this.refusedUntil) if (t <= now) this.refusedUntil.delete(k);
  }

  /** Counters of a session for accounting (64-bit; input = from the subscriber, RFC 2866 §5.3). */
  readCounters(sessionId: string): SessionCounters {
    const l = this.live.get(sessionId);
    if (l !== undefined) {
      const u = this.deps.datapath?.sessionUsage(l.lease.ip);
      if (u !== undefined) return toCounters(u);
    }
    return this.finalUsage.get(sessionId) ?? { inputOctets: 0n, outputOctets: 0n, inputPackets: 0n, outputPackets: 0n };
  }

  list(): Array<{ lease: LeaseRecord; session: LeaseSession; acctStarted: boolean; usage?: ReturnType<SessionDatapath['sessionUsage']> }> {
    return [...this.live.values()].map((l) => {
      const usage = this.deps.datapath?.sessionUsage(l.lease.ip);
      return { lease: l.lease, session: l.lease.session!, acctStarted: l.acctStarted, ...(usage !== undefined ? { usage } : {}) };
    });
  }

  get size(): number {
    return this.live.size;
  }

  get authorizationsPending(): number {
    return this.pending.size;
  }

  /** For the CoA server: every given key must match (RFC 5176 §3). */
  readonly registry: CoaSessionRegistry = {
    find: (q) => {
      const out: CoaSessionRef[] = [];
      const candidates = q.acctSessionId !== undefined ? [this.live.get(q.acctSessionId)].filter((x): x is Live => x !== undefined) : this.live.values();
      for (const l of candidates) {
        const s = l.lease.session!;
        if (q.userName !== undefined && q.userName !== s.userName) continue;
        if (q.framedIp !== undefined && q.framedIp !== l.lease.ip) continue;
        out.push({ sessionId: s.id, userName: s.userName, framedIp: l.lease.ip });
      }
      return out;
    },
  };

  /** What a CoA or Disconnect does to a session. */
  readonly actions: CoaActions = {
    changeRate: async (ref, rate: RateLimit) => {
      this.update(ref.sessionId, {
        ...(rate.upKbps !== undefined ? { upKbps: rate.upKbps } : {}),
        ...(rate.downKbps !== undefined ? { downKbps: rate.downKbps } : {}),
      });
    },
    setWalledGarden: async (ref, on) => {
      this.update(ref.sessionId, { walled: on });
    },
    setSessionTimeout: async (ref, seconds) => {
      // the new limit counts from now (the CoA's moment), expressed from the session start
      const l = this.mustLive(ref.sessionId);
      const elapsed = Math.floor((this.deps.now() - l.lease.session!.startedAtMs) / 1000);
      this.update(ref.sessionId, { sessionTimeoutSec: elapsed + seconds });
    },
    disconnect: async (ref) => {
      const l = this.mustLive(ref.sessionId);
      this.deps.end(l.lease.ip, 'AdminReset');
    },
  };

  /** Ends a session by Acct-Session-Id (admin action); false when there is none. */
  disconnect(sessionId: string): boolean {
    const l = this.live.get(sessionId);
    if (l === undefined) return false;
    this.deps.end(l.lease.ip, 'AdminReset');
    return true;
  }

  private mustLive(sessionId: string): Live {
    const l = this.live.get(sessionId);
    if (l === undefined) throw new BngError('BNG_ERR_NOT_FOUND', `no session ${sessionId}`);
    return l;
  }

  private update(sessionId: string, change: Partial<LeaseSession>): void {
    const l = this.mustLive(sessionId);
    const session: LeaseSession = { ...l.lease.session!, ...change };
    const rec: LeaseRecord = { ...l.lease, session };
    // the record is the session's durable home: the journal has it before the CoA-ACK leaves
    this.deps.store.put(rec);
    this.deps.persist();
    l.lease = rec;
    this.program(rec.ip, session);
    this.deps.log.info({ sessionId, ip: rec.ip, change }, 'session changed (CoA)');
  }

  private program(ip: string, s: LeaseSession): void {
    this.deps.datapath?.setSession(ip, {
      ...(s.upKbps !== undefined ? { upKbps: s.upKbps } : {}),
      ...(s.downKbps !== undefined ? { downKbps: s.downKbps } : {}),
      walled: s.walled === true,
    });
  }

  private acctSession(rec: LeaseRecord, s: LeaseSession) {
    return {
      sessionId: s.id,
      realm: s.realm,
      userName: s.userName,
      mac: rec.mac,
      framedIp: rec.ip,
      ...(s.nasPortId !== undefined ? { nasPortId: s.nasPortId } : {}),
      ...(s.classes !== undefined ? { classes: s.classes.map(hexToBytes) } : {}),
      ...(s.interimSec !== undefined ? { interimIntervalSec: s.interimSec } : {}),
    };
  }
}

function toCounters(u: { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint }): SessionCounters {
  return { inputOctets: u.rxBytes, outputOctets: u.txBytes, inputPackets: u.rxPackets, outputPackets: u.txPackets };
}

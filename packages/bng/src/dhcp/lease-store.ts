/**
 * Where DHCPv4 bindings live. The server sees only the `LeaseStore` interface; the in-memory
 * implementation keeps everything in maps and, given a journal, makes every change except an
 * offer durable before `put`/`delete` return (an offer lost in a crash costs nothing: the client
 * retransmits, RFC 2131 §4.1).
 */
import type { LeaseJournal } from './lease-journal.js';

export const LeaseState = {
  /** held for a client between OFFER and REQUEST; expires after the offer hold time */
  OFFERED: 'offered',
  /** committed by an ACK; expires at the end of the lease */
  BOUND: 'bound',
  /** given back by the client (RFC 2131 §4.3.4); free, remembered for address affinity */
  RELEASED: 'released',
  /** the lease ran out without renewal (RFC 2131 §4.4.5); free, remembered for address affinity */
  EXPIRED: 'expired',
  /** the client said it is in use (RFC 2131 §4.3.3); withheld until the quarantine ends */
  DECLINED: 'declined',
} as const;
export type LeaseState = (typeof LeaseState)[keyof typeof LeaseState];

export interface LeaseRecord {
  readonly ip: string;
  /** `id:<hex>` from option 61 or `hw:<htype>:<mac>` (RFC 2131 §4.2, RFC 6842); '' when nobody owns it */
  readonly clientKey: string;
  readonly mac: string;
  readonly pool: string;
  readonly state: LeaseState;
  /** offer hold end, lease end, or quarantine end; for RELEASED/EXPIRED when that happened */
  readonly expiresAtMs: number;
  readonly updatedAtMs: number;
  readonly hostname?: string;
  /** option 82 sub-options as hex, for accounting and the datapath */
  readonly circuitId?: string;
  readonly remoteId?: string;
  /** the AAA session this binding carries (RADIUS authenticated subscribers only) */
  readonly session?: LeaseSession;
}

/**
 * What an Access-Accept (or the walled-garden policy) granted a subscriber, kept in its lease
 * record so that the journal that makes the binding durable makes the session durable with it:
 * a restart finds the same Acct-Session-Id, Class and limits.
 */
export interface LeaseSession {
  /** Acct-Session-Id, the same in every accounting record of the session (RFC 2866 §5.5) */
  readonly id: string;
  readonly userName: string;
  readonly realm: string;
  /** when the first ACK of the session was decided */
  readonly startedAtMs: number;
  /** the address came from Framed-IP-Address (it may lie outside the pool's dynamic range) */
  readonly framedIp?: string;
  /** the address came from the pool Framed-Pool named */
  readonly framedPool?: string;
  /** Class attributes of the Accept, hex, echoed in accounting (RFC 2865 §5.25) */
  readonly classes?: readonly string[];
  readonly interimSec?: number;
  readonly sessionTimeoutSec?: number;
  readonly idleTimeoutSec?: number;
  readonly upKbps?: number;
  readonly downKbps?: number;
  /** only the walled garden's destinations are reachable */
  readonly walled?: boolean;
  /** false: no accounting (a subscriber put in the walled garden after a reject or a timeout) */
  readonly accounting: boolean;
  /** the accounting Start is journaled (a restart resumes the session instead of starting it) */
  readonly acctStarted?: boolean;
  readonly nasPortId?: string;
}

export interface LeaseStore {
  get(ip: string): LeaseRecord | undefined;
  /** the most recently written record of this client, whatever its state */
  findByClient(clientKey: string): LeaseRecord | undefined;
  /** replaces the record for `rec.ip` */
  put(rec: LeaseRecord): void;
  delete(ip: string): void;
  all(): IterableIterator<LeaseRecord>;
  /**
   * Records whose timer has run out by `atMs` (offer hold, lease or quarantine end: the states
   * with a timer), in expiry order; without walking the others.
   */
  dueBy(atMs: number): LeaseRecord[];
  readonly size: number;
}

/** the states whose expiresAtMs is a timer still to act on; RELEASED/EXPIRED hold a past time */
const TIMED = new Set<string>(['offered', 'bound', 'declined']);

/**
 * A binary min-heap of (time, ip) with lazy deletion: an entry counts only while the store's
 * record for that ip still has that time and a timed state. Stale entries are dropped when they
 * surface, and the heap is rebuilt when they outnumber the live ones.
 */
class ExpiryHeap {
  private at: number[] = [];
  private ip: string[] = [];

  get length(): number {
    return this.at.length;
  }

  push(at: number, ip: string): void {
    let i = this.at.length;
    this.at.push(at);
    this.ip.push(ip);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! <= at) break;
      this.at[i] = this.at[p]!;
      this.ip[i] = this.ip[p]!;
      i = p;
    }
    this.at[i] = at;
    this.ip[i] = ip;
  }

  peek(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  pop(): [number, string] {
    const top: [number, string] = [this.at[0]!, this.ip[0]!];
    const lastAt = this.at.pop()!;
    const lastIp = this.ip.pop()!;
    const n = this.at.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && this.at[l + 1]! < this.at[l]! ? l + 1 : l;
        if (this.at[c]! >= lastAt) break;
        this.at[i] = this.at[c]!;
        this.ip[i] = this.ip[c]!;
        i = c;
      }
      this.at[i] = lastAt;
      this.ip[i] = lastIp;
    }
    return top;
  }

  clear(): void {
    this.at = [];
    this.ip = [];
  }
}

export interface MemoryLeaseStoreOptions {
  journal?: LeaseJournal;
  /** rewrite the journal once it holds this many entries more than twice the live records (default 10,000) */
  compactSlack?: number;
  /** a background rewrite failed (the journal goes on in its old file; retried after `compactSlack` more entries) */
  onCompactError?: (err: Error) => void;
}

export interface MemoryLeaseStore extends LeaseStore {
  /** writes a snapshot of the durable records and truncates the journal */
  compact(): void;
}

export function createMemoryLeaseStore(options: MemoryLeaseStoreOptions = {}): MemoryLeaseStore {
  const byIp = new Map<string, LeaseRecord>();
  const byClient = new Map<string, string>();
  const journal = options.journal;
  const slack = options.compactSlack ?? 10_000;
  const timers = new ExpiryHeap();
  const live = (at: number, ip: string): LeaseRecord | undefined => {
    const rec = byIp.get(ip);
    return rec !== undefined && rec.expiresAtMs === at && TIMED.has(rec.state) ? rec : undefined;
  };
  const rebuildTimers = (): void => {
    timers.clear();
    for (const rec of byIp.values()) if (TIMED.has(rec.state)) timers.push(rec.expiresAtMs, rec.ip);
  };

  const index = (rec: LeaseRecord): void => {
    const prev = byIp.get(rec.ip);
    if (prev !== undefined && prev.clientKey !== rec.clientKey && byClient.get(prev.clientKey) === rec.ip) {
      byClient.delete(prev.clientKey);
    }
    byIp.set(rec.ip, rec);
    if (rec.clientKey !== '') byClient.set(rec.clientKey, rec.ip);
    if (TIMED.has(rec.state) && (prev === undefined || prev.expiresAtMs !== rec.expiresAtMs || !TIMED.has(prev.state))) {
      timers.push(rec.expiresAtMs, rec.ip);
      if (timers.length > 2 * byIp.size + 1024) rebuildTimers();
    }
  };
  const unindex = (ip: string): void => {
    const prev = byIp.get(ip);
    if (prev === undefined) return;
    byIp.delete(ip);
    if (byClient.get(prev.clientKey) === ip) byClient.delete(prev.clientKey);
  };

  if (journal !== undefined) {
    for (const entry of journal.load()) {
      if (entry.op === 'put') index(entry.lease);
      else unindex(entry.ip);
    }
    rebuildTimers();
  }

  const durable = (rec: LeaseRecord): boolean => rec.state !== LeaseState.OFFERED;

  const store: MemoryLeaseStore = {
    get: (ip) => byIp.get(ip),
    findByClient: (key) => {
      const ip = byClient.get(key);
      return ip === undefined ? undefined : byIp.get(ip);
    },
    put(rec) {
      // An offer is not written: if it replaced a durable record, the disk still holding that
      // record is what a restart should see (the offer would have lapsed anyway).
      if (journal !== undefined && durable(rec)) journal.append({ op: 'put', lease: rec });
      index(rec);
      maybeCompact();
    },
    delete(ip) {
      const prev = byIp.get(ip);
      if (prev === undefined) return;
      if (journal !== undefined && durable(prev)) journal.append({ op: 'delete', ip });
      unindex(ip);
      maybeCompact();
    },
    all: () => byIp.values(),
    dueBy(atMs) {
      // pop what is due, keep the live ones, and put them back: the caller decides what changes
      const due: LeaseRecord[] = [];
      const seen = new Set<string>();
      while (timers.peek() <= atMs) {
        const [at, ip] = timers.pop();
        const rec = live(at, ip);
        if (rec === undefined || seen.has(ip)) continue;
        seen.add(ip);
        due.push(rec);
      }
      for (const rec of due) timers.push(rec.expiresAtMs, rec.ip);
      return due;
    },
    get size() {
      return byIp.size;
    },
    compact() {
      if (journal === undefined) return;
      journal.rewrite([...byIp.values()].filter(durable));
    },
  };

  // after a failed background rewrite, the next try waits for another `slack` entries
  let retryAt = 0;
  function maybeCompact(): void {
    if (journal === undefined || journal.rewriting) return;
    if (journal.entries <= 2 * byIp.size + slack || journal.entries < retryAt) return;
    // in slices between requests: 50,000 leases rewritten in one piece held the daemon 300-400 ms
    journal.rewriteInBackground([...byIp.values()].filter(durable), (err) => {
      if (err) {
        retryAt = journal.entries + slack;
        options.onCompactError?.(err);
      }
    });
  }

  return store;
}

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
}

export interface LeaseStore {
  get(ip: string): LeaseRecord | undefined;
  /** the most recently written record of this client, whatever its state */
  findByClient(clientKey: string): LeaseRecord | undefined;
  /** replaces the record for `rec.ip` */
  put(rec: LeaseRecord): void;
  delete(ip: string): void;
  all(): IterableIterator<LeaseRecord>;
  readonly size: number;
}

export interface MemoryLeaseStoreOptions {
  journal?: LeaseJournal;
  /** rewrite the journal once it holds this many entries more than twice the live records (default 10,000) */
  compactSlack?: number;
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

  const index = (rec: LeaseRecord): void => {
    const prev = byIp.get(rec.ip);
    if (prev !== undefined && prev.clientKey !== rec.clientKey && byClient.get(prev.clientKey) === rec.ip) {
      byClient.delete(prev.clientKey);
    }
    byIp.set(rec.ip, rec);
    if (rec.clientKey !== '') byClient.set(rec.clientKey, rec.ip);
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
    get size() {
      return byIp.size;
    },
    compact() {
      if (journal === undefined) return;
      journal.rewrite([...byIp.values()].filter(durable));
    },
  };

  function maybeCompact(): void {
    if (journal !== undefined && journal.entries > 2 * byIp.size + slack) store.compact();
  }

  return store;
}

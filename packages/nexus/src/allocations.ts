/**
 * Allocation state per pool, backed by the pool's Yjs document and indexed in memory. The
 * decisions are made by the pure functions in allocator.ts; this module keeps the indexes in step
 * with the document (local and merged remote changes alike), applies quarantine and reservations,
 * and resolves duplicate holders found after a merge.
 */
import * as Y from 'yjs';
import { BngError } from '@bng/api';
import { blockOwners, conflictWinner, type Claim, pickUnit, poolGeometry, subscriberOwner, type PoolGeometry } from './allocator.js';
import type { Clock, Logger } from './logger.js';
import type { AllocationValue, PoolRecord, QuarantineValue } from './model.js';
import { DocPrefixes, type Store } from './store.js';

/**
 * Stored form of one allocation: "unit|allocated_at|node". A string instead of an object because
 * there is one per subscriber per pool: it halves the bytes to sync and the time to integrate them;
 * the address text is derived from the unit.
 */
type StoredAllocation = string;
// join, not a template literal: a template builds a chain of cons strings (~80 bytes more each).
const encodeAllocation = (i: number, t: number, n: string): StoredAllocation => [i, t, n].join('|');
const unitOf = (s: StoredAllocation): number => Number(s.slice(0, s.indexOf('|')));
function decodeAllocation(s: StoredAllocation, geom: PoolGeometry | undefined): AllocationValue {
  const [i, t, n] = s.split('|');
  const unit = Number(i);
  return { i: unit, a: geom ? geom.format(unit) : '', t: Number(t), n: n ?? '' };
}

export interface Membership {
  readonly self: string;
  /** Sorted ids of the allocators this replica currently considers alive (itself included). */
  live(): readonly string[];
}

export interface AllocationsConfig {
  defaultBlockSize: number;
  defaultQuarantineSeconds: number;
}

export interface AllocationEvent {
  type: 'allocation_conflict';
  pool_id: string; address: string; winner: string; loser: string; new_address: string | null; at: number; node: string;
}

export interface Utilisation {
  pool_id: string; type: string; units: number; usable: number; allocated: number; quarantined: number;
  reserved: number; utilisation: number;
}

interface PoolState {
  id: string;
  doc: Y.Doc;
  alloc: Y.Map<StoredAllocation>;
  def: PoolRecord | undefined;
  geom: PoolGeometry | undefined;
  /**
   * Unit -> holder; an array only while a merge has left duplicates (one string per unit is the norm).
   * The only per-allocation index: a subscriber's own unit is read from the document (alloc), so
   * there is no second map of every subscriber (~4 MB per pool at 100,000 allocations).
   */
  byIdx: Map<number, string | string[]>;
  /** (unit, holder) pairs in byIdx: the number of allocations. */
  held: number;
  quarantine: Map<number, QuarantineValue>;
  reservedBySub: Map<string, number>;
  reservedByIdx: Map<number, string>;
  owners: { key: string; owners: string[]; byOwner: Map<string, number[]> } | undefined;
}

export interface Allocations {
  definePool(def: PoolRecord): void;
  pool(id: string): PoolRecord | undefined;
  pools(): PoolRecord[];
  geometry(id: string): PoolGeometry | undefined;
  allocate(poolId: string, subscriberId: string): AllocationValue;
  /** allocate() without building the answer (the unit's address text): the unit held. */
  take(poolId: string, subscriberId: string): number;
  has(poolId: string, subscriberId: string): boolean;
  release(poolId: string, subscriberId: string): AllocationValue | undefined;
  get(poolId: string, subscriberId: string): AllocationValue | undefined;
  /** Every allocation a subscriber holds, by pool id. */
  of(subscriberId: string): Record<string, AllocationValue>;
  reserve(poolId: string, subscriberId: string, address: string): number;
  list(poolId: string, limit: number, after?: string): Array<{ subscriber_id: string } & AllocationValue>;
  utilisation(poolId: string): Utilisation;
  /** Holders of any unit held by more than one subscriber (should be empty after convergence). */
  duplicates(): Array<{ pool_id: string; index: number; holders: string[] }>;
  sweepQuarantine(): number;
  resolveConflicts(): void;
  /** Re-examine every pool (after the live set changed, or periodically while duplicates exist). */
  recheck(): void;
  duplicateCount(): number;
  /** Run fn with one open transaction on each named pool: many allocations, one update each. */
  batch<T>(poolIds: readonly string[], fn: () => T): T;
}

export function createAllocations(
  config: AllocationsConfig,
  deps: {
    store: Store; clock: Clock; log: Logger; membership: Membership;
    onConflict?: (e: AllocationEvent) => void;
    /** Counts outcomes (metrics): allocated, existing (sticky), exhausted, released. */
    onOutcome?: (poolId: string, outcome: 'allocated' | 'existing' | 'exhausted' | 'released') => void;
  },
): Allocations {
  const { store, clock, membership } = deps;
  const log = deps.log.child({ component: 'allocations' });
  const pools = new Map<string, PoolState>();
  const conflicted = new Set<string>();
  let resolveScheduled = false;
  let dupCount = 0;
  /** When each duplicate was first seen: if its designated resolver stays silent, anyone resolves. */
  const firstSeen = new Map<string, number>();
  const RESOLVER_GRACE_MS = 3000;

  const scheduleResolve = (poolId: string) => {
    conflicted.add(poolId);
    if (resolveScheduled) return;
    resolveScheduled = true;
    // Outside the observer: writes made inside another transaction's observer would nest.
    setImmediate(() => {
      resolveScheduled = false;
      try { api.resolveConflicts(); } catch (e) { log.error({ err: (e as Error).message }, 'conflict resolution failed; retried periodically'); }
    });
  };

  const unitHeldBy = (st: PoolState, sub: string): number | undefined => {
    const stored = st.alloc.get(sub);
    return stored === undefined ? undefined : unitOf(stored);
  };
  const indexed = (st: PoolState, idx: number): string[] => {
    const h = st.byIdx.get(idx);
    return h === undefined ? [] : typeof h === 'string' ? [h] : h;
  };
  /**
   * Holders of a unit, checked against the document. Inside a transaction the document is ahead of
   * the index (observers run at its end): a holder that has since moved or released is dropped here.
   */
  const holdersAt = (st: PoolState, idx: number): string[] => {
    const all = indexed(st, idx);
    const valid = all.filter((sub) => unitHeldBy(st, sub) === idx);
    if (valid.length !== all.length) for (const sub of all) if (!valid.includes(sub)) removeHolder(st, idx, sub);
    return valid;
  };
  /** Units indexed with more than one holder (polled with every state digest: no copies of the index). */
  const dupUnits = (st: PoolState): number[] => {
    const out: number[] = [];
    if (dupCount === 0) return out;
    for (const [idx, h] of st.byIdx) if (typeof h !== 'string') out.push(idx);
    return out;
  };
  const addHolder = (st: PoolState, idx: number, sub: string) => {
    const h = st.byIdx.get(idx);
    if (h === undefined) { st.byIdx.set(idx, sub); st.held++; return; }
    const holders = typeof h === 'string' ? [h] : h;
    if (holders.includes(sub)) return;
    holders.push(sub);
    st.held++;
    st.byIdx.set(idx, holders);
    if (holders.length === 2) dupCount++;
    scheduleResolve(st.id);
  };
  const removeHolder = (st: PoolState, idx: number, sub: string) => {
    const holders = indexed(st, idx);
    if (!holders.includes(sub)) return;
    const rest = holders.filter((h) => h !== sub);
    st.held--;
    if (holders.length >= 2 && rest.length < 2) { dupCount--; firstSeen.delete(`${st.id}#${idx}`); }
    if (rest.length === 0) st.byIdx.delete(idx); else st.byIdx.set(idx, rest.length === 1 ? rest[0]! : rest);
  };

  const attach = (name: string, doc: Y.Doc) => {
    const id = name.slice(DocPrefixes.pool.length);
    const alloc = doc.getMap<StoredAllocation>('alloc');
    const st: PoolState = {
      id, doc, alloc, def: undefined, geom: undefined, byIdx: new Map(), held: 0, quarantine: new Map(),
      reservedBySub: new Map(), reservedByIdx: new Map(), owners: undefined,
    };
    pools.set(id, st);
    const defMap = doc.getMap<PoolRecord>('def');
    const quar = doc.getMap<QuarantineValue>('quar');
    const resv = doc.getMap<number>('resv');
    const loadDef = () => {
      const def = defMap.get('def');
      if (!def || st.def) return;
      try {
        st.geom = poolGeometry(def, config.defaultBlockSize);
        st.def = def;
      } catch (e) {
        log.error({ pool: id, err: (e as Error).message }, 'replicated pool definition is invalid; pool disabled');
      }
    };
    const syncQuar = (key: string) => {
      const v = quar.get(key);
      if (v) st.quarantine.set(Number(key), v); else st.quarantine.delete(Number(key));
    };
    const syncResv = (sub: string) => {
      const prev = st.reservedBySub.get(sub);
      if (prev !== undefined) { st.reservedByIdx.delete(prev); st.reservedBySub.delete(sub); }
      const cur = resv.get(sub);
      if (cur !== undefined) { st.reservedBySub.set(sub, cur); st.reservedByIdx.set(cur, sub); }
    };
    loadDef();
    for (const [sub, stored] of alloc.entries()) addHolder(st, unitOf(stored), sub);
    for (const key of quar.keys()) syncQuar(key);
    for (const sub of resv.keys()) syncResv(sub);
    defMap.observe(loadDef);
    alloc.observe((ev) => {
      for (const sub of ev.keysChanged) {
        const before = valueBefore(ev, alloc, sub);
        const prev = before === undefined ? undefined : unitOf(before);
        const cur = unitHeldBy(st, sub);
        if (prev !== undefined && prev !== cur) removeHolder(st, prev, sub);
        if (cur !== undefined) addHolder(st, cur, sub);
      }
    });
    quar.observe((ev) => { for (const key of ev.keysChanged) syncQuar(key); });
    resv.observe((ev) => { for (const key of ev.keysChanged) syncResv(key); });
  };
  store.onDoc((name, doc) => { if (name.startsWith(DocPrefixes.pool)) attach(name, doc); });

  const ready = (poolId: string): PoolState & { def: PoolRecord; geom: PoolGeometry } => {
    const st = pools.get(poolId);
    if (!st?.def || !st.geom) throw new BngError('BNG_ERR_NOT_FOUND', `pool ${poolId} does not exist`, { field: 'pool_id' });
    return st as PoolState & { def: PoolRecord; geom: PoolGeometry };
  };

  const ownersFor = (st: PoolState & { geom: PoolGeometry }, live: readonly string[]) => {
    const key = live.join('\u0000');
    if (st.owners?.key !== key) {
      const owners = blockOwners(st.geom, live);
      const byOwner = new Map<string, number[]>();
      owners.forEach((o, b) => { let l = byOwner.get(o); if (!l) byOwner.set(o, (l = [])); l.push(b); });
      st.owners = { key, owners, byOwner };
    }
    return st.owners;
  };

  const isFreeFor = (st: PoolState, sub: string, now: number) => (idx: number): boolean => {
    if (st.byIdx.has(idx) && holdersAt(st, idx).length > 0) return false;
    const q = st.quarantine.get(idx);
    if (q && q.u > now && q.s !== sub) return false;
    const r = st.reservedByIdx.get(idx);
    return r === undefined || r === sub;
  };

  const choose = (st: PoolState & { def: PoolRecord; geom: PoolGeometry }, sub: string, now: number): number | undefined => {
    const reserved = st.reservedBySub.get(sub);
    if (reserved !== undefined) {
      const holders = holdersAt(st, reserved);
      if (holders.some((h) => h !== sub)) {
        throw new BngError('BNG_ERR_CONFLICT', `reserved address ${st.geom.format(reserved)} is held by ${holders[0]}`);
      }
      return reserved;
    }
    const live = membership.live();
    const { owners, byOwner } = ownersFor(st, live);
    return pickUnit({ geom: st.geom, owners, live, subscriberId: sub, isFree: isFreeFor(st, sub, now), blocksOf: (o) => byOwner.get(o) ?? [] });
  };

  const api: Allocations = {
    definePool(def) {
      const geom = poolGeometry(def, config.defaultBlockSize); // validates before anything is written
      if (pools.get(def.id)?.def) throw new BngError('BNG_ERR_CONFLICT', `pool ${def.id} already exists`, { field: 'id' });
      void geom;
      const doc = store.doc(`${DocPrefixes.pool}${def.id}`);
      doc.getMap<PoolRecord>('def').set('def', def);
    },
    pool: (id) => pools.get(id)?.def,
    pools: () => [...pools.values()].filter((p) => p.def).map((p) => p.def!),
    geometry: (id) => pools.get(id)?.geom,
    get(poolId, sub) {
      const st = pools.get(poolId);
      const stored = st?.alloc.get(sub);
      return stored === undefined ? undefined : decodeAllocation(stored, st!.geom);
    },
    has: (poolId, sub) => pools.get(poolId)?.alloc.has(sub) ?? false,
    of(sub) {
      const out: Record<string, AllocationValue> = {};
      for (const st of pools.values()) {
        const v = st.alloc.get(sub);
        if (v !== undefined) out[st.id] = decodeAllocation(v, st.geom);
      }
      return out;
    },
    allocate(poolId, sub) {
      api.take(poolId, sub);
      const st = pools.get(poolId)!;
      return decodeAllocation(st.alloc.get(sub)!, st.geom);
    },
    take(poolId, sub) {
      const st = ready(poolId);
      const alloc = st.alloc;
      const existing = alloc.get(sub);
      if (existing !== undefined) { deps.onOutcome?.(poolId, 'existing'); return unitOf(existing); } // sticky
      const now = clock.now();
      const idx = choose(st, sub, now);
      if (idx === undefined) {
        deps.onOutcome?.(poolId, 'exhausted');
        throw new BngError('BNG_ERR_POOL_EXHAUSTED', `pool ${poolId} has no free ${st.def.type} unit`);
      }
      deps.onOutcome?.(poolId, 'allocated');
      st.doc.transact(() => {
        alloc.set(sub, encodeAllocation(idx, now, membership.self));
        // Index at once, not in the observer: inside a batch (one transaction for many
        // allocations) observers run only at the end, and the next pick must see this one.
        addHolder(st, idx, sub);
        if (st.quarantine.has(idx)) { st.doc.getMap('quar').delete(String(idx)); st.quarantine.delete(idx); }
      });
      return idx;
    },
    release(poolId, sub) {
      const st = ready(poolId);
      const alloc = st.alloc;
      const stored = alloc.get(sub);
      if (stored === undefined) return undefined;
      const value = decodeAllocation(stored, st.geom);
      deps.onOutcome?.(poolId, 'released');
      const seconds = st.def.quarantine_seconds ?? config.defaultQuarantineSeconds;
      st.doc.transact(() => {
        alloc.delete(sub);
        removeHolder(st, value.i, sub);
        if (seconds > 0) {
          const q: QuarantineValue = { s: sub, u: clock.now() + seconds * 1000 };
          st.doc.getMap<QuarantineValue>('quar').set(String(value.i), q);
          st.quarantine.set(value.i, q);
        }
      });
      return value;
    },
    reserve(poolId, sub, address) {
      const st = ready(poolId);
      const idx = st.geom.parse(address);
      if (idx === undefined || st.geom.unusable.has(idx)) {
        throw new BngError('BNG_ERR_BAD_REQUEST', `address: ${address} is not a usable unit of pool ${poolId}`, { field: 'address' });
      }
      const other = st.reservedByIdx.get(idx);
      if (other !== undefined && other !== sub) throw new BngError('BNG_ERR_CONFLICT', `${address} is reserved for ${other}`);
      const holders = holdersAt(st, idx);
      if (holders.some((h) => h !== sub)) throw new BngError('BNG_ERR_CONFLICT', `${address} is held by ${holders[0]}`);
      st.doc.getMap<number>('resv').set(sub, idx);
      const prev = st.reservedBySub.get(sub);
      if (prev !== undefined) st.reservedByIdx.delete(prev);
      st.reservedBySub.set(sub, idx);
      st.reservedByIdx.set(idx, sub);
      return idx;
    },
    list(poolId, limit, after) {
      const st = ready(poolId);
      const alloc = st.alloc;
      const keys = [...alloc.keys()].filter((k) => after === undefined || k > after).sort().slice(0, limit);
      return keys.map((k) => ({ subscriber_id: k, ...decodeAllocation(alloc.get(k)!, st.geom) }));
    },
    utilisation(poolId) {
      const st = ready(poolId);
      const now = clock.now();
      let quarantined = 0;
      for (const q of st.quarantine.values()) if (q.u > now) quarantined++;
      const usable = st.geom.units - st.geom.unusable.size;
      return {
        pool_id: poolId, type: st.def.type, units: st.geom.units, usable, allocated: st.held, quarantined,
        reserved: st.reservedBySub.size, utilisation: usable > 0 ? st.held / usable : 0,
      };
    },
    duplicates() {
      const out: Array<{ pool_id: string; index: number; holders: string[] }> = [];
      for (const st of pools.values()) {
        for (const index of dupUnits(st)) { const holders = holdersAt(st, index); if (holders.length > 1) out.push({ pool_id: st.id, index, holders }); }
      }
      return out;
    },
    sweepQuarantine() {
      const now = clock.now();
      let n = 0;
      for (const st of pools.values()) {
        const quar = st.doc.getMap<QuarantineValue>('quar');
        const expired = [...st.quarantine].filter(([, q]) => q.u <= now).map(([i]) => String(i));
        if (expired.length === 0) continue;
        st.doc.transact(() => { for (const k of expired) quar.delete(k); });
        n += expired.length;
      }
      return n;
    },
    duplicateCount: () => dupCount,
    batch(poolIds, fn) {
      const docs = [...new Set(poolIds)].map((id) => pools.get(id)?.doc).filter((d): d is Y.Doc => d !== undefined);
      const run = (i: number): ReturnType<typeof fn> => (i === docs.length ? fn() : docs[i]!.transact(() => run(i + 1)));
      return run(0);
    },
    recheck() {
      if (dupCount === 0) return;
      for (const id of pools.keys()) conflicted.add(id);
      api.resolveConflicts();
    },
    resolveConflicts() {
      const live = membership.live();
      for (const poolId of [...conflicted]) {
        conflicted.delete(poolId);
        const st = pools.get(poolId);
        if (!st?.def || !st.geom) continue;
        const alloc = st.alloc;
        const allocatedAt = (sub: string) => { const v = alloc.get(sub); return v === undefined ? 0 : decodeAllocation(v, undefined).t; };
        for (const idx of dupUnits(st)) {
          const holders = holdersAt(st, idx);
          if (holders.length < 2) continue;
          const claims: Claim[] = holders.map((h) => ({ subscriberId: h, at: allocatedAt(h), reservedFor: st.reservedByIdx.get(idx) }));
          const winner = claims.reduce((w, c) => conflictWinner(w, c));
          for (const loser of claims) {
            if (loser === winner) continue;
            // One replica resolves each loser (its rendezvous owner) so the others don't race it;
            // if two still do, both compute from converged state and the map keeps one answer.
            const key = `${poolId}#${idx}`;
            const seen = firstSeen.get(key) ?? clock.now();
            firstSeen.set(key, seen);
            const overdue = clock.now() - seen > RESOLVER_GRACE_MS;
            if (!overdue && subscriberOwner(loser.subscriberId, live) !== membership.self) continue;
            const now = clock.now();
            let next: number | undefined;
            // A reservation held by the winner makes the loser's own choice fail: it then gets none
            // (reported), rather than stopping the resolution of every other conflict.
            const pick = () => { try { return choose(st as PoolState & { def: PoolRecord; geom: PoolGeometry }, loser.subscriberId, now); } catch { return undefined; } };
            st.doc.transact(() => {
              alloc.delete(loser.subscriberId);
              next = pick();
              if (next !== undefined) alloc.set(loser.subscriberId, encodeAllocation(next, now, membership.self));
            });
            const event: AllocationEvent = {
              type: 'allocation_conflict', pool_id: poolId, address: st.geom.format(idx), winner: winner.subscriberId,
              loser: loser.subscriberId, new_address: next === undefined ? null : st.geom.format(next), at: now, node: membership.self,
            };
            log.warn(event, 'duplicate allocation found on merge; loser re-allocated');
            deps.onConflict?.(event);
          }
        }
      }
    },
  };
  return api;
}

/**
 * The value `key` had before the event's transaction: what YMapEvent.keys reports as oldValue,
 * computed for one key without building that map for every changed key (a full sync changes
 * 100,000 keys of a pool at once). A map entry's earlier values are the items to its left.
 */
function valueBefore<T>(ev: Y.YMapEvent<T>, map: Y.Map<T>, key: string): T | undefined {
  const item = map._map.get(key);
  if (item === undefined) return undefined;
  if (!ev.adds(item)) {
    if (ev.deletes(item) || !item.deleted) return lastOf<T>(item);
    return undefined;
  }
  let prev = item.left;
  while (prev !== null && ev.adds(prev)) prev = prev.left;
  return prev !== null && ev.deletes(prev) ? lastOf<T>(prev) : undefined;
}
const lastOf = <T>(item: Y.Item): T | undefined => {
  const content = item.content.getContent() as T[];
  return content[content.length - 1];
};

/**
 * Persistence (snapshot + log, torn tails, compaction) and order-independent merging of the
 * replicated state, including the merge-time duplicate-address rule, in-process with numeric clocks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as Y from 'yjs';
import { createAllocations, type Membership } from '../src/allocations.js';
import { silentLogger } from '../src/logger.js';
import { createAuditLog } from '../src/audit.js';
import { createStore, LOAD_ORIGIN, type Store } from '../src/store.js';
import { tempDir } from './helpers.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) { try { s.close(); } catch { /* closed by the test */ } }
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const open = (dir: string, compactBytes = 1 << 30) => {
  const s = createStore({ dataDir: dir, fsync: false, compactBytes }, { log: silentLogger });
  stores.push(s);
  return s;
};
const fresh = () => { const d = tempDir('nexus-store-'); dirs.push(d); return d; };

describe('persistence', () => {
  it('restores every acknowledged write after a restart', () => {
    const dir = fresh();
    const a = open(dir);
    for (let i = 0; i < 200; i++) a.doc(`device:d${i % 5}`).getMap('phys').set(`s${i}`, { i });
    const hash = a.contentHash();
    a.close();
    const b = open(dir);
    expect(b.contentHash()).toBe(hash);
    expect(b.names().sort()).toEqual(['device:d0', 'device:d1', 'device:d2', 'device:d3', 'device:d4']);
  });

  it('drops a torn tail (a write that was never acknowledged) and keeps the rest', () => {
    const dir = fresh();
    const a = open(dir);
    a.doc('netco:n').getMap('rec').set('rec', { id: 'n' });
    const hash = a.contentHash();
    a.doc('netco:n').getMap('rec').set('other', 1);
    a.close();
    const log = path.join(dir, 'log-0.bin');
    const size = fs.statSync(log).size;
    fs.truncateSync(log, size - 3);
    const b = open(dir);
    expect(b.contentHash()).toBe(hash);
    b.doc('netco:n').getMap('rec').set('after', 2); // appends after the cut, not after garbage
    const h2 = b.contentHash();
    b.close();
    expect(open(dir).contentHash()).toBe(h2);
  });

  it('compacts into a snapshot and a new log without losing anything', async () => {
    const dir = fresh();
    const a = open(dir, 64 * 1024);
    for (let i = 0; i < 3000; i++) a.doc('pool:p').getMap('alloc').set(`s${i % 500}`, { i: i % 500, a: `x${i}`, t: i, n: 'n' });
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const files = fs.readdirSync(dir);
    expect(files.some((f) => /^snapshot-[1-9]\d*\.bin$/.test(f))).toBe(true);
    expect(files).not.toContain('log-0.bin');
    a.doc('pool:p').getMap('alloc').set('late', { i: 1, a: 'late', t: 1, n: 'n' });
    const hash = a.contentHash();
    a.close();
    expect(open(dir).contentHash()).toBe(hash);
  });
});

describe('audit log', () => {
  it('serves its tail from the file, across restarts, skipping a torn line', () => {
    const dir = fresh();
    const file = path.join(dir, 'audit.log');
    let t = 0;
    const a = createAuditLog({ file, node: 'n1' }, { clock: { now: () => ++t }, log: silentLogger });
    for (let i = 0; i < 3000; i++) a.record('admin', 'subscriber.create', `s${i}`, i % 2 ? { i } : undefined);
    expect(a.tail(2).map((e) => e.target)).toEqual(['s2998', 's2999']); // also lines not yet written
    a.close();
    fs.appendFileSync(file, '{"at":1,"actor":"adm'); // a crash mid-line
    const b = createAuditLog({ file, node: 'n1' }, { clock: { now: () => ++t }, log: silentLogger });
    b.record('admin', 'netco.create', 'nc');
    const tail = b.tail(2500);
    expect(tail).toHaveLength(2500);
    expect(tail[0]!.target).toBe('s501');
    expect(tail[2498]!.target).toBe('s2999');
    expect(tail[2499]).toMatchObject({ actor: 'admin', action: 'netco.create', target: 'nc', node: 'n1' });
    expect(b.tail(10_000)).toHaveLength(3001); // the torn line is skipped
    b.close();
  });
});

describe('updates from peers', () => {
  const remoteDoc = () => {
    const d = new Y.Doc();
    const m = d.getMap<string>('phys');
    const updates: Uint8Array[] = [];
    d.on('update', (u: Uint8Array) => updates.push(u));
    return { d, m, updates };
  };

  it('are logged and passed on as received, once: an update that changes nothing is neither', () => {
    const dir = fresh();
    const a = open(dir);
    const seen: Array<{ name: string; update: Uint8Array; origin: unknown }> = [];
    a.onUpdate((name, update, origin) => seen.push({ name, update, origin }));
    const peer = remoteDoc();
    peer.d.transact(() => { for (let i = 0; i < 100; i++) peer.m.set(`s${i}`, `v${i}`); });
    const full = Y.encodeStateAsUpdate(peer.d);
    a.applyRemote('device:d1', full, 'peer-1');
    expect(seen.map((x) => [x.name, x.origin])).toEqual([['device:d1', 'peer-1']]);
    expect(seen[0]!.update).toBe(full); // the received bytes, not a re-encoding
    a.applyRemote('device:d1', full, 'peer-2'); // the same again (a second connection): nothing new
    expect(seen).toHaveLength(1);
    const hash = a.contentHash();
    a.close();
    expect(open(dir).contentHash()).toBe(hash);
  });

  it('that arrive before what they depend on are merged and logged once complete', () => {
    const dir = fresh();
    const a = open(dir);
    const peer = remoteDoc();
    peer.m.set('s1', 'one');
    peer.m.set('s1', 'two'); // depends on the first
    peer.m.delete('s1');
    peer.m.set('s2', 'three');
    const [u1, u2, u3, u4] = peer.updates;
    a.applyRemote('device:d1', u4!, 'peer'); // pending: needs u1..u3
    a.applyRemote('device:d1', u2!, 'peer');
    a.applyRemote('device:d1', u3!, 'peer');
    a.applyRemote('device:d1', u1!, 'peer'); // completes everything
    expect(a.doc('device:d1').getMap('phys').toJSON()).toEqual({ s2: 'three' });
    const hash = a.contentHash();
    a.close();
    const b = open(dir);
    expect(b.contentHash()).toBe(hash);
    expect(b.doc('device:d1').getMap('phys').toJSON()).toEqual({ s2: 'three' });
  });

  it('still log a write an observer makes while one is merged', () => {
    const dir = fresh();
    const a = open(dir);
    const doc = a.doc('device:d1');
    doc.getMap('phys').observe((ev) => {
      if (ev.transaction.local) return;
      for (const k of ev.keysChanged) doc.getMap('svc').set(k, `seen ${k}`);
    });
    const peer = remoteDoc();
    peer.m.set('s1', 'one');
    a.applyRemote('device:d1', Y.encodeStateAsUpdate(peer.d), 'peer');
    expect(doc.getMap('svc').toJSON()).toEqual({ s1: 'seen s1' });
    const hash = a.contentHash();
    a.close();
    expect(open(dir).contentHash()).toBe(hash);
  });
});

describe('merging is order-independent', () => {
  /** Replicas as bare stores with allocators; updates are captured and delivered by the test. */
  function replica(id: string, live: () => string[], now: { t: number }) {
    const store = open(fresh());
    const outbox: Array<{ doc: string; update: Uint8Array }> = [];
    store.onDoc((name, doc) => doc.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== 'remote' && origin !== LOAD_ORIGIN) outbox.push({ doc: name, update: u }); }));
    const membership: Membership = { self: id, live: () => live() };
    const allocs = createAllocations({ defaultBlockSize: 4, defaultQuarantineSeconds: 60 }, { store, clock: { now: () => now.t }, log: silentLogger, membership });
    return { id, store, outbox, allocs };
  }

  it('any interleaving of concurrent allocations converges to one state with unique addresses', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(2), fc.nat(40)), { minLength: 5, maxLength: 60 }),
      fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      async (ops, seeds) => {
        const now = { t: 1000 };
        const ids = ['r0', 'r1', 'r2'];
        // Partitioned: each replica thinks it is alone, so all of them own every block.
        let healed = false;
        const reps = ids.map((id) => replica(id, () => (healed ? ids : [id]), now));
        reps[0]!.allocs.definePool({ id: 'p', type: 'ipv4', cidr: '10.0.0.0/26', owner_kind: 'ispco', owner_id: 'i', created_at: 0 });
        const def = reps[0]!.outbox.splice(0);
        for (const r of reps.slice(1)) for (const m of def) Y.applyUpdate(r.store.doc(m.doc), m.update, 'remote');
        for (const [who, sub] of ops) {
          now.t++;
          try { reps[who]!.allocs.allocate('p', `s${sub}`); } catch { /* exhausted is fine */ }
        }
        // Heal: deliver everything to everyone, each replica in its own shuffled order.
        const all = reps.flatMap((r) => r.outbox.splice(0));
        reps.forEach((r, k) => {
          const order = [...all].sort((x, y) => ((all.indexOf(x) * 7919 + seeds[k]!) % 101) - ((all.indexOf(y) * 7919 + seeds[k]!) % 101));
          for (const m of order) Y.applyUpdate(r.store.doc(m.doc), m.update, 'remote');
        });
        // Everyone now sees everyone; let the resolver fix duplicates, then exchange again until quiet.
        healed = true;
        for (let round = 0; round < 5; round++) {
          await new Promise((res) => setImmediate(res));
          for (const r of reps) r.allocs.recheck();
          const msgs = reps.flatMap((r) => r.outbox.splice(0).map((m) => ({ from: r.id, ...m })));
          if (msgs.length === 0) break;
          for (const r of reps) for (const m of msgs) if (m.from !== r.id) Y.applyUpdate(r.store.doc(m.doc), m.update, 'remote');
        }
        const hashes = reps.map((r) => r.store.contentHash());
        expect(new Set(hashes).size).toBe(1);
        const list = reps[0]!.allocs.list('p', 1000);
        expect(new Set(list.map((a) => a.a)).size).toBe(list.length);
        for (const r of reps) expect(r.allocs.duplicates()).toEqual([]);
        // The in-memory index agrees with the document everywhere.
        for (const r of reps) expect(r.allocs.utilisation('p').allocated).toBe(list.length);
        for (const r of reps) r.store.close();
        stores.splice(0);
      },
    ), { numRuns: 40 });
  });

  it('keeps the allocation index in step with merged allocations, releases and re-allocations', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(2), fc.nat(20), fc.boolean()), { minLength: 5, maxLength: 80 }),
      fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      async (ops, seeds) => {
        const now = { t: 1000 };
        const ids = ['r0', 'r1', 'r2'];
        let healed = false;
        const reps = ids.map((id) => replica(id, () => (healed ? ids : [id]), now));
        reps[0]!.allocs.definePool({ id: 'p', type: 'ipv4', cidr: '10.0.0.0/27', owner_kind: 'ispco', owner_id: 'i', created_at: 0, quarantine_seconds: 0 });
        const def = reps[0]!.outbox.splice(0);
        for (const r of reps.slice(1)) for (const m of def) r.store.applyRemote(m.doc, m.update, 'remote');
        const deliver = (msgs: Array<{ from: string; doc: string; update: Uint8Array }>, k: number, r: (typeof reps)[number]) => {
          const order = [...msgs].sort((x, y) => ((msgs.indexOf(x) * 7919 + seeds[k]!) % 101) - ((msgs.indexOf(y) * 7919 + seeds[k]!) % 101));
          for (const m of order) if (m.from !== r.id) r.store.applyRemote(m.doc, m.update, 'remote');
        };
        for (const [who, sub, release] of ops) {
          now.t++;
          try {
            if (release) reps[who]!.allocs.release('p', `s${sub}`); else reps[who]!.allocs.allocate('p', `s${sub}`);
          } catch { /* exhausted is fine */ }
        }
        healed = true;
        for (let round = 0; round < 8; round++) {
          const msgs = reps.flatMap((r) => r.outbox.splice(0).map((m) => ({ from: r.id, ...m })));
          reps.forEach((r, k) => deliver(msgs, k, r));
          await new Promise((res) => setImmediate(res));
          for (const r of reps) r.allocs.recheck();
          if (msgs.length === 0 && reps.every((r) => r.outbox.length === 0)) break;
        }
        expect(new Set(reps.map((r) => r.store.contentHash())).size).toBe(1);
        for (const r of reps) {
          const list = r.allocs.list('p', 1000);
          expect(r.allocs.duplicates()).toEqual([]);
          expect(new Set(list.map((a) => a.i)).size).toBe(list.length);
          expect(r.allocs.utilisation('p').allocated).toBe(list.length);
          // A held unit is never offered to anyone else.
          const fresh = r.allocs.allocate('p', 'newcomer');
          expect(list.some((a) => a.i === fresh.i)).toBe(false);
        }
        for (const r of reps) r.store.close();
        stores.splice(0);
      },
    ), { numRuns: 40 });
  });
});

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
        for (const r of reps) r.store.close();
        stores.splice(0);
      },
    ), { numRuns: 40 });
  });
});

/**
 * Wire and storage formats: a full sync sent in parts (stateFrames) integrates part by part to the
 * same state as one SyncStep2; the stored subscriber layers (format 2, and format 1 still read).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import { decodeFrame, readSyncMessage, stateFrames, stateUpdates } from '../src/protocol.js';
import { decodePhysical, decodeService, encodePhysical, encodeService, serviceIspco } from '../src/model.js';

/** Three replicas editing two maps, syncing now and then: documents with interleaved clients. */
function histories(ops: Array<[number, number, number, boolean]>, syncs: Array<[number, number]>): Y.Doc[] {
  const reps = [0, 1, 2].map(() => new Y.Doc());
  ops.forEach(([who, key, len, del], i) => {
    const m = reps[who]!.getMap(key % 2 === 0 ? 'a' : 'b');
    if (del) m.delete(`k${key}`); else m.set(`k${key}`, `v${i}-${'x'.repeat(len)}`);
    const s = syncs[i % syncs.length];
    if (s && i % 3 === 0) Y.applyUpdate(reps[s[1]]!, Y.encodeStateAsUpdate(reps[s[0]]!, Y.encodeStateVector(reps[s[1]]!)));
  });
  return reps;
}

const content = (d: Y.Doc) => ({ a: d.getMap('a').toJSON(), b: d.getMap('b').toJSON() });

describe('a full sync in parts', () => {
  it('integrates completely part by part and ends in the same state as one SyncStep2', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(2), fc.nat(30), fc.nat(40), fc.boolean()), { minLength: 1, maxLength: 200 }),
      fc.array(fc.tuple(fc.nat(2), fc.nat(2)), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 40, max: 2000 }),
      fc.boolean(),
      (ops, syncs, maxBytes, partial) => {
        const reps = histories(ops, syncs);
        for (const src of reps) {
          const dst = new Y.Doc();
          if (partial) Y.applyUpdate(dst, Y.encodeStateAsUpdate(reps[(reps.indexOf(src) + 1) % 3]!));
          const ref = new Y.Doc();
          Y.applyUpdate(ref, Y.encodeStateAsUpdate(dst));
          Y.applyUpdate(ref, Y.encodeStateAsUpdate(src, Y.encodeStateVector(ref)));
          const next = stateFrames('pool:p', src, Y.encodeStateVector(dst), maxBytes);
          let previous: Uint8Array | undefined;
          for (let frame = next(); frame; frame = next()) {
            const msg = decodeFrame(frame);
            if (msg.type !== 'sync') throw new Error('not a sync frame');
            expect(msg.doc).toBe('pool:p');
            const sync = readSyncMessage(msg.decoder);
            if (sync.kind !== 'update') throw new Error('not an update');
            expect(decoding.hasContent(msg.decoder)).toBe(false); // the padded length covers the update exactly
            Y.applyUpdate(dst, sync.update);
            // Nothing waits for a struct that comes later.
            expect(dst.store.pendingStructs).toBeNull();
            expect(dst.store.pendingDs).toBeNull();
            previous = frame;
          }
          expect(previous).toBeDefined();
          expect(content(dst)).toEqual(content(ref));
          expect(Y.equalSnapshots(Y.snapshot(dst), Y.snapshot(ref))).toBe(true);
        }
      },
    ), { numRuns: 60 });
  });

  it('keeps parts near the size asked for, in one reused buffer', () => {
    const doc = new Y.Doc();
    const m = doc.getMap<string>('alloc');
    doc.transact(() => { for (let i = 0; i < 20_000; i++) m.set(`sub-${i}`, `${i}|1795276513495|node-a`); });
    const buffer = {};
    const next = stateFrames('pool:p', doc, undefined, 64 * 1024, buffer);
    const sizes: number[] = [];
    const seen = new Set<ArrayBufferLike>();
    const copy = new Y.Doc();
    for (let frame = next(); frame; frame = next()) {
      sizes.push(frame.length);
      seen.add(frame.buffer);
      const msg = decodeFrame(frame);
      if (msg.type !== 'sync') throw new Error('not a sync frame');
      const sync = readSyncMessage(msg.decoder);
      if (sync.kind === 'update') Y.applyUpdate(copy, sync.update);
    }
    expect(copy.getMap('alloc').toJSON()).toEqual(m.toJSON());
    expect(sizes.length).toBeGreaterThan(10);
    expect(Math.max(...sizes.slice(0, -1))).toBeLessThan(64 * 1024 + 200);
    // Every struct part shares one buffer; only the last part (the delete set) is separate.
    expect(seen.size).toBe(2);
  });

  it('writes the snapshot parts that restore the document', () => {
    const reps = histories([[0, 1, 5, false], [1, 2, 50, false], [2, 1, 3, false], [0, 2, 0, true], [1, 3, 9, false]], [[0, 1], [1, 2], [2, 0]]);
    const src = reps[1]!;
    const next = stateUpdates(src, 60);
    const copy = new Y.Doc();
    for (let u = next(); u; u = next()) Y.applyUpdate(copy, u.slice());
    expect(content(copy)).toEqual(content(src));
    expect(Y.equalSnapshots(Y.snapshot(copy), Y.snapshot(src))).toBe(true);
    // An empty document is one (empty) update: its record keeps the document's existence.
    const empty = stateUpdates(new Y.Doc(), 60);
    expect(empty()).toBeInstanceOf(Uint8Array);
    expect(empty()).toBeUndefined();
  });
});

describe('stored subscriber layers', () => {
  it('round-trips format 2 and still reads format 1', () => {
    const ph = { id: 's1', nte_id: 'NTE-1', device_id: 'olt1', netco_id: 'nc', created_at: 1795276513495 };
    expect(encodePhysical(ph)).toBe('[1795276513495,"NTE-1","olt1","nc"]');
    expect(decodePhysical('s1', encodePhysical(ph))).toEqual(ph);
    const withVlan = { ...ph, vlan: '100:200' };
    expect(decodePhysical('s1', encodePhysical(withVlan))).toEqual(withVlan);
    expect(decodePhysical('s1', JSON.stringify({ nte_id: 'NTE-1', device_id: 'olt1', netco_id: 'nc', created_at: 1795276513495 }))).toEqual(ph);

    const sv = { ispco_id: 'isp', radius_realm: '@isp.example', service_tier: 'home-1g', qos_policy: 'gold', updated_at: 1795276513495 };
    expect(encodeService(sv)).toBe('[1795276513495,"isp","@isp.example","home-1g","gold"]');
    expect(decodeService(encodeService(sv))).toEqual(sv);
    const sparse = { service_tier: 'tier "quoted"', mac: 'aa:bb:cc:dd:ee:ff', updated_at: 5 };
    expect(decodeService(encodeService(sparse))).toEqual(sparse);
    expect(decodeService(JSON.stringify(sv))).toEqual(sv);

    expect(serviceIspco(encodeService(sv))).toBe('isp');
    expect(serviceIspco(encodeService(sparse))).toBeUndefined();
    expect(serviceIspco(encodeService({ updated_at: 1 }))).toBeUndefined();
    expect(serviceIspco(JSON.stringify(sv))).toBe('isp');
    expect(serviceIspco(JSON.stringify({ updated_at: 1, ispco_id: 'other' }))).toBe('other');
  });
});

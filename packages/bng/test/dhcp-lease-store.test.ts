import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LeaseState,
  crc32,
  crc32Js,
  createMemoryLeaseStore,
  openLeaseJournal,
  type LeaseRecord,
} from '../src/dhcp/index.js';
import { MessageType, baseConfig, clientMessage, dora, harness, meta, sent } from './dhcp-helpers.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bng-lease-journal-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** resolves once no background rewrite runs */
const idle = async (j: { readonly rewriting: boolean }): Promise<void> => {
  while (j.rewriting) await new Promise((r) => setTimeout(r, 1));
};

/** the journal's entries as text, without the zeros preallocated after them */
const entriesText = (path: string): string => readFileSync(path, 'utf8').replace(/\0+$/, '');

const lease = (ip: string, over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  ip,
  clientKey: `hw:1:${ip}`,
  mac: '02:00:00:00:00:01',
  pool: 'p',
  state: LeaseState.BOUND,
  expiresAtMs: 5000,
  updatedAtMs: 1000,
  ...over,
});

describe('memory lease store', () => {
  it('dueBy returns exactly the timed records due, in expiry order, through any sequence of changes', () => {
    const states = [LeaseState.BOUND, LeaseState.OFFERED, LeaseState.DECLINED, LeaseState.EXPIRED, LeaseState.RELEASED];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const s = createMemoryLeaseStore();
    for (let step = 0; step < 20_000; step++) {
      const ip = `10.0.${rnd(4)}.${rnd(50)}`;
      const op = rnd(10);
      if (op < 6) s.put(lease(ip, { state: states[rnd(states.length)]!, expiresAtMs: rnd(1000) }));
      else if (op < 8) s.delete(ip);
      else {
        const at = rnd(1000);
        const want = [...s.all()]
          .filter((r) => r.expiresAtMs <= at && ['bound', 'offered', 'declined'].includes(r.state))
          .map((r) => r.ip)
          .sort();
        const got = s.dueBy(at);
        expect(got.map((r) => r.ip).sort()).toEqual(want);
        for (let i = 1; i < got.length; i++) expect(got[i]!.expiresAtMs).toBeGreaterThanOrEqual(got[i - 1]!.expiresAtMs);
      }
    }
  });

  it('indexes by address and by client; a client key follows its latest record', () => {
    const s = createMemoryLeaseStore();
    s.put(lease('10.0.0.1', { clientKey: 'a' }));
    s.put(lease('10.0.0.2', { clientKey: 'a' }));
    expect(s.findByClient('a')!.ip).toBe('10.0.0.2');
    expect(s.get('10.0.0.1')!.clientKey).toBe('a');
    // the address moves to another client: 'a' still finds its latest
    s.put(lease('10.0.0.1', { clientKey: 'b' }));
    expect(s.findByClient('a')!.ip).toBe('10.0.0.2');
    expect(s.findByClient('b')!.ip).toBe('10.0.0.1');
    s.delete('10.0.0.2');
    expect(s.findByClient('a')).toBeUndefined();
    expect(s.size).toBe(1);
    // unowned records (quarantine) are not indexed by client
    s.put(lease('10.0.0.3', { clientKey: '', state: LeaseState.DECLINED }));
    expect(s.findByClient('')).toBeUndefined();
    expect([...s.all()].map((r) => r.ip).sort()).toEqual(['10.0.0.1', '10.0.0.3']);
  });
});

describe('lease journal', () => {
  it('CRC-32 check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32Js(Buffer.from('123456789'))).toBe(0xcbf43926);
    // the native and the table CRC agree on every length and content
    for (let n = 0; n < 300; n += 7) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + n) & 255));
      expect(crc32(b)).toBe(crc32Js(b));
    }
  });

  it('a binding ACKed before a crash is there after restart; offers are not written', () => {
    const path = join(dir, 'leases.journal');
    const j1 = openLeaseJournal(path);
    const h1 = harness(baseConfig, createMemoryLeaseStore({ journal: j1 }));
    const ack = dora(h1);
    sent(h1.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:02' }), meta(), h1.now.ms));
    expect(j1.entries).toBe(1);
    // no close(): a crash does not close files
    const j2 = openLeaseJournal(path);
    expect(j2.truncatedBytes).toBe(0);
    const store = createMemoryLeaseStore({ journal: j2 });
    expect(store.size).toBe(1);
    expect(store.get(ack.message.yiaddr)).toMatchObject({ state: 'bound', mac: '02:00:00:00:00:01' });
    // the restarted server renews it
    const h2 = harness(baseConfig, store);
    h2.now.ms = h1.now.ms + 1000;
    const renew = h2.server.handle(clientMessage(MessageType.DHCPREQUEST, { ciaddr: ack.message.yiaddr }), meta({ dstIp: '10.0.1.1' }), h2.now.ms);
    expect(renew.map((a) => a.type)).toEqual(['bind', 'send']);
    j1.close();
    j2.close();
  });

  it('release and delete are durable too', () => {
    const path = join(dir, 'l.journal');
    const j = openLeaseJournal(path);
    const s = createMemoryLeaseStore({ journal: j });
    s.put(lease('10.0.0.1'));
    s.put(lease('10.0.0.2'));
    s.put(lease('10.0.0.1', { state: LeaseState.RELEASED }));
    s.delete('10.0.0.2');
    j.close();
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    expect([...again.all()]).toEqual([lease('10.0.0.1', { state: LeaseState.RELEASED })]);
  });

  it('a torn tail is cut at the last good entry, and appending continues', () => {
    const path = join(dir, 'l.journal');
    const j = openLeaseJournal(path);
    const s = createMemoryLeaseStore({ journal: j });
    s.put(lease('10.0.0.1'));
    s.put(lease('10.0.0.2'));
    j.close();
    const goodSize = statSync(path).size;
    const torn = '1234abcd {"op":"put","lease":{"ip":"10.0.0';
    appendFileSync(path, torn);
    const j2 = openLeaseJournal(path);
    expect(j2.truncatedBytes).toBe(torn.length);
    expect(statSync(path).size).toBe(goodSize);
    const s2 = createMemoryLeaseStore({ journal: j2 });
    expect(s2.size).toBe(2);
    s2.put(lease('10.0.0.3'));
    j2.close();
    expect(createMemoryLeaseStore({ journal: openLeaseJournal(path) }).size).toBe(3);
  });

  it('a line with a bad checksum ends the trusted part', () => {
    const path = join(dir, 'l.journal');
    const j = openLeaseJournal(path);
    const s = createMemoryLeaseStore({ journal: j });
    s.put(lease('10.0.0.1'));
    s.put(lease('10.0.0.2'));
    j.close();
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    lines[1] = lines[1]!.replace('10.0.0.2', '10.0.0.9'); // payload changed, CRC not
    writeFileSync(path, lines.join('\n'));
    const j2 = openLeaseJournal(path);
    expect(j2.truncatedBytes).toBeGreaterThan(0);
    expect([...createMemoryLeaseStore({ journal: j2 }).all()].map((r) => r.ip)).toEqual(['10.0.0.1']);
    j2.close();
  });

  it('a crash at any byte leaves a readable prefix of the history', () => {
    const path = join(dir, 'l.journal');
    const j = openLeaseJournal(path, { fsync: false });
    const s = createMemoryLeaseStore({ journal: j });
    for (let i = 1; i <= 4; i++) s.put(lease(`10.0.0.${i}`));
    s.delete('10.0.0.2');
    j.close();
    const full = readFileSync(path);
    const ends = [0];
    for (let k = 0; k < full.length; k++) if (full[k] === 0x0a) ends.push(k + 1);
    for (let cut = 0; cut <= full.length; cut++) {
      writeFileSync(path, full.subarray(0, cut));
      const jc = openLeaseJournal(path, { fsync: false });
      const complete = ends.filter((e) => e <= cut).length - 1;
      expect(jc.entries).toBe(complete);
      expect(statSync(path).size).toBe(ends[complete]);
      createMemoryLeaseStore({ journal: jc });
      jc.close();
    }
  });

  it('compaction rewrites the live records (in the background once the slack is used up) and keeps the state', async () => {
    const path = join(dir, 'l.journal');
    const j = openLeaseJournal(path);
    const s = createMemoryLeaseStore({ journal: j, compactSlack: 10 });
    let rewrites = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 1; i <= 3; i++) s.put(lease(`10.0.0.${i}`, { updatedAtMs: round }));
      if (j.rewriting) rewrites++;
      await idle(j);
    }
    // 60 puts, 3 live records: the file was rewritten on the way
    expect(rewrites).toBeGreaterThan(0);
    expect(j.entries).toBeLessThanOrEqual(2 * 3 + 10 + 3);
    s.put(lease('10.0.0.9', { state: LeaseState.OFFERED }));
    s.compact();
    expect(j.entries).toBe(3); // offers are not written
    s.put(lease('10.0.0.4'));
    j.close();
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    expect([...again.all()].map((r) => [r.ip, r.updatedAtMs]).sort()).toEqual([
      ['10.0.0.1', 19],
      ['10.0.0.2', 19],
      ['10.0.0.3', 19],
      ['10.0.0.4', 1000],
    ]);
  });

  it('a background rewrite takes many turns, keeps every change made meanwhile, and a crash at any turn loses nothing', async () => {
    const path = join(dir, 'bg.journal');
    const j = openLeaseJournal(path, { groupCommit: true });
    const s = createMemoryLeaseStore({ journal: j });
    const ip = (i: number): string => `10.1.${i >> 8}.${i & 255}`;
    for (let i = 0; i < 3000; i++) s.put(lease(ip(i)));
    j.flush();
    let finished: Error | undefined | 'pending' = 'pending';
    j.rewriteInBackground([...s.all()], (err) => (finished = err));
    expect(j.rewriting).toBe(true);
    let turns = 0;
    let n = 3000;
    while (j.rewriting) {
      // changes between slices: new leases, releases, deletes, each committed like the daemon's
      s.put(lease(ip(n++)));
      s.put(lease(ip(turns), { state: LeaseState.RELEASED }));
      s.delete(ip(2999 - turns));
      j.flush();
      // what a crash now would leave: the old journal, complete
      const copy = join(dir, `crash-${turns}.journal`);
      writeFileSync(copy, readFileSync(path));
      const crashed = createMemoryLeaseStore({ journal: openLeaseJournal(copy, { fsync: false }) });
      expect(crashed.size).toBe(s.size);
      turns++;
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(finished).toBeUndefined();
    expect(turns).toBeGreaterThan(5); // 3,000 records in slices, not in one piece
    expect(j.entries).toBe(3000 + 3 * turns); // the snapshot, then every change made after it began
    expect(j.durable).toBe(j.appended);
    s.put(lease('10.9.9.9'));
    j.close();
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    const want = [...s.all()].map((r) => [r.ip, r.state]).sort();
    expect([...again.all()].map((r) => [r.ip, r.state]).sort()).toEqual(want);
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  it('closing during a background rewrite keeps the old journal and removes the half-written one', async () => {
    const path = join(dir, 'bg-close.journal');
    const j = openLeaseJournal(path);
    const s = createMemoryLeaseStore({ journal: j });
    for (let i = 0; i < 2000; i++) s.put(lease(`10.2.${i >> 8}.${i & 255}`));
    let result: Error | undefined | 'pending' = 'pending';
    j.rewriteInBackground([...s.all()], (err) => (result = err));
    await new Promise((r) => setImmediate(r));
    expect(j.rewriting).toBe(true);
    s.put(lease('10.3.0.1'));
    j.close();
    expect(j.rewriting).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(result).toBe('pending'); // abandoned, never installed
    expect(existsSync(`${path}.tmp`)).toBe(false);
    expect(createMemoryLeaseStore({ journal: openLeaseJournal(path) }).size).toBe(2001);
  });

  it('group commit: appends wait for flush, which writes the whole batch at once; close flushes', () => {
    const path = join(dir, 'group.journal');
    const j = openLeaseJournal(path, { groupCommit: true });
    const store = createMemoryLeaseStore({ journal: j });
    store.put(lease('10.0.0.1'));
    store.put(lease('10.0.0.2'));
    expect(j.pending).toBe(2);
    expect(statSync(path).size).toBe(0); // nothing is durable yet: the daemon withholds the ACKs
    j.flush();
    expect(j.pending).toBe(0);
    const size = entriesText(path).length;
    expect(entriesText(path).trim().split('\n')).toHaveLength(2);
    store.delete('10.0.0.1');
    j.close();
    expect(statSync(path).size).toBeGreaterThan(size);
    expect(entriesText(path).length).toBe(statSync(path).size); // at rest: no zeros
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    expect([...again.all()].map((r) => r.ip)).toEqual(['10.0.0.2']);
  });

  it('group commit: compaction drops the queue, the snapshot already holds it', () => {
    const path = join(dir, 'group-compact.journal');
    const j = openLeaseJournal(path, { groupCommit: true });
    const store = createMemoryLeaseStore({ journal: j });
    store.put(lease('10.0.0.1'));
    store.put(lease('10.0.0.3'));
    store.compact();
    expect(j.pending).toBe(0);
    j.close();
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    expect([...again.all()].map((r) => r.ip).sort()).toEqual(['10.0.0.1', '10.0.0.3']);
  });

  it('pipelined commit: written at once, durable after the asynchronous sync; appends during a sync ride on the next', async () => {
    const path = join(dir, 'pipelined.journal');
    const j = openLeaseJournal(path, { groupCommit: true });
    const seen: number[] = [];
    let next: (() => void) | undefined;
    j.onDurable((d, err) => {
      expect(err).toBeUndefined();
      seen.push(d);
      next?.();
    });
    const store = createMemoryLeaseStore({ journal: j });
    store.put(lease('10.0.0.1'));
    store.put(lease('10.0.0.2'));
    const first = j.commit();
    expect(first).toBe(2);
    // in the file (survives the process being killed) before the sync ends
    expect(entriesText(path).trim().split('\n')).toHaveLength(2);
    expect(j.durable).toBe(0);
    expect(j.syncing).toBe(true);
    // decided while the first sync runs: written now, synced by the next one
    store.put(lease('10.0.0.3'));
    const second = j.commit();
    expect(second).toBe(3);
    expect(j.durable).toBeLessThan(second);
    await new Promise<void>((resolve) => {
      next = () => {
        if (j.durable >= second) resolve();
      };
    });
    expect(seen.at(-1)).toBe(3);
    expect(seen[0]).toBe(2); // the first sync covered only what was written before it began
    expect(j.syncing).toBe(false);
    // a commit with nothing new starts no sync
    j.commit();
    expect(j.syncing).toBe(false);
    store.delete('10.0.0.2');
    j.commit();
    // close while a sync is in flight: flushed synchronously, nothing lost, order kept
    j.close();
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    expect([...again.all()].map((r) => r.ip).sort()).toEqual(['10.0.0.1', '10.0.0.3']);
  });

  it('without fsync (dhcp.journalFsync false): a commit is durable once written, and a process that never closed it loses nothing', () => {
    const path = join(dir, 'nofsync.journal');
    const j = openLeaseJournal(path, { groupCommit: true, fsync: false });
    const released: number[] = [];
    j.onDurable((d) => released.push(d));
    const store = createMemoryLeaseStore({ journal: j });
    store.put(lease('10.0.0.1'));
    store.put(lease('10.0.0.2'));
    expect(j.durable).toBe(0); // queued, not written: its ACK must wait
    const seq = j.commit();
    // the ACKs go at once: written to the file (the page cache outlives a killed process)
    expect(j.durable).toBe(seq);
    expect(j.syncing).toBe(false);
    expect(released).toEqual([2]);
    // what a restart after kill -9 reads: the journal was never closed nor synced
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(join(dir, 'nofsync.journal'), { fsync: false }) });
    expect([...again.all()].map((r) => r.ip).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    j.close();
  });

  it('pipelined commit: compaction while a sync is in flight makes everything durable and keeps appending to the new file', async () => {
    const path = join(dir, 'pipelined-compact.journal');
    const j = openLeaseJournal(path, { groupCommit: true });
    const store = createMemoryLeaseStore({ journal: j });
    store.put(lease('10.0.0.1'));
    j.commit();
    expect(j.syncing).toBe(true);
    store.put(lease('10.0.0.2'));
    store.compact();
    expect(j.durable).toBe(j.appended);
    store.put(lease('10.0.0.4'));
    const seq = j.commit();
    await new Promise<void>((resolve) => j.onDurable((d) => d >= seq && resolve()));
    j.close();
    const again = createMemoryLeaseStore({ journal: openLeaseJournal(path) });
    expect([...again.all()].map((r) => r.ip).sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.4']);
  });

  it('preallocation: entries overwrite zeros kept ahead of them; a crash leaves the zeros, read as the end', () => {
    const path = join(dir, 'prealloc.journal');
    const piece = 1024;
    const j = openLeaseJournal(path, { preallocate: piece });
    const store = createMemoryLeaseStore({ journal: j });
    let live = 0;
    for (let i = 0; i < 300; i++) {
      store.put(lease(`10.0.${i >> 8}.${i & 255}`, { updatedAtMs: i }));
      // what a kill -9 (or power cut after the sync) leaves: entries, then at least half a piece of zeros
      const bytes = readFileSync(path);
      const text = entriesText(path);
      expect(bytes.length - Buffer.byteLength(text)).toBeGreaterThanOrEqual(piece / 2);
      expect(bytes.length % piece).toBe(0); // grown in whole pieces, never appended to
      expect(bytes.subarray(Buffer.byteLength(text)).every((b) => b === 0)).toBe(true);
      live = i + 1;
    }
    const copy = join(dir, 'crashed.journal');
    writeFileSync(copy, readFileSync(path));
    const crashed = openLeaseJournal(copy, { preallocate: piece });
    expect(crashed.truncatedBytes).toBe(0);
    expect(crashed.entries).toBe(live);
    const reopened = createMemoryLeaseStore({ journal: crashed });
    expect(reopened.size).toBe(live);
    // appending continues where the entries end, over the zeros
    reopened.put(lease('10.9.9.9'));
    crashed.close();
    expect(createMemoryLeaseStore({ journal: openLeaseJournal(copy) }).size).toBe(live + 1);
    j.close();
    expect(readFileSync(path).includes(0)).toBe(false);
  });

  it('preallocation: a write torn over the zeros is cut, the zeros after it are not counted', () => {
    const path = join(dir, 'torn-prealloc.journal');
    const j = openLeaseJournal(path, { preallocate: 4096 });
    const s = createMemoryLeaseStore({ journal: j });
    s.put(lease('10.0.0.1'));
    s.put(lease('10.0.0.2'));
    // the process dies while writing a third entry: part of it landed over the zeros
    const end = Buffer.byteLength(entriesText(path));
    const torn = Buffer.from('1234abcd {"op":"put","lease":{"ip":"10.0.0');
    const bytes = readFileSync(path);
    j.close(); // (cuts the zeros; the copy taken before stands for the crashed file)
    torn.copy(bytes, end);
    writeFileSync(path, bytes);
    const j2 = openLeaseJournal(path, { preallocate: 4096 });
    expect(j2.truncatedBytes).toBe(torn.length);
    const s2 = createMemoryLeaseStore({ journal: j2 });
    expect(s2.size).toBe(2);
    s2.put(lease('10.0.0.3'));
    j2.close();
    expect(entriesText(path).trim().split('\n')).toHaveLength(3);
    expect(createMemoryLeaseStore({ journal: openLeaseJournal(path) }).size).toBe(3);
  });

  it('preallocation: a compacted journal is preallocated too, and appends go after the snapshot', () => {
    const path = join(dir, 'compact-prealloc.journal');
    const j = openLeaseJournal(path, { preallocate: 2048, groupCommit: true });
    const s = createMemoryLeaseStore({ journal: j });
    for (let i = 0; i < 10; i++) s.put(lease('10.0.0.1', { updatedAtMs: i }));
    j.flush();
    s.compact();
    expect(entriesText(path).trim().split('\n')).toHaveLength(1);
    expect(readFileSync(path).length - Buffer.byteLength(entriesText(path))).toBe(2048);
    s.put(lease('10.0.0.2'));
    j.flush();
    expect(entriesText(path).trim().split('\n')).toHaveLength(2);
    const copy = join(dir, 'compact-crashed.journal');
    writeFileSync(copy, readFileSync(path));
    expect(createMemoryLeaseStore({ journal: openLeaseJournal(copy) }).size).toBe(2);
    j.close();
  });

  it('a closed journal refuses writes', () => {
    const j = openLeaseJournal(join(dir, 'sub', 'l.journal'));
    j.close();
    expect(() => j.append({ op: 'delete', ip: '10.0.0.1' })).toThrow(/closed/);
  });
});

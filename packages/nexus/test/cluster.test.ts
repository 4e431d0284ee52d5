/**
 * Three real `nexus serve` processes on loopback replicating over WebSocket: kill one, partition
 * one (it drops its peer connections), write on both sides, heal, and check that every replica
 * holds identical state with no address held twice, then restart all of them from disk.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { blockOwners, poolGeometry, subscriberOwner } from '../src/allocator.js';
import { ADMIN, CLI, call, freePorts, killProc, spawnNexus, tempDir, waitFor, type Proc } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const IDS = ['node-a', 'node-b', 'node-c'] as const;
let ports: number[] = [];
let dirs: string[] = [];
const procs: Array<Proc | undefined> = [undefined, undefined, undefined];
const T: Record<string, string> = {};

const start = async (i: number) => {
  procs[i] = await spawnNexus({ dir: dirs[i]!, port: ports[i]!, nodeId: IDS[i]!, peers: ports.filter((_, j) => j !== i) });
  return procs[i]!;
};
const node = (i: number) => procs[i]!;
const admin = (i: number, method: string, p: string, body?: unknown) => call(node(i).base, method, p, { token: ADMIN, body });
const as = (i: number, who: string, method: string, p: string, body?: unknown) => call(node(i).base, method, p, { token: T[who], body });
const state = async (i: number) => (await admin(i, 'GET', '/api/v1/admin/state')).body as { hash: string; digest: string; duplicates: unknown[]; live: string[]; subscribers: number };
const setReplication = (i: number, enabled: boolean) => admin(i, 'PUT', '/api/v1/admin/replication', { enabled });

async function converged(which: number[], expectLive = which.length) {
  return waitFor(`replicas ${which.join(',')} to converge`, async () => {
    const states = await Promise.all(which.map(state));
    const same = states.every((s) => s.hash === states[0]!.hash && s.digest === states[0]!.digest);
    const clean = states.every((s) => s.duplicates.length === 0 && s.live.length === expectLive);
    return same && clean ? states : false;
  }, 20_000);
}

async function claim(i: number, isp: string, sub: string, device = 'olt1') {
  const c = await as(i, 'nc', 'POST', '/api/v1/subscribers', { id: sub, nte_id: `NTE-${sub}`, device_id: device });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const r = await as(i, isp, 'PATCH', `/api/v1/subscribers/${sub}`, { ispco_id: isp, nte_id: `NTE-${sub}` });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { ipv4?: string };
}

async function allAddresses(i: number, pool: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let after: string | undefined;
  for (;;) {
    const r = await admin(i, 'GET', `/api/v1/pools/${pool}/allocations?limit=1000${after ? `&after=${after}` : ''}`);
    for (const a of r.body.items as Array<{ subscriber_id: string; a: string }>) out.set(a.subscriber_id, a.a);
    if (r.body.items.length < 1000) return out;
    after = r.body.items[r.body.items.length - 1].subscriber_id;
  }
}

beforeAll(async () => {
  // The processes run the built CLI: build it from the sources under test.
  execFileSync('npx', ['tsc', '-b', 'packages/nexus'], { cwd: ROOT, stdio: 'pipe' });
  ports = await freePorts(3);
  dirs = IDS.map((id) => tempDir(`nexus-${id}-`));
  await Promise.all([0, 1, 2].map(start));
  await converged([0, 1, 2]);
  const ok = (r: { status: number; body: any }) => { expect(r.status, JSON.stringify(r.body)).toBeLessThan(300); return r.body; };
  T['nc'] = ok(await admin(0, 'POST', '/api/v1/netcos', { id: 'nc', name: 'NetCo' })).token;
  const isp = (id: string) => ({ id, name: id, radius: { servers: ['192.0.2.1:1812'], realm: `@${id}.example` } });
  T['ispa'] = ok(await admin(1, 'POST', '/api/v1/ispcos', isp('ispa'))).token;
  T['ispb'] = ok(await admin(2, 'POST', '/api/v1/ispcos', isp('ispb'))).token;
  T['ispt'] = ok(await admin(0, 'POST', '/api/v1/ispcos', isp('ispt'))).token;
  await converged([0, 1, 2]);
  ok(await as(0, 'ispa', 'POST', '/api/v1/pools', { id: 'a-v4', type: 'ipv4', cidr: '100.64.0.0/20', block_size: 16 }));
  ok(await as(1, 'ispa', 'POST', '/api/v1/pools', { id: 'a-v6', type: 'ipv6', prefix: '2001:db8:a00::/40', delegated_length: 56 }));
  ok(await as(2, 'ispb', 'POST', '/api/v1/pools', { id: 'b-v4', type: 'ipv4', cidr: '100.65.0.0/20' }));
  // A tight pool makes concurrent allocations on both sides of a partition collide.
  ok(await as(0, 'ispt', 'POST', '/api/v1/pools', { id: 't-v4', type: 'ipv4', cidr: '100.66.0.0/25', block_size: 8 }));
  ok(await as(0, 'nc', 'POST', '/api/v1/devices', { id: 'olt1', serial: 'SN1' }));
  await converged([0, 1, 2]);
}, 120_000);

afterAll(async () => {
  for (const p of procs) if (p?.stderr.length) console.error(`[${p.nodeId} stderr]`, p.stderr.join('').slice(-3000));
  for (const p of procs) if (p) await killProc(p);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('three-replica cluster', () => {
  it('writes on any replica reach all of them', async () => {
    const addrs: string[] = [];
    for (let k = 0; k < 30; k++) addrs.push((await claim(k % 3, 'ispa', `w${k}`)).ipv4!);
    expect(new Set(addrs).size).toBe(30);
    await converged([0, 1, 2]);
    // RTT appears after the first ping round trip (replication.ping_ms).
    const metrics = await waitFor('replication metrics', async () => {
      const m = (await call(node(0).base, 'GET', '/metrics')).body as string;
      return /^nexus_replication_rtt_seconds\{peer="node-b"\} /m.test(m) ? m : false;
    });
    expect(metrics).toMatch(/^nexus_live_allocators 3$/m);
    for (const i of [0, 1, 2]) {
      const r = await as(i, 'ispa', 'GET', '/api/v1/subscribers/w7');
      expect(r.body.ipv4).toBe(addrs[7]);
    }
  });

  it('kill one: ownership moves to the survivors, the dead one catches up on restart', async () => {
    await killProc(node(2));
    await waitFor('survivors to drop node-c', async () => (await state(0)).live.length === 2 && (await state(1)).live.length === 2);
    const geom = poolGeometry({ id: 'a-v4', type: 'ipv4', cidr: '100.64.0.0/20', block_size: 16 }, 64);
    const live = ['node-a', 'node-b'];
    const owners = blockOwners(geom, live);
    for (let k = 0; k < 20; k++) {
      const sub = `k${k}`;
      const ip = (await claim(k % 2, 'ispa', sub)).ipv4!;
      const idx = geom.parse(ip)!;
      // Allocated inside the blocks its (surviving) owner holds once node-c is gone.
      expect(owners[Math.floor(idx / geom.blockSize)]).toBe(subscriberOwner(sub, live));
    }
    await converged([0, 1]);
    await start(2);
    const states = await converged([0, 1, 2]);
    expect(states[2]!.subscribers).toBe(50);
  });

  it('partition: both sides accept writes; on heal they converge with no address held twice', async () => {
    await setReplication(2, false);
    await waitFor('partition', async () => (await state(0)).live.length === 2 && (await state(2)).live.length === 1);
    const sideC: Record<string, string> = {};
    const sideAB: Record<string, string> = {};
    for (let k = 0; k < 40; k++) sideC[`pc${k}`] = (await claim(2, 'ispt', `pc${k}`)).ipv4!;
    for (let k = 0; k < 40; k++) sideAB[`pab${k}`] = (await claim(k % 2, 'ispt', `pab${k}`)).ipv4!;
    // Concurrent edits of different fields of one record, and pools created on both sides.
    expect((await as(0, 'nc', 'PATCH', '/api/v1/devices/olt1', { config: { pon_ports: 16 } })).status).toBe(200);
    expect((await as(2, 'nc', 'PATCH', '/api/v1/devices/olt1', { model: 'olt-x' })).status).toBe(200);
    expect((await as(0, 'ispb', 'POST', '/api/v1/pools', { id: 'b-extra-1', type: 'ipv4', cidr: '100.67.0.0/24' })).status).toBe(201);
    expect((await as(2, 'ispb', 'POST', '/api/v1/pools', { id: 'b-extra-2', type: 'ipv4', cidr: '100.67.1.0/24' })).status).toBe(201);
    const overlap = Object.values(sideC).filter((a) => Object.values(sideAB).includes(a));
    expect(overlap.length).toBeGreaterThan(0); // the scenario really produced conflicts
    await setReplication(2, true);
    await converged([0, 1, 2]);
    for (const i of [0, 1, 2]) {
      expect((await as(i, 'nc', 'GET', '/api/v1/devices/olt1')).body).toMatchObject({ config: { pon_ports: 16 }, model: 'olt-x' });
      expect((await as(i, 'ispb', 'GET', '/api/v1/ispcos/ispb')).body.pools.ipv4).toEqual(expect.arrayContaining(['b-v4', 'b-extra-1', 'b-extra-2']));
    }
    const final = await allAddresses(0, 't-v4');
    expect(final.size).toBe(80);
    expect(new Set(final.values()).size).toBe(80);
    const events = (await admin(1, 'GET', '/api/v1/events?limit=10000')).body.items as Array<{ type: string; address: string; loser: string; new_address: string }>;
    const conflicts = events.filter((e) => e.type === 'allocation_conflict');
    expect(conflicts.length).toBeGreaterThanOrEqual(overlap.length);
    for (const c of conflicts) expect(final.get(c.loser)).not.toBe(c.address);
  });

  it('property: random operation sequences across partitions converge identically without duplicates', async () => {
    let run = 0;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), node: fc.nat(2), isp: fc.constantFrom('ispa', 'ispb', 'ispt') }),
      fc.record({ kind: fc.constant('release' as const), node: fc.nat(2), pick: fc.nat() }),
      fc.record({ kind: fc.constant('churn' as const), node: fc.nat(2), pick: fc.nat(), isp: fc.constantFrom('ispa', 'ispb', 'ispt') }),
      fc.record({ kind: fc.constant('partition' as const), node: fc.nat(2) }),
      fc.record({ kind: fc.constant('heal' as const), node: fc.nat(2) }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
      run++;
      const created: Array<{ id: string; isp: string }> = [];
      let n = 0;
      for (const o of ops) {
        if (o.kind === 'partition' || o.kind === 'heal') { await setReplication(o.node, o.kind === 'heal'); continue; }
        if (o.kind === 'create') {
          const id = `r${run}-${n++}`;
          await claim(o.node, o.isp, id);
          created.push({ id, isp: o.isp });
          continue;
        }
        if (created.length === 0) continue;
        const target = created[o.pick % created.length]!;
        if (o.kind === 'release') {
          // The replica may not have seen the subscriber yet (partitioned): 403/404 is a valid answer.
          await as(o.node, target.isp, 'DELETE', `/api/v1/subscribers/${target.id}/allocations/${target.isp[3]}-v4`);
        } else {
          const r = await as(o.node, o.isp, 'PATCH', `/api/v1/subscribers/${target.id}`, { ispco_id: o.isp, nte_id: `NTE-${target.id}` });
          if (r.status === 200) target.isp = o.isp;
        }
      }
      for (const i of [0, 1, 2]) await setReplication(i, true);
      await converged([0, 1, 2]);
      for (const pool of ['a-v4', 'b-v4', 't-v4']) {
        const a = await allAddresses(0, pool);
        expect(new Set(a.values()).size).toBe(a.size);
      }
    }), { numRuns: 25, endOnFailure: true });
  });

  it('restart from disk: every replica comes back with everything it had', async () => {
    const before = await converged([0, 1, 2]);
    for (const i of [0, 1, 2]) await killProc(node(i));
    await Promise.all([0, 1, 2].map(start));
    const after = await converged([0, 1, 2]);
    expect(after[0]!.hash).toBe(before[0]!.hash);
    expect(after[0]!.subscribers).toBe(before[0]!.subscribers);
    const audit = (await admin(0, 'GET', '/api/v1/audit?limit=10000')).body.items as Array<{ actor: string; action: string }>;
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'admin', action: 'netco.create' }));
  });
});

describe('durability of single allocations (fsync on, group commit across requests)', () => {
  it('every allocation acknowledged before a SIGKILL is there after the restart, with its audit line', async () => {
    const [port] = await freePorts(1);
    const dir = tempDir('nexus-durable-');
    const args = ['--set', 'persistence.fsync=true'];
    let proc: Proc | undefined = await spawnNexus({ dir, port: port!, nodeId: 'node-d', peers: [], args });
    try {
      const d = (method: string, p: string, body?: unknown) => call(proc!.base, method, p, { token: ADMIN, body });
      const ok = (r: { status: number; body: any }) => { expect(r.status, JSON.stringify(r.body)).toBeLessThan(300); return r.body; };
      ok(await d('POST', '/api/v1/netcos', { id: 'nc', name: 'NetCo' }));
      const isp = ok(await d('POST', '/api/v1/ispcos', { id: 'isp', name: 'isp', radius: { servers: ['192.0.2.1:1812'], realm: '@isp.example' } })).token as string;
      ok(await call(proc.base, 'POST', '/api/v1/pools', { token: isp, body: { id: 'd-v4', type: 'ipv4', cidr: '100.70.0.0/22' } }));
      ok(await d('POST', '/api/v1/devices', { id: 'olt1', serial: 'SN1' }));
      const subs = Array.from({ length: 300 }, (_, k) => `dur${k}`);
      ok(await d('POST', '/api/v1/subscribers/bulk', { subscribers: subs.map((id) => ({ id, nte_id: `N-${id}`, device_id: 'olt1', netco_id: 'nc' })) }));
      const acked = await Promise.all(subs.map(async (id) => [id, ok(await d('POST', `/api/v1/subscribers/${id}/allocations`, { pool_id: 'd-v4' })).address as string] as const));
      await killProc(proc); // at once: nothing gets a chance to write after the last answer
      proc = await spawnNexus({ dir, port: port!, nodeId: 'node-d', peers: [], args });
      const held = new Map((ok(await d('GET', '/api/v1/pools/d-v4/allocations?limit=1000')).items as Array<{ subscriber_id: string; a: string }>).map((x) => [x.subscriber_id, x.a]));
      expect(held).toEqual(new Map(acked));
      const audit = ok(await d('GET', '/api/v1/audit?limit=1000')).items as Array<{ actor: string; action: string; details?: { subscriber_id?: string } }>;
      const created = audit.filter((e) => e.action === 'allocation.create' && e.actor === 'admin').map((e) => e.details?.subscriber_id);
      expect(new Set(created)).toEqual(new Set(subs));
    } finally {
      if (proc) await killProc(proc);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nexus command line', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 20_000 });
  it('a bad setting stops start-up naming the field and the reason', () => {
    const dir = tempDir('nexus-cli-');
    const bad = run(['serve', '--data-dir', dir, '--admin-token', ADMIN, '--port', '70000']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/listen\.port: must be <= 65535/);
    const env = run(['serve', '--data-dir', dir], { NEXUS_AUTH_ADMIN_TOKEN: ADMIN, NEXUS_PERSISTENCE_FSYNC: 'maybe' });
    expect(env.status).toBe(2);
    expect(env.stderr).toMatch(/persistence\.fsync: .*NEXUS_PERSISTENCE_FSYNC.*not true\/false/);
    const missing = run(['serve', '--data-dir', dir]);
    expect(missing.stderr).toMatch(/auth\.admin_token/);
    const peers = run(['serve', '--data-dir', dir, '--admin-token', ADMIN, '--peer', 'ws://127.0.0.1:1/replicate', '--port', '0']);
    expect(peers.status).toBe(1);
    expect(peers.stderr).toMatch(/replication\.secret: required/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('the bin/nexus launcher runs the built CLI', () => {
    const r = spawnSync(path.join(ROOT, 'bin', 'nexus'), ['--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/serve/);
  });
});

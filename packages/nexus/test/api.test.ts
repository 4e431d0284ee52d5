/**
 * API contract: every route's authorisation boundary (driven by the served OpenAPI document),
 * tenant isolation, the physical/service split, churn, bootstrap, quarantine, reservations, the
 * watch stream and 400s that name the field. Runs a real Nexus (HTTP on loopback) in-process.
 */
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { ADMIN, BOOT, call, ManualClock, startInProcess, type Res } from './helpers.js';
import { encodeUpdate as encodeUpdateFrame } from '../src/protocol.js';
import { createWatchClient } from '../src/watch-client.js';
import { decodePhysical } from '../src/model.js';

let srv: Awaited<ReturnType<typeof startInProcess>>;
const clock = new ManualClock();
const T: Record<string, string> = {};
const as = (who: string, method: string, p: string, body?: unknown): Promise<Res> =>
  call(srv.base, method, p, { token: who === 'none' ? undefined : who === 'admin' ? ADMIN : who === 'boot' ? BOOT : T[who], body });

beforeAll(async () => {
  srv = await startInProcess({ 'allocation.quarantine_seconds': 600 }, clock);
  const ok = (r: Res, status = 201) => { expect(r.status, JSON.stringify(r.body)).toBe(status); return r.body; };
  T['nc1'] = ok(await as('admin', 'POST', '/api/v1/netcos', { id: 'nc1', name: 'NetCo One' })).token;
  T['nc2'] = ok(await as('admin', 'POST', '/api/v1/netcos', { id: 'nc2', name: 'NetCo Two' })).token;
  const isp = (id: string) => ({ id, name: id, radius: { servers: ['192.0.2.10:1812'], realm: `@${id}.example`, secret_ref: `vault:${id}` }, qos_policies: { gold: { down_kbps: 500000, up_kbps: 100000 } } });
  T['ispa'] = ok(await as('admin', 'POST', '/api/v1/ispcos', isp('ispa'))).token;
  T['ispb'] = ok(await as('nc1', 'POST', '/api/v1/ispcos', isp('ispb'))).token;
  ok(await as('ispa', 'POST', '/api/v1/pools', { id: 'a-v4', type: 'ipv4', cidr: '100.64.0.0/24', gateway: '100.64.0.1' }));
  ok(await as('ispa', 'POST', '/api/v1/pools', { id: 'a-v6', type: 'ipv6', prefix: '2001:db8:a::/48', delegated_length: 56 }));
  ok(await as('ispb', 'POST', '/api/v1/pools', { id: 'b-v4', type: 'ipv4', cidr: '100.65.0.0/24' }));
  ok(await as('nc1', 'POST', '/api/v1/pools', { id: 'nc1-vlan', type: 'vlan', s_tag: { from: 200, to: 201 }, c_tag: { from: 100, to: 199 } }));
  ok(await as('nc1', 'POST', '/api/v1/devices', { id: 'olt1', serial: 'SN-OLT1' }));
  ok(await as('nc2', 'POST', '/api/v1/devices', { id: 'olt2', serial: 'SN-OLT2' }));
  T['olt1'] = ok(await as('boot', 'POST', '/api/v1/devices/register', { serial: 'SN-OLT1', mac: '02:00:00:00:00:01', model: 'x86-olt' }), 200).token;
  T['olt2'] = ok(await as('boot', 'POST', '/api/v1/devices/register', { serial: 'SN-OLT2', mac: '02:00:00:00:00:02', model: 'x86-olt' }), 200).token;
  ok(await as('nc1', 'POST', '/api/v1/subscribers', { id: 's1', nte_id: 'ADTN-0001', device_id: 'olt1', vlan_pool: 'nc1-vlan' }));
  ok(await as('nc2', 'POST', '/api/v1/subscribers', { id: 's2', nte_id: 'ADTN-0002', device_id: 'olt2', vlan: '300:10' }));
  ok(await as('ispa', 'PATCH', '/api/v1/subscribers/s1', { ispco_id: 'ispa', nte_id: 'ADTN-0001', service_tier: 'premium', qos_policy: 'gold' }), 200);
});
afterAll(async () => { await srv?.stop(); });

describe('authorisation boundaries (every route in the OpenAPI document)', () => {
  const concrete = (p: string) => p.replace('{id}', 's1').replace('{pool}', 'a-v4');
  it('401 without or with a wrong credential, 403 for a principal the route does not allow', async () => {
    const doc = (await as('none', 'GET', '/openapi.json')).body;
    const kinds: Record<string, string> = { admin: 'admin', netco: 'nc1', ispco: 'ispa', device: 'olt1', bootstrap: 'boot' };
    let checked = 0;
    for (const [p, ops] of Object.entries<Record<string, { security: unknown[]; 'x-principals'?: string[] }>>(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (op.security.length === 0) continue;
        const url = concrete(p);
        for (const token of [undefined, 'not-a-token']) {
          const r = await call(srv.base, method.toUpperCase(), url, { token, body: {} });
          expect(r.status, `${method} ${url} token=${token}`).toBe(401);
          expect(r.body.error.code).toBe('BNG_ERR_UNAUTHENTICATED');
          expect(r.headers.get('www-authenticate')).toMatch(/Bearer/);
        }
        for (const [kind, who] of Object.entries(kinds)) {
          if (op['x-principals']!.includes(kind)) continue;
          const r = await as(who, method.toUpperCase(), url, {});
          expect(r.status, `${method} ${url} as ${kind}`).toBe(403);
          expect(r.body.error.code).toBe('BNG_ERR_FORBIDDEN');
          expect(JSON.stringify(r.body)).not.toMatch(/ADTN|100\.64/);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('an ISP sees only its own subscribers, pools and config', async () => {
    expect((await as('ispb', 'GET', '/api/v1/subscribers/s1')).status).toBe(403);
    expect((await as('ispb', 'GET', '/api/v1/subscribers/does-not-exist')).status).toBe(403);
    expect((await as('ispb', 'PATCH', '/api/v1/subscribers/s1', { service_tier: 'x' })).status).toBe(403);
    expect((await as('ispb', 'GET', '/api/v1/pools/a-v4')).status).toBe(403);
    expect((await as('ispb', 'GET', '/api/v1/pools/a-v4/allocations')).status).toBe(403);
    expect((await as('ispb', 'POST', '/api/v1/subscribers/s1/allocations', { pool_id: 'b-v4' })).status).toBe(403);
    expect((await as('ispb', 'GET', '/api/v1/ispcos/ispa')).status).toBe(403);
    expect((await as('ispb', 'PATCH', '/api/v1/ispcos/ispa', { name: 'pwned' })).status).toBe(403);
    expect((await as('ispb', 'POST', '/api/v1/pools', { id: 'x', type: 'ipv4', cidr: '10.9.0.0/24', owner_kind: 'ispco', owner_id: 'ispa' })).status).toBe(403);
    const list = await as('ispb', 'GET', '/api/v1/subscribers');
    expect(list.body.items).toEqual([]);
    const pools = await as('ispb', 'GET', '/api/v1/pools');
    expect(pools.body.items.map((p: { id: string }) => p.id)).toEqual(['b-v4']);
    const mine = await as('ispa', 'GET', '/api/v1/subscribers');
    expect(mine.body.items.map((s: { id: string }) => s.id)).toEqual(['s1']);
  });

  it('the ISP sees the service layer only, the NetCo the physical layer only', async () => {
    const isp = (await as('ispa', 'GET', '/api/v1/subscribers/s1')).body;
    expect(isp).toMatchObject({ id: 's1', ispco_id: 'ispa', service_tier: 'premium', qos_policy: 'gold', radius_realm: '@ispa.example' });
    expect(isp.ipv4).toMatch(/^100\.64\.0\.\d+$/);
    expect(isp.ipv6_prefix).toMatch(/^2001:db8:a:.*\/56$/);
    for (const hidden of ['nte_id', 'device_id', 'vlan', 'netco_id']) expect(isp).not.toHaveProperty(hidden);
    const nc = (await as('nc1', 'GET', '/api/v1/subscribers/s1')).body;
    expect(nc).toMatchObject({ id: 's1', nte_id: 'ADTN-0001', device_id: 'olt1', netco_id: 'nc1', ispco_id: 'ispa' });
    expect(nc.vlan).toMatch(/^20[01]:1\d\d$/);
    for (const hidden of ['service_tier', 'qos_policy', 'ipv4', 'ipv6_prefix', 'radius_realm']) expect(nc).not.toHaveProperty(hidden);
    expect((await as('nc2', 'GET', '/api/v1/subscribers/s1')).status).toBe(403);
    expect((await as('nc1', 'PATCH', '/api/v1/subscribers/s1', { service_tier: 'x' })).status).toBe(403);
    expect((await as('ispa', 'PATCH', '/api/v1/subscribers/s1', { vlan: '201:150' })).status).toBe(403);
    expect((await as('nc2', 'GET', '/api/v1/devices/olt1')).status).toBe(403);
    expect((await as('nc2', 'POST', '/api/v1/subscribers', { id: 'evil', nte_id: 'x', device_id: 'olt1' })).status).toBe(403);
  });

  it('a device sees only its own shard', async () => {
    expect((await as('olt1', 'GET', '/api/v1/devices/olt1/config')).status).toBe(200);
    expect((await as('olt1', 'GET', '/api/v1/devices/olt2/config')).status).toBe(403);
    expect((await as('olt1', 'POST', '/api/v1/devices/olt2/heartbeat', {})).status).toBe(403);
    expect((await as('olt1', 'GET', '/api/v1/subscribers/s2')).status).toBe(403);
    const subs = await as('olt1', 'GET', '/api/v1/subscribers');
    expect(subs.body.items.map((s: { id: string }) => s.id)).toEqual(['s1']);
    expect(subs.body.items[0]).toMatchObject({ nte_id: 'ADTN-0001', ispco_id: 'ispa' });
    const cfg = (await as('olt1', 'GET', '/api/v1/devices/olt1/config')).body;
    expect(cfg.ispcos.map((i: { id: string }) => i.id)).toEqual(['ispa', 'ispb']);
    expect(JSON.stringify(cfg)).not.toMatch(/token|tokens/);
  });
});

describe('bootstrap (zero touch)', () => {
  it('unknown serial is pending until approved, then gets config and a credential', async () => {
    const first = await as('boot', 'POST', '/api/v1/devices/register', { serial: 'NEW-SERIAL/9', mac: '02:00:00:00:00:09', model: 'olt-x', capabilities: ['xgs-pon'] });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ status: 'pending', device_id: 'dev-NEW-SERIAL-9' });
    expect(first.body.token).toBeUndefined();
    expect((await as('nc1', 'GET', '/api/v1/devices/dev-NEW-SERIAL-9/config')).status).toBe(403);
    expect((await as('nc1', 'POST', '/api/v1/devices/dev-NEW-SERIAL-9/approve', { netco_id: 'nc2' })).status).toBe(403);
    expect((await as('nc1', 'POST', '/api/v1/devices/dev-NEW-SERIAL-9/approve', { netco_id: 'nc1', config: { pon_ports: 16 } })).status).toBe(200);
    const again = await as('boot', 'POST', '/api/v1/devices/register', { serial: 'NEW-SERIAL/9', mac: '02:00:00:00:00:09', model: 'olt-x' });
    expect(again.status).toBe(200);
    expect(again.body.config.device).toMatchObject({ id: 'dev-NEW-SERIAL-9', netco_id: 'nc1', config: { pon_ports: 16 } });
    T['new'] = again.body.token;
    clock.advance(1000);
    const hb = await as('new', 'POST', '/api/v1/devices/dev-NEW-SERIAL-9/heartbeat', { status: 'ready' });
    expect(hb.body).toMatchObject({ status: 'ready', last_seen: clock.t });
    expect((await as('nc1', 'GET', '/api/v1/devices/dev-NEW-SERIAL-9/status')).body).toMatchObject({ status: 'ready', last_seen: clock.t });
    clock.advance(91_000);
    expect((await as('nc1', 'GET', '/api/v1/devices/dev-NEW-SERIAL-9/status')).body.status).toBe('offline');
    expect((await as('none', 'POST', '/api/v1/devices/register', { serial: 'X', mac: '02:00:00:00:00:09', model: 'm' })).status).toBe(401);
  });

  it('devices report discovered ONTs; provisioning marks them', async () => {
    const r = await as('olt1', 'POST', '/api/v1/devices/olt1/discovery', { nte_serial: 'ADTN-12345678', port: '1/1/3', vendor: 'ADTRAN', model: 'SDX-621' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('discovered');
    expect((await as('olt2', 'POST', '/api/v1/devices/olt1/discovery', { nte_serial: 'Z', port: '1' })).status).toBe(403);
    await as('nc1', 'POST', '/api/v1/subscribers', { id: 's-disc', nte_id: 'ADTN-12345678', device_id: 'olt1' });
    const list = await as('nc1', 'GET', '/api/v1/devices/olt1/discovery');
    expect(list.body.items[0]).toMatchObject({ nte_serial: 'ADTN-12345678', status: 'provisioned', port: '1/1/3' });
  });
});

describe('allocation rules through the API', () => {
  it('ISP churn: service layer moves, old address quarantined, physical layer unchanged', async () => {
    const before = (await as('admin', 'GET', '/api/v1/subscribers/s1')).body;
    expect((await as('ispb', 'PATCH', '/api/v1/subscribers/s1', { ispco_id: 'ispb', nte_id: 'WRONG' })).status).toBe(403);
    const r = await as('ispb', 'PATCH', '/api/v1/subscribers/s1', { ispco_id: 'ispb', nte_id: 'ADTN-0001', service_tier: 'business-500' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ipv4).toMatch(/^100\.65\.0\./);
    expect(r.body.ipv6_prefix).toBeUndefined();
    const after = (await as('admin', 'GET', '/api/v1/subscribers/s1')).body;
    for (const k of ['nte_id', 'device_id', 'vlan', 'netco_id']) expect(after[k]).toBe(before[k]);
    expect(after).toMatchObject({ ispco_id: 'ispb', service_tier: 'business-500', radius_realm: '@ispb.example' });
    expect(after.qos_policy).toBeUndefined();
    expect((await as('ispa', 'GET', '/api/v1/subscribers/s1')).status).toBe(403);
    const util = (await as('ispa', 'GET', '/api/v1/pools/a-v4')).body.utilisation;
    expect(util).toMatchObject({ allocated: 0, quarantined: 1 });
    const events = (await as('ispa', 'GET', '/api/v1/events')).body.items;
    expect(events.some((e: { type: string; subscriber_id: string; from_ispco: string }) => e.type === 'churn' && e.subscriber_id === 's1' && e.from_ispco === 'ispa')).toBe(true);
    // The quarantined address is not handed to anyone else while quarantine lasts.
    const old = before.ipv4 as string;
    for (let i = 0; i < 40; i++) {
      await as('nc1', 'POST', '/api/v1/subscribers', { id: `q${i}`, nte_id: `N-${i}`, device_id: 'olt1' });
      const got = await as('ispa', 'PATCH', `/api/v1/subscribers/q${i}`, { ispco_id: 'ispa', nte_id: `N-${i}` });
      expect(got.body.ipv4).not.toBe(old);
    }
  });

  it('same subscriber gets the same address again; release quarantines; expiry frees', async () => {
    await as('nc1', 'POST', '/api/v1/subscribers', { id: 'sticky', nte_id: 'N-sticky', device_id: 'olt1' });
    // ISP-A does not serve this line: it may not allocate for it.
    expect((await as('ispa', 'POST', '/api/v1/subscribers/sticky/allocations', { pool_id: 'a-v4' })).status).toBe(403);
    const a = (await as('admin', 'POST', '/api/v1/subscribers/sticky/allocations', { pool_id: 'a-v4' })).body.address;
    expect((await as('admin', 'POST', '/api/v1/subscribers/sticky/allocations', { pool_id: 'a-v4' })).body.address).toBe(a);
    const rel = await as('admin', 'DELETE', '/api/v1/subscribers/sticky/allocations/a-v4');
    expect(rel.body).toMatchObject({ address: a, quarantined: true });
    expect((await as('admin', 'POST', '/api/v1/subscribers/sticky/allocations', { pool_id: 'a-v4' })).body.address).toBe(a);

    expect((await as('ispa', 'POST', '/api/v1/pools', { id: 'a-tiny', type: 'ipv4', cidr: '198.51.100.0/30', quarantine_seconds: 60 })).status).toBe(201);
    for (const id of ['t1', 't2', 't3']) await as('nc1', 'POST', '/api/v1/subscribers', { id, nte_id: `N-${id}`, device_id: 'olt1' });
    const t1 = (await as('admin', 'POST', '/api/v1/subscribers/t1/allocations', { pool_id: 'a-tiny' })).body.address;
    const t2 = (await as('admin', 'POST', '/api/v1/subscribers/t2/allocations', { pool_id: 'a-tiny' })).body.address;
    expect(new Set([t1, t2])).toEqual(new Set(['198.51.100.1', '198.51.100.2']));
    await as('admin', 'DELETE', '/api/v1/subscribers/t1/allocations/a-tiny');
    const full = await as('admin', 'POST', '/api/v1/subscribers/t3/allocations', { pool_id: 'a-tiny' });
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('BNG_ERR_POOL_EXHAUSTED');
    expect((await as('ispa', 'GET', '/api/v1/pools/a-tiny')).body.utilisation).toMatchObject({ usable: 2, allocated: 1, quarantined: 1 });
    clock.advance(61_000);
    expect((await as('admin', 'POST', '/api/v1/subscribers/t3/allocations', { pool_id: 'a-tiny' })).body.address).toBe(t1);
    const metrics = await call(srv.base, 'GET', '/metrics');
    expect(metrics.body).toMatch(/nexus_pool_utilisation_ratio\{pool="a-tiny",type="ipv4"\} 1/);
    expect(metrics.body).toMatch(/nexus_allocations_total\{pool="a-tiny",result="exhausted"\} 1/);
    expect(metrics.body).toMatch(/nexus_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/subscribers\/:id\/allocations",status="201"\}/);
  });

  it('static reservations are honoured and never given to others', async () => {
    await as('nc1', 'POST', '/api/v1/subscribers', { id: 'vip', nte_id: 'N-vip', device_id: 'olt1' });
    expect((await as('admin', 'POST', '/api/v1/pools/b-v4/reservations', { subscriber_id: 'vip', address: '100.65.0.77' })).status).toBe(201);
    expect((await as('admin', 'POST', '/api/v1/pools/b-v4/reservations', { subscriber_id: 'vip', address: '100.66.0.1' })).body.error.field).toBe('address');
    const got = await as('ispb', 'PATCH', '/api/v1/subscribers/vip', { ispco_id: 'ispb', nte_id: 'N-vip' });
    expect(got.body.ipv4).toBe('100.65.0.77');
  });
  it('bulk create and bulk allocate (one transaction) never hand out a unit twice', async () => {
    const subscribers = Array.from({ length: 150 }, (_, k) => ({ id: `bulk${k}`, nte_id: `NB-${k}`, device_id: 'olt1', netco_id: 'nc1', ispco_id: 'ispb' }));
    subscribers.push({ ...subscribers[0]!, nte_id: 'dup' });
    const r = await as('admin', 'POST', '/api/v1/subscribers/bulk', { subscribers });
    expect(r.body.created).toBe(150);
    expect(r.body.failed).toEqual([expect.objectContaining({ id: 'bulk0', code: 'BNG_ERR_CONFLICT' })]);
    const list = (await as('ispb', 'GET', '/api/v1/pools/b-v4/allocations?limit=1000')).body.items as Array<{ a: string }>;
    expect(new Set(list.map((x) => x.a)).size).toBe(list.length);
    expect((await as('ispa', 'POST', '/api/v1/pools', { id: 'a-bulk', type: 'ipv4', cidr: '198.18.0.0/24' })).status).toBe(201);
    const ids = subscribers.slice(0, 150).map((x) => x.id);
    const b = await as('admin', 'POST', '/api/v1/pools/a-bulk/allocations', { subscriber_ids: ids });
    expect(b.body.items).toHaveLength(150);
    expect(new Set(b.body.items.map((x: { address: string }) => x.address)).size).toBe(150);
    const again = (await as('admin', 'GET', '/api/v1/pools/a-bulk/allocations?limit=1000')).body.items as Array<{ subscriber_id: string; a: string }>;
    expect(new Map(again.map((x) => [x.subscriber_id, x.a]))).toEqual(new Map(b.body.items.map((x: { subscriber_id: string; address: string }) => [x.subscriber_id, x.address])));
  });

});

describe('single allocations under load (group commit across requests)', () => {
  it('sent at once: each answered with its own unit, failures stay with their request, each audited', async () => {
    const subscribers = Array.from({ length: 60 }, (_, k) => ({ id: `single${k}`, nte_id: `NS-${k}`, device_id: 'olt1', netco_id: 'nc1', ispco_id: 'ispb' }));
    expect((await as('admin', 'POST', '/api/v1/subscribers/bulk', { subscribers })).body.created).toBe(60);
    expect((await as('ispb', 'POST', '/api/v1/pools', { id: 'b-single', type: 'ipv4', cidr: '198.19.0.0/24' })).status).toBe(201);
    const auditBefore = (await as('admin', 'GET', '/api/v1/audit?limit=10000')).body.items.length as number;
    const allocate = (who: string, sub: string, pool = 'b-single') => as(who, 'POST', `/api/v1/subscribers/${sub}/allocations`, { pool_id: pool });
    const [ok, others] = await Promise.all([
      Promise.all(subscribers.map((x) => allocate('ispb', x.id))),
      Promise.all([allocate('ispa', 'single0'), allocate('ispb', 'nobody'), allocate('ispb', 'single1', 'no-such-pool'), allocate('olt1', 'single2')]),
    ]);
    for (const [k, r] of ok.entries()) expect(r.status, JSON.stringify(r.body)).toBe(201), expect(r.body.subscriber_id).toBe(`single${k}`);
    expect(new Set(ok.map((r) => r.body.address)).size).toBe(60);
    expect(others.map((r) => r.status)).toEqual([403, 403, 404, 403]);
    expect((await as('ispb', 'GET', '/api/v1/pools/b-single')).body.utilisation.allocated).toBe(60);
    const audit = (await as('admin', 'GET', '/api/v1/audit?limit=10000')).body.items.slice(auditBefore) as Array<{ actor: string; action: string; target: string; details: { subscriber_id: string } }>;
    const created = audit.filter((e) => e.action === 'allocation.create');
    expect(created).toHaveLength(60);
    expect(new Set(created.map((e) => e.details.subscriber_id))).toEqual(new Set(subscribers.map((x) => x.id)));
    expect(created.every((e) => e.actor === 'ispco:ispb' && e.target.startsWith('b-single/'))).toBe(true);
    // Sticky, also when asked again all at once.
    const again = await Promise.all(subscribers.map((x) => allocate('ispb', x.id)));
    expect(again.map((r) => r.body.address)).toEqual(ok.map((r) => r.body.address));
  });

  it('a credential revoked meanwhile is refused on a connection that used it before', async () => {
    expect((await as('nc1', 'POST', '/api/v1/devices', { id: 'olt9', serial: 'SN-OLT9' })).status).toBe(201);
    const first = (await as('boot', 'POST', '/api/v1/devices/register', { serial: 'SN-OLT9', mac: '02:00:00:00:00:99', model: 'x86-olt' })).body.token as string;
    // One keep-alive connection for every request: the principal kept with it must not outlive the token.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (token: string) => new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = http.get(`${srv.base}/api/v1/devices/olt9`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      });
      req.on('error', reject);
    });
    try {
      expect(await get(first)).toEqual({ status: 200, reused: false });
      expect(await get(first)).toEqual({ status: 200, reused: true });
      // Registering again rotates the device's token.
      const second = (await as('boot', 'POST', '/api/v1/devices/register', { serial: 'SN-OLT9', mac: '02:00:00:00:00:99', model: 'x86-olt' })).body.token as string;
      expect(await get(first)).toEqual({ status: 401, reused: true });
      expect(await get(second)).toEqual({ status: 200, reused: true });
      expect(await get(first)).toEqual({ status: 401, reused: true });
      expect(await get(ADMIN)).toEqual({ status: 200, reused: true });
      expect(await get(`${second.slice(0, -1)}x`)).toEqual({ status: 401, reused: true });
    } finally {
      agent.destroy();
    }
  });
});

describe('malformed requests get 400 naming the field', () => {
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/api/v1/netcos', { name: 'x' }, 'id'],
    ['POST', '/api/v1/netcos', { id: 'has space', name: 'x' }, 'id'],
    ['POST', '/api/v1/netcos', { id: 'ok', name: 'x', colour: 'red' }, 'colour'],
    ['POST', '/api/v1/ispcos', { id: 'i', name: 'i', radius: { servers: ['nohostport'], realm: '@x' } }, 'radius.servers.0'],
    ['POST', '/api/v1/pools', { id: 'p', type: 'ipv5' }, 'type'],
    ['POST', '/api/v1/pools', { id: 'p', type: 'ipv4', owner_kind: 'ispco', owner_id: 'ispa', cidr: '300.0.0.0/8' }, 'cidr'],
    ['POST', '/api/v1/pools', { id: 'p', type: 'ipv6', owner_kind: 'ispco', owner_id: 'ispa', prefix: '2001:db8::/48' }, 'delegated_length'],
    ['POST', '/api/v1/pools', { id: 'p', type: 'vlan', owner_kind: 'netco', owner_id: 'nc1', s_tag: { from: 10, to: 5000 }, c_tag: { from: 1, to: 2 } }, 's_tag.to'],
    ['POST', '/api/v1/devices/register', { serial: 'x', mac: 'not-a-mac', model: 'm' }, 'mac'],
    ['POST', '/api/v1/subscribers', { id: 'z', nte_id: 'n', device_id: 'olt1', netco_id: 'nc1', vlan: '1-2' }, 'vlan'],
    ['PATCH', '/api/v1/subscribers/s2', { ispco_id: 'nope' }, 'ispco_id'],
    ['GET', '/api/v1/subscribers?limit=abc', undefined, 'limit'],
    ['GET', '/api/v1/subscribers?limit=5000', undefined, 'limit'],
  ];
  for (const [method, url, body, field] of cases) {
    it(`${method} ${url} ${JSON.stringify(body)} -> ${field}`, async () => {
      const r = await as('admin', method, url, body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe('BNG_ERR_BAD_REQUEST');
      expect(r.body.error.field).toBe(field);
      expect(r.body.error.message).toContain(field);
    });
  }
  it('unparsable JSON and a missing body', async () => {
    const r = await call(srv.base, 'POST', '/api/v1/netcos', { token: ADMIN, raw: '{"id":' });
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe('body');
    const r2 = await call(srv.base, 'POST', '/api/v1/netcos', { token: ADMIN });
    expect(r2.status).toBe(400);
    expect((await as('admin', 'GET', '/healthz')).status).toBe(200);
  });
});

describe('watch stream', () => {
  const watch = (token: string | undefined) => new WebSocket(`ws://127.0.0.1:${srv.port}/api/v1/watch`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  it('refuses missing credentials and non-device principals', async () => {
    for (const [token, code] of [[undefined, 401], ['nope', 401], [T['ispa'], 403]] as const) {
      const status = await new Promise<number>((resolve) => {
        const ws = watch(token);
        ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
        ws.on('open', () => { resolve(101); ws.close(); });
        ws.on('error', () => undefined);
      });
      expect(status).toBe(code);
    }
  });
  it('streams only the device\'s shard and live updates to it; writes from the agent are ignored', async () => {
    const client = createWatchClient({ url: `ws://127.0.0.1:${srv.port}`, token: T['olt2']!, reconnectMs: 100 });
    const sub = () => {
      const stored = client.docs.get('device:olt2')?.getMap<string>('phys').get('s2');
      return stored === undefined ? undefined : decodePhysical('s2', stored);
    };
    for (let i = 0; i < 100 && !sub(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(sub()?.nte_id).toBe('ADTN-0002');
    const scope = client.scope();
    expect(scope).toContain('device:olt2');
    expect(scope).not.toContain('auth');
    expect(scope.filter((s) => s.startsWith('device:'))).toEqual(['device:olt2']);
    expect([...client.docs.keys()].every((d) => scope.includes(d))).toBe(true);
    await as('nc2', 'PATCH', '/api/v1/subscribers/s2', { vlan: '300:11' });
    for (let i = 0; i < 100 && sub()?.vlan !== '300:11'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sub()?.vlan).toBe('300:11');
    // A local edit by the agent never reaches Nexus: the stream is read-only.
    client.docs.get('device:olt2')!.getMap('phys').set('s2', { nte_id: 'FORGED' });
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api/v1/watch`, { headers: { authorization: `Bearer ${T['olt2']}` } });
    await new Promise((r) => ws.on('open', r));
    const forged = new Y.Doc();
    forged.getMap('phys').set('s2', { nte_id: 'FORGED' });
    ws.send(encodeUpdateFrame('device:olt2', Y.encodeStateAsUpdate(forged)));
    await new Promise((r) => setTimeout(r, 200));
    expect((await as('admin', 'GET', '/api/v1/subscribers/s2')).body.nte_id).toBe('ADTN-0002');
    ws.close();
    client.close();
  });
});

describe('audit', () => {
  it('records every change with who made it', async () => {
    const items = (await as('admin', 'GET', '/api/v1/audit?limit=1000')).body.items as Array<{ actor: string; action: string; target: string }>;
    expect(items).toContainEqual(expect.objectContaining({ actor: 'ispco:ispb', action: 'subscriber.churn', target: 's1' }));
    expect(items).toContainEqual(expect.objectContaining({ actor: 'netco:nc1', action: 'device.approve', target: 'dev-NEW-SERIAL-9' }));
    expect(items).toContainEqual(expect.objectContaining({ actor: 'admin', action: 'netco.create', target: 'nc1' }));
  });
});

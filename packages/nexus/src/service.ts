/**
 * The Nexus domain: NetCos, ISPs, pools, devices, subscribers, discovery and bootstrap, with the
 * multi-party rules applied to every call. The HTTP layer only parses and authenticates; every
 * decision about who may see or change what is made here, against the principal.
 *
 * Visibility (seeds, "Multi-Party Isolation"):
 *   admin   everything
 *   netco   its devices, discovery records, VLAN pools and the physical layer of its lines
 *   ispco   its own pools and the service layer of its own subscribers
 *   device  its own record and configuration, its subscribers, the pools it may allocate from
 */
import * as Y from 'yjs';
import { BngError } from '@bng/api';
import type { Allocations, AllocationEvent } from './allocations.js';
import type { AuditLog } from './audit.js';
import { describePrincipal, forbidden, type Auth, type Principal } from './auth.js';
import type { Clock, Logger } from './logger.js';
import type {
  AllocationValue, ApproveRequest, BulkSubscriberCreate, DeviceCreate, DevicePatch, DeviceRecord, DiscoveryRecord,
  DiscoveryReport, HeartbeatRequest, IspcoCreate, IspcoPatch, IspcoRecord, NetcoCreate, NetcoRecord, PhysicalLayer,
  PoolCreate, PoolRecord, RegisterRequest, ReserveRequest, ServiceLayer, SubscriberCreate, SubscriberPatch,
} from './model.js';
import { decodePhysical, decodeService, encodePhysical, encodeService, serviceIspco } from './model.js';
import { canonicalJson, DocPrefixes, EVENTS_DOC, type Store } from './store.js';

export interface ServiceConfig { offlineAfterSeconds: number }

export interface NexusEvent { type: string; at: number; node: string; [k: string]: unknown }

export type SubscriberView = Record<string, unknown> & { id: string };

const notFound = (what: string, field?: string) =>
  new BngError('BNG_ERR_NOT_FOUND', `${what} does not exist`, field ? { field } : undefined);
const bad = (field: string, why: string) => new BngError('BNG_ERR_BAD_REQUEST', `${field}: ${why}`, { field });

const SERVICE_KEYS = ['ispco_id', 'radius_realm', 'service_tier', 'qos_policy', 'ipv4_pool', 'ipv6_pool', 'mac'] as const;

export function createNexusService(config: ServiceConfig, deps: {
  store: Store; allocations: Allocations; auth: Auth; audit: AuditLog; clock: Clock; log: Logger; node: string;
}) {
  const { store, allocations, auth, audit, clock, node } = deps;
  const log = deps.log.child({ component: 'service' });

  // ---- in-memory indexes, kept in step with local and replicated changes ----
  // The ISP serving a subscriber is read from its stored service layer (serviceIspco), not indexed:
  // one map entry per subscriber less (~4 MB at 100,000), and nothing to keep in step.
  const subDevice = new Map<string, string>(); // subscriber -> device
  const serialDevice = new Map<string, string>();
  const deviceSerial = new Map<string, string>();

  const events = () => store.doc(EVENTS_DOC).getArray<NexusEvent>('list');
  const emit = (e: Omit<NexusEvent, 'at' | 'node'>) => { events().push([{ ...e, at: clock.now(), node } as NexusEvent]); };
  const actor = (p: Principal) => describePrincipal(p);

  // ---- typed accessors ----
  // Records are stored field by field: concurrent changes to different fields on different
  // replicas (a heartbeat here, an approval there) both survive the merge; a whole-record value
  // would keep only one of them.
  /**
   * While a bulk request runs (synchronously), the records it reads for every line (NetCo,
   * device, ISP, the ISP's pools) are read once: the same few records were decoded from Yjs
   * thousands of times per request, most of the garbage a bulk insert made.
   */
  let bulkMemo: Map<string, unknown> | undefined;
  const memo = <T>(key: string, read: () => T): T => {
    if (!bulkMemo) return read();
    if (bulkMemo.has(key)) return bulkMemo.get(key) as T;
    const v = read();
    bulkMemo.set(key, v);
    return v;
  };
  const readRec = <T>(prefix: string, id: string): T | undefined => memo(`${prefix}${id}`, () => readRecNow<T>(prefix, id));
  const readRecNow = <T>(prefix: string, id: string): T | undefined => {
    const m = store.get(`${prefix}${id}`)?.getMap<unknown>('rec');
    if (!m) return undefined;
    const rec = m.toJSON(); // one pass (Y.Map.size would be another, and an array of every entry)
    for (const _k in rec) return rec as T;
    return undefined;
  };
  const writeRec = <T extends object>(prefix: string, id: string, value: T) => {
    const doc = store.doc(`${prefix}${id}`);
    const m = doc.getMap<unknown>('rec');
    doc.transact(() => {
      for (const [k, v] of Object.entries(value)) {
        if (v !== undefined && canonicalJson(m.get(k)) !== canonicalJson(v)) m.set(k, v);
      }
    });
  };
  const listRecs = <T>(prefix: string): T[] => store.names().filter((n) => n.startsWith(prefix)).sort()
    .map((n) => readRec<T>('', n)).filter((r): r is NonNullable<typeof r> => r !== undefined) as T[];

  const netco = (id: string) => readRec<NetcoRecord>(DocPrefixes.netco, id);
  const ispco = (id: string) => readRec<IspcoRecord>(DocPrefixes.ispco, id);
  const device = (id: string) => readRec<DeviceRecord>(DocPrefixes.device, id);
  const deviceDoc = (id: string) => store.doc(`${DocPrefixes.device}${id}`);
  const phys = (sub: string): PhysicalLayer | undefined => {
    const dev = subDevice.get(sub);
    const stored = dev === undefined ? undefined : store.get(`${DocPrefixes.device}${dev}`)?.getMap<string>('phys').get(sub);
    return stored === undefined ? undefined : decodePhysical(sub, stored);
  };
  const svcStored = (sub: string): string | undefined => {
    const dev = subDevice.get(sub);
    return dev === undefined ? undefined : store.get(`${DocPrefixes.device}${dev}`)?.getMap<string>('svc').get(sub);
  };
  const svc = (sub: string): ServiceLayer | undefined => {
    const stored = svcStored(sub);
    return stored === undefined ? undefined : decodeService(stored);
  };
  const ispOf = (sub: string): string | undefined => {
    const stored = svcStored(sub);
    return stored === undefined ? undefined : serviceIspco(stored);
  };

  const requireNetco = (id: string, field: string) => { if (!netco(id)) throw notFound(`netco ${id}`, field); };

  /**
   * An ISP's pools: the order it configured, then every other pool it owns (oldest first).
   * Derived rather than stored in the ISP record, so creating pools on two replicas at once
   * cannot lose one of them in a last-writer-wins merge of the record.
   */
  const effectivePools = (isp: IspcoRecord): { ipv4: string[]; ipv6: string[] } => memo(`pools:${isp.id}`, () => effectivePoolsNow(isp));
  const effectivePoolsNow = (isp: IspcoRecord): { ipv4: string[]; ipv6: string[] } => {
    const owned = allocations.pools().filter((p) => p.owner_kind === 'ispco' && p.owner_id === isp.id)
      .sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    const order = (type: 'ipv4' | 'ipv6', configured: string[]) => {
      const mine = owned.filter((p) => p.type === type).map((p) => p.id);
      return [...configured.filter((id) => mine.includes(id)), ...mine.filter((id) => !configured.includes(id))];
    };
    return { ipv4: order('ipv4', isp.pools?.ipv4 ?? []), ipv6: order('ipv6', isp.pools?.ipv6 ?? []) };
  };
  const ispView = (isp: IspcoRecord): IspcoRecord => ({ ...isp, pools: effectivePools(isp) });

  // Registered after the accessors it uses: onDoc runs at once for documents loaded from disk.
  store.onDoc((name, doc) => {
    if (!name.startsWith(DocPrefixes.device)) return;
    const deviceId = name.slice(DocPrefixes.device.length);
    const phys = doc.getMap<string>('phys');
    const rec = doc.getMap<unknown>('rec');
    const syncPhys = (sub: string) => {
      if (phys.has(sub)) subDevice.set(sub, deviceId);
      else if (subDevice.get(sub) === deviceId) subDevice.delete(sub);
    };
    const syncRec = () => {
      if (rec.size === 0) return;
      const r = rec.toJSON() as DeviceRecord;
      if (r.id === undefined || r.serial === undefined) return;
      const prev = deviceSerial.get(r.id);
      if (prev !== undefined && prev !== r.serial && serialDevice.get(prev) === r.id) serialDevice.delete(prev);
      deviceSerial.set(r.id, r.serial);
      // Replicated updates arrive in any order: a provisioned device beats a pending registration.
      const holder = serialDevice.get(r.serial);
      const holderRec = holder === undefined ? undefined : readRec<DeviceRecord>(DocPrefixes.device, holder);
      if (!holderRec || holder === r.id || holderRec.serial !== r.serial || (holderRec.status === 'pending' && r.status !== 'pending')) serialDevice.set(r.serial, r.id);
    };
    for (const k of phys.keys()) syncPhys(k);
    syncRec();
    phys.observe((ev) => { for (const k of ev.keysChanged) syncPhys(k); });
    rec.observe(syncRec);
  });


  // ---- views ----
  const addresses = (sub: string) => {
    const out: { ipv4?: string; ipv6_prefix?: string; vlan?: string; allocations: Record<string, AllocationValue> } = { allocations: allocations.of(sub) };
    for (const [poolId, a] of Object.entries(out.allocations)) {
      const type = allocations.pool(poolId)?.type;
      if (type === 'ipv4') out.ipv4 = a.a; else if (type === 'ipv6') out.ipv6_prefix = a.a; else if (type === 'vlan') out.vlan ??= a.a;
    }
    return out;
  };

  const view = (p: Principal, sub: string): SubscriberView => {
    const ph = phys(sub)!;
    const sv = svc(sub);
    const addr = addresses(sub);
    if (p.kind === 'netco') {
      // The NetCo sees the line, and which ISP serves it (it must route the VLAN), nothing else.
      return { id: sub, nte_id: ph.nte_id, device_id: ph.device_id, vlan: ph.vlan, netco_id: ph.netco_id, ispco_id: sv?.ispco_id, created_at: ph.created_at };
    }
    if (p.kind === 'ispco') {
      const { allocations: _all, vlan: _vlan, ...ispAddr } = addr;
      return { id: sub, ...(sv ?? {}), ...ispAddr };
    }
    return { ...ph, ...(sv ?? {}), ipv4: addr.ipv4, ipv6_prefix: addr.ipv6_prefix, allocations: addr.allocations };
  };

  const canSee = (p: Principal, sub: string, known?: PhysicalLayer): boolean => {
    const ph = known ?? phys(sub);
    if (!ph) return false;
    switch (p.kind) {
      case 'admin': return true;
      case 'netco': return ph.netco_id === p.id;
      case 'ispco': return ispOf(sub) === p.id;
      case 'device': return ph.device_id === p.id;
      default: return false;
    }
  };

  const visibleSub = (p: Principal, sub: string): PhysicalLayer => {
    const ph = phys(sub);
    // An ISP asking about a line it does not serve gets the same answer whether or not it exists.
    if (p.kind === 'ispco' && (!ph || ispOf(sub) !== p.id)) throw forbidden(p, `subscriber ${sub}`);
    if (!ph) throw notFound(`subscriber ${sub}`);
    if (!canSee(p, sub, ph)) throw forbidden(p, `subscriber ${sub}`); // the layer just read, not decoded again
    return ph;
  };

  const poolVisible = (p: Principal, pool: PoolRecord): boolean => {
    if (p.kind === 'admin') return true;
    if (p.kind === 'netco' || p.kind === 'ispco') return pool.owner_kind === p.kind && pool.owner_id === p.id;
    if (p.kind === 'device') return deviceMayUse(p.id, pool);
    return false;
  };
  const deviceMayUse = (deviceId: string, pool: PoolRecord) => !pool.device_filter || pool.device_filter.length === 0 || pool.device_filter.includes(deviceId);

  const visiblePool = (p: Principal, id: string): PoolRecord => {
    const pool = allocations.pool(id);
    if (!pool) throw notFound(`pool ${id}`);
    if (!poolVisible(p, pool)) throw forbidden(p, `pool ${id}`);
    return pool;
  };

  // ---- service layer application (allocation, churn) ----
  const pickPool = (ids: readonly string[], requested: string | undefined, deviceId: string, field: string): string | undefined => {
    if (requested !== undefined) {
      if (!ids.includes(requested)) throw bad(field, `pool ${requested} is not one of the ISP's pools`);
      const pool = allocations.pool(requested);
      if (!pool) throw bad(field, `pool ${requested} does not exist`);
      if (!deviceMayUse(deviceId, pool)) throw bad(field, `pool ${requested} may not be used on device ${deviceId}`);
      return requested;
    }
    return ids.find((id) => { const pool = allocations.pool(id); return pool !== undefined && deviceMayUse(deviceId, pool); });
  };

  /** Writes the service layer and moves addresses to match it. Returns the pools released. */
  const applyService = (p: Principal, sub: string, ph: PhysicalLayer, next: Omit<ServiceLayer, 'updated_at'>): void => {
    const prev = svc(sub);
    const doc = deviceDoc(ph.device_id);
    const changedIsp = prev?.ispco_id !== next.ispco_id;
    let isp: IspcoRecord | undefined;
    let realm = next.radius_realm;
    if (next.ispco_id !== undefined) {
      isp = ispco(next.ispco_id);
      if (!isp) throw bad('ispco_id', `ispco ${next.ispco_id} does not exist`);
      if (next.qos_policy !== undefined && !(next.qos_policy in isp.qos_policies)) {
        throw bad('qos_policy', `ISP ${isp.id} has no QoS policy ${next.qos_policy}`);
      }
      realm ??= isp.radius.realm;
    }
    // Seeds, "ISP churn": the old ISP's addresses go back to quarantine; the line stays.
    // New addresses are taken first, so a failure (exhausted pool) leaves the old service intact.
    const toRelease: string[] = [];
    if (changedIsp || prev?.ipv4_pool !== next.ipv4_pool || prev?.ipv6_pool !== next.ipv6_pool) {
      for (const [poolId] of Object.entries(allocations.of(sub))) {
        const pool = allocations.pool(poolId);
        if (!pool || pool.type === 'vlan') continue;
        const stillWanted = !changedIsp && isp && (pool.id === (next.ipv4_pool ?? pool.id) && pool.type === 'ipv4' || pool.id === (next.ipv6_pool ?? pool.id) && pool.type === 'ipv6');
        if (!stillWanted) toRelease.push(poolId);
      }
    }
    const taken: string[] = [];
    try {
      if (isp) {
        const pools = effectivePools(isp);
        const v4 = pickPool(pools.ipv4, next.ipv4_pool, ph.device_id, 'ipv4_pool');
        const v6 = pickPool(pools.ipv6, next.ipv6_pool, ph.device_id, 'ipv6_pool');
        for (const poolId of [v4, v6]) {
          if (poolId === undefined || toRelease.includes(poolId)) continue;
          const had = allocations.has(poolId, sub);
          allocations.take(poolId, sub);
          if (!had) taken.push(poolId);
        }
      }
    } catch (e) {
      for (const poolId of taken) allocations.release(poolId, sub);
      throw e;
    }
    const released: Array<{ pool: string; address: string }> = [];
    for (const poolId of toRelease) {
      const v = allocations.release(poolId, sub);
      if (v) released.push({ pool: poolId, address: v.a });
    }
    const record = serviceRecord({ ...next, radius_realm: realm }, clock.now());
    doc.getMap<string>('svc').set(sub, encodeService(record));
    if (changedIsp && prev?.ispco_id !== undefined) {
      emit({ type: 'churn', subscriber_id: sub, from_ispco: prev.ispco_id, to_ispco: next.ispco_id ?? null, released });
    }
    audit.record(actor(p), changedIsp && prev?.ispco_id ? 'subscriber.churn' : 'subscriber.service', sub, { from: prev?.ispco_id, to: next.ispco_id, released });
  };

  /**
   * A service record with only the service fields (a request body carries others), in one fixed
   * order, stamped with the time of the change.
   */
  const serviceRecord = (fields: Omit<ServiceLayer, 'updated_at'>, updatedAt: number): ServiceLayer => {
    const out = {} as ServiceLayer;
    for (const k of SERVICE_KEYS) if (fields[k] !== undefined) out[k] = fields[k];
    out.updated_at = updatedAt;
    return out;
  };

  const pickService = (body: Partial<Record<(typeof SERVICE_KEYS)[number], string | undefined>>) => {
    const out: Omit<ServiceLayer, 'updated_at'> = {};
    for (const k of SERVICE_KEYS) if (body[k] !== undefined) out[k] = body[k];
    return out;
  };

  const createSubscriber = (p: Principal, body: SubscriberCreate): SubscriberView => {
    insertSubscriber(p, body);
    return view(p, body.id);
  };

  const insertSubscriber = (p: Principal, body: SubscriberCreate): void => {
    const netcoId = p.kind === 'netco' ? p.id : body.netco_id;
    if (p.kind === 'netco' && body.netco_id !== undefined && body.netco_id !== p.id) throw forbidden(p, `netco ${body.netco_id}`);
    if (netcoId === undefined) throw bad('netco_id', 'required');
    requireNetco(netcoId, 'netco_id');
    const dev = device(body.device_id);
    if (!dev) throw bad('device_id', `device ${body.device_id} does not exist`);
    if (p.kind === 'netco' && dev.netco_id !== p.id) throw forbidden(p, `device ${body.device_id}`);
    if (phys(body.id)) throw new BngError('BNG_ERR_CONFLICT', `subscriber ${body.id} already exists`, { field: 'id' });
    const hasService = SERVICE_KEYS.some((k) => body[k] !== undefined);
    if (hasService && p.kind !== 'admin') throw bad('ispco_id', 'the service layer is set by the ISP (PATCH), not with the line');
    let vlan = body.vlan;
    const doc = deviceDoc(body.device_id);
    let vlanPool: string | undefined;
    if (vlan === undefined && body.vlan_pool !== undefined) {
      const pool = allocations.pool(body.vlan_pool);
      if (!pool || pool.type !== 'vlan') throw bad('vlan_pool', `${body.vlan_pool} is not a vlan pool`);
      if (p.kind === 'netco' && pool.owner_id !== p.id) throw forbidden(p, `pool ${body.vlan_pool}`);
      vlan = allocations.allocate(body.vlan_pool, body.id).a;
      vlanPool = body.vlan_pool;
    }
    const record: PhysicalLayer = { id: body.id, nte_id: body.nte_id, device_id: body.device_id, netco_id: netcoId, created_at: clock.now(), ...(vlan ? { vlan } : {}) };
    try {
      doc.transact(() => doc.getMap<string>('phys').set(body.id, encodePhysical(record)));
      subDevice.set(body.id, body.device_id); // at once: inside a batch the observer runs only at the end
      audit.record(actor(p), 'subscriber.create', body.id, { device_id: body.device_id, vlan, vlan_pool: vlanPool });
      if (hasService) applyService(p, body.id, record, pickService(body));
    } catch (e) {
      if (hasService) {
        doc.getMap('phys').delete(body.id);
        if (subDevice.get(body.id) === body.device_id) subDevice.delete(body.id);
        if (vlanPool) allocations.release(vlanPool, body.id);
      }
      throw e;
    }
    // Seeds, phase 1: a provisioned line's ONT is no longer just "discovered".
    const disc = doc.getMap<DiscoveryRecord>('disc');
    const seen = disc.get(body.nte_id);
    if (seen && seen.status !== 'provisioned') disc.set(body.nte_id, { ...seen, status: 'provisioned' });
  };

  const deviceConfig = (id: string) => {
    const dev = device(id)!;
    return {
      device: dev,
      netco: dev.netco_id ? netco(dev.netco_id) ?? null : null,
      ispcos: listRecs<IspcoRecord>(DocPrefixes.ispco).map(ispView),
      pools: allocations.pools().filter((pool) => deviceMayUse(id, pool)),
      watch: { path: '/api/v1/watch', docs: watchDocs({ kind: 'device', id }) },
    };
  };

  const watchDocs = (p: Principal): string[] => {
    if (p.kind === 'admin') return store.names().filter((n) => n !== 'auth').sort();
    if (p.kind !== 'device') return [];
    const dev = device(p.id);
    const docs = [`${DocPrefixes.device}${p.id}`];
    if (dev?.netco_id) docs.push(`${DocPrefixes.netco}${dev.netco_id}`);
    for (const n of store.names()) if (n.startsWith(DocPrefixes.ispco)) docs.push(n);
    for (const pool of allocations.pools()) if (deviceMayUse(p.id, pool)) docs.push(`${DocPrefixes.pool}${pool.id}`);
    return docs.sort();
  };

  const sanitizeSerial = (serial: string) => `dev-${serial.replace(/[^A-Za-z0-9._:-]/g, '-')}`.slice(0, 128);

  return {
    watchDocs,
    onConflict(e: AllocationEvent) { emit({ ...e }); audit.record(`node:${node}`, 'allocation.conflict', `${e.pool_id}/${e.address}`, e); },

    // ---- NetCos ----
    createNetco(p: Principal, body: NetcoCreate) {
      if (netco(body.id)) throw new BngError('BNG_ERR_CONFLICT', `netco ${body.id} already exists`, { field: 'id' });
      const now = clock.now();
      const rec: NetcoRecord = { ...body, created_at: now, updated_at: now };
      writeRec(DocPrefixes.netco, body.id, rec);
      const token = auth.issue('netco', body.id, now);
      audit.record(actor(p), 'netco.create', body.id);
      return { netco: rec, token };
    },
    listNetcos(p: Principal) {
      const all = listRecs<NetcoRecord>(DocPrefixes.netco);
      return p.kind === 'admin' ? all : all.filter((n) => p.kind === 'netco' && n.id === p.id);
    },
    getNetco(p: Principal, id: string) {
      if (p.kind === 'netco' && p.id !== id) throw forbidden(p, `netco ${id}`);
      return netco(id) ?? (() => { throw notFound(`netco ${id}`); })();
    },

    // ---- ISPs ----
    createIspco(p: Principal, body: IspcoCreate) {
      if (ispco(body.id)) throw new BngError('BNG_ERR_CONFLICT', `ispco ${body.id} already exists`, { field: 'id' });
      const now = clock.now();
      const rec: IspcoRecord = {
        id: body.id, name: body.name, radius: body.radius,
        pools: { ipv4: body.pools?.ipv4 ?? [], ipv6: body.pools?.ipv6 ?? [] }, qos_policies: body.qos_policies ?? {},
        created_at: now, updated_at: now,
      };
      writeRec(DocPrefixes.ispco, body.id, rec);
      const token = auth.issue('ispco', body.id, now);
      audit.record(actor(p), 'ispco.create', body.id);
      return { ispco: ispView(rec), token };
    },
    listIspcos(p: Principal) {
      const all = listRecs<IspcoRecord>(DocPrefixes.ispco).map(ispView);
      if (p.kind === 'admin') return all;
      if (p.kind === 'ispco') return all.filter((i) => i.id === p.id);
      // Others learn that an ISP exists and its name, not its RADIUS or pools.
      return all.map((i) => ({ id: i.id, name: i.name }));
    },
    getIspco(p: Principal, id: string) {
      if (p.kind === 'ispco' && p.id !== id) throw forbidden(p, `ispco ${id}`);
      const rec = ispco(id);
      if (!rec) throw notFound(`ispco ${id}`);
      return p.kind === 'admin' || p.kind === 'ispco' ? ispView(rec) : { id: rec.id, name: rec.name };
    },
    patchIspco(p: Principal, id: string, body: IspcoPatch) {
      if (p.kind === 'ispco' && p.id !== id) throw forbidden(p, `ispco ${id}`);
      const rec = ispco(id);
      if (!rec) throw notFound(`ispco ${id}`);
      const next: IspcoRecord = {
        ...rec, ...(body.name ? { name: body.name } : {}), ...(body.radius ? { radius: body.radius } : {}),
        pools: body.pools ? { ipv4: body.pools.ipv4 ?? rec.pools.ipv4, ipv6: body.pools.ipv6 ?? rec.pools.ipv6 } : rec.pools,
        qos_policies: body.qos_policies ?? rec.qos_policies, updated_at: clock.now(),
      };
      for (const [field, ids] of [['pools.ipv4', next.pools.ipv4], ['pools.ipv6', next.pools.ipv6]] as const) {
        for (const poolId of ids) {
          const pool = allocations.pool(poolId);
          if (pool && (pool.owner_kind !== 'ispco' || pool.owner_id !== id)) throw bad(field, `pool ${poolId} belongs to ${pool.owner_kind} ${pool.owner_id}`);
        }
      }
      writeRec(DocPrefixes.ispco, id, next);
      audit.record(actor(p), 'ispco.update', id, body);
      return ispView(next);
    },

    // ---- pools ----
    createPool(p: Principal, body: PoolCreate) {
      let ownerKind = body.owner_kind;
      let ownerId = body.owner_id;
      if (p.kind === 'netco' || p.kind === 'ispco') {
        if ((ownerKind && ownerKind !== p.kind) || (ownerId && ownerId !== p.id)) throw forbidden(p, `pools of ${ownerKind ?? p.kind} ${ownerId}`);
        ownerKind = p.kind; ownerId = p.id;
      }
      if (!ownerKind) throw bad('owner_kind', 'required');
      if (!ownerId) throw bad('owner_id', 'required');
      // NetCos own the physical layer (VLANs), ISPs the service layer (addresses).
      if (ownerKind === 'netco' && body.type !== 'vlan') throw bad('type', 'a NetCo owns vlan pools; address pools belong to an ISP');
      if (ownerKind === 'ispco' && body.type === 'vlan') throw bad('type', 'vlan pools belong to the NetCo');
      if (ownerKind === 'netco') requireNetco(ownerId, 'owner_id');
      else if (!ispco(ownerId)) throw notFound(`ispco ${ownerId}`, 'owner_id');
      const rec: PoolRecord = { ...body, owner_kind: ownerKind, owner_id: ownerId, created_at: clock.now() };
      allocations.definePool(rec);
      audit.record(actor(p), 'pool.create', body.id, { type: body.type, owner: `${ownerKind}:${ownerId}` });
      return { ...rec, utilisation: allocations.utilisation(body.id) };
    },
    listPools(p: Principal) {
      return allocations.pools().filter((pool) => poolVisible(p, pool)).map((pool) => ({ ...pool, utilisation: allocations.utilisation(pool.id) }));
    },
    getPool(p: Principal, id: string) {
      const pool = visiblePool(p, id);
      return { ...pool, utilisation: allocations.utilisation(id) };
    },
    listAllocations(p: Principal, id: string, limit: number, after?: string) {
      visiblePool(p, id);
      return allocations.list(id, limit, after);
    },
    reserve(p: Principal, poolId: string, body: ReserveRequest) {
      const pool = visiblePool(p, poolId);
      if (p.kind === 'device') throw forbidden(p, `reservations in pool ${poolId}`);
      if (pool.type !== 'vlan' && p.kind === 'ispco') visibleSub(p, body.subscriber_id);
      const idx = allocations.reserve(poolId, body.subscriber_id, body.address);
      audit.record(actor(p), 'pool.reserve', `${poolId}/${body.address}`, { subscriber_id: body.subscriber_id });
      return { pool_id: poolId, subscriber_id: body.subscriber_id, address: allocations.geometry(poolId)!.format(idx) };
    },

    // ---- devices and bootstrap ----
    createDevice(p: Principal, body: DeviceCreate) {
      const netcoId = p.kind === 'netco' ? p.id : body.netco_id;
      if (p.kind === 'netco' && body.netco_id !== undefined && body.netco_id !== p.id) throw forbidden(p, `netco ${body.netco_id}`);
      if (netcoId !== undefined) requireNetco(netcoId, 'netco_id');
      if (device(body.id)) throw new BngError('BNG_ERR_CONFLICT', `device ${body.id} already exists`, { field: 'id' });
      const other = serialDevice.get(body.serial);
      if (other !== undefined && device(other)?.status !== 'pending') throw new BngError('BNG_ERR_CONFLICT', `serial ${body.serial} belongs to device ${other}`, { field: 'serial' });
      const now = clock.now();
      // Pre-provisioning a serial makes it "known": its first registration gets its config at once.
      const rec: DeviceRecord = {
        id: body.id, serial: body.serial, status: 'approved', config: body.config ?? {}, created_at: now, updated_at: now,
        ...(netcoId ? { netco_id: netcoId } : {}), ...(body.model ? { model: body.model } : {}),
      };
      writeRec(DocPrefixes.device, body.id, rec);
      if (other !== undefined && other !== body.id) {
        // A pending registration for this serial was waiting: the provisioned record replaces it.
        writeRec(DocPrefixes.device, other, { ...device(other)!, status: 'offline', serial: `${body.serial}#superseded`, updated_at: now });
      }
      serialDevice.set(body.serial, body.id);
      audit.record(actor(p), 'device.create', body.id, { serial: body.serial });
      return rec;
    },
    listDevices(p: Principal) {
      const all = listRecs<DeviceRecord>(DocPrefixes.device).map((d) => this.withLiveness(d));
      if (p.kind === 'admin') return all;
      if (p.kind === 'netco') return all.filter((d) => d.netco_id === p.id || d.status === 'pending');
      if (p.kind === 'device') return all.filter((d) => d.id === p.id);
      return [];
    },
    withLiveness(d: DeviceRecord): DeviceRecord {
      // "offline" is derived at read time: writing it would need a timer on every replica.
      if ((d.status === 'ready' || d.status === 'booting') && d.last_seen !== undefined && clock.now() - d.last_seen > config.offlineAfterSeconds * 1000) {
        return { ...d, status: 'offline' };
      }
      return d;
    },
    visibleDevice(p: Principal, id: string): DeviceRecord {
      const d = device(id);
      if (p.kind === 'device' && p.id !== id) throw forbidden(p, `device ${id}`);
      if (p.kind === 'ispco') throw forbidden(p, `device ${id}`);
      if (!d) throw notFound(`device ${id}`);
      if (p.kind === 'netco' && d.netco_id !== p.id && d.status !== 'pending') throw forbidden(p, `device ${id}`);
      return this.withLiveness(d);
    },
    patchDevice(p: Principal, id: string, body: DevicePatch) {
      const d = this.visibleDevice(p, id);
      if (p.kind === 'netco' && body.netco_id !== undefined && body.netco_id !== p.id) throw forbidden(p, `netco ${body.netco_id}`);
      if (body.netco_id !== undefined) requireNetco(body.netco_id, 'netco_id');
      const next: DeviceRecord = { ...device(id)!, ...body, updated_at: clock.now() };
      writeRec(DocPrefixes.device, id, next);
      audit.record(actor(p), 'device.update', id, body);
      return this.withLiveness({ ...d, ...next });
    },
    approve(p: Principal, id: string, body: ApproveRequest) {
      const d = this.visibleDevice(p, id);
      if (d.status !== 'pending') throw new BngError('BNG_ERR_CONFLICT', `device ${id} is not pending (status ${d.status})`);
      if (p.kind === 'netco' && body.netco_id !== p.id) throw forbidden(p, `netco ${body.netco_id}`);
      requireNetco(body.netco_id, 'netco_id');
      const next: DeviceRecord = { ...device(id)!, status: 'approved', netco_id: body.netco_id, config: body.config ?? d.config, updated_at: clock.now() };
      writeRec(DocPrefixes.device, id, next);
      audit.record(actor(p), 'device.approve', id, { netco_id: body.netco_id });
      return next;
    },
    register(p: Principal, body: RegisterRequest): { code: 200 | 202; body: Record<string, unknown> } {
      const now = clock.now();
      const id = serialDevice.get(body.serial);
      const existing = id !== undefined ? device(id) : undefined;
      const facts = { mac: body.mac, model: body.model, capabilities: body.capabilities ?? [], ...(body.image ? { image: body.image } : {}) };
      if (!existing) {
        const newId = sanitizeSerial(body.serial);
        const rec: DeviceRecord = { id: newId, serial: body.serial, status: 'pending', config: {}, registered_at: now, last_seen: now, created_at: now, updated_at: now, ...facts };
        writeRec(DocPrefixes.device, newId, rec);
        serialDevice.set(body.serial, newId);
        audit.record(actor(p), 'device.register.pending', newId, { serial: body.serial, mac: body.mac });
        return { code: 202, body: { status: 'pending', device_id: newId, retry_after_seconds: 30 } };
      }
      if (existing.status === 'pending') {
        writeRec(DocPrefixes.device, existing.id, { ...existing, ...facts, last_seen: now, updated_at: now });
        return { code: 202, body: { status: 'pending', device_id: existing.id, retry_after_seconds: 30 } };
      }
      writeRec(DocPrefixes.device, existing.id, { ...existing, ...facts, status: 'booting', registered_at: now, last_seen: now, updated_at: now });
      const token = auth.issue('device', existing.id, now);
      audit.record(actor(p), 'device.register', existing.id, { serial: body.serial, mac: body.mac });
      return { code: 200, body: { status: 'approved', device_id: existing.id, token, config: deviceConfig(existing.id) } };
    },
    config(p: Principal, id: string) {
      const d = this.visibleDevice(p, id);
      if (d.status === 'pending') throw forbidden(p, `configuration of pending device ${id}`);
      return deviceConfig(id);
    },
    heartbeat(p: Principal, id: string, body: HeartbeatRequest) {
      if (p.kind !== 'device' || p.id !== id) throw forbidden(p, `heartbeat of device ${id}`);
      const d = device(id);
      if (!d) throw notFound(`device ${id}`);
      const now = clock.now();
      const next: DeviceRecord = { ...d, last_seen: now, updated_at: now, ...(body.status ? { status: body.status } : {}), ...(body.image ? { image: body.image } : {}) };
      writeRec(DocPrefixes.device, id, next);
      return { device_id: id, status: next.status, last_seen: now };
    },
    status(p: Principal, id: string) {
      const d = this.visibleDevice(p, id);
      return { device_id: id, status: d.status, last_seen: d.last_seen ?? null, image: d.image ?? null, serial: d.serial };
    },

    // ---- discovery ----
    reportDiscovery(p: Principal, id: string, body: DiscoveryReport) {
      if (p.kind !== 'device' || p.id !== id) {
        if (p.kind !== 'admin') throw forbidden(p, `discovery of device ${id}`);
      }
      if (!device(id)) throw notFound(`device ${id}`);
      const disc = deviceDoc(id).getMap<DiscoveryRecord>('disc');
      const prev = disc.get(body.nte_serial);
      const now = clock.now();
      const rec: DiscoveryRecord = { ...body, status: body.status ?? prev?.status ?? 'discovered', device_id: id, first_seen: prev?.first_seen ?? now, last_seen: now };
      disc.set(body.nte_serial, rec);
      if (!prev) audit.record(actor(p), 'discovery.report', `${id}/${body.nte_serial}`, { port: body.port });
      return rec;
    },
    listDiscovery(p: Principal, id: string) {
      this.visibleDevice(p, id);
      return [...deviceDoc(id).getMap<DiscoveryRecord>('disc').values()].sort((a, b) => (a.nte_serial < b.nte_serial ? -1 : 1));
    },

    // ---- subscribers ----
    createSubscriber,
    bulkCreate(p: Principal, body: BulkSubscriberCreate) {
      const created: string[] = [];
      const failed: Array<{ id: string; code: string; message: string }> = [];
      // One transaction per touched document for the whole batch: one update each to log and
      // replicate instead of one per subscriber.
      const deviceDocs = [...new Set(body.subscribers.map((s) => s.device_id))]
        .map((id) => (device(id) ? deviceDoc(id) : undefined)).filter((d): d is Y.Doc => d !== undefined);
      const inDevices = (i: number): void => {
        if (i < deviceDocs.length) { deviceDocs[i]!.transact(() => inDevices(i + 1)); return; }
        for (const s of body.subscribers) {
          try { insertSubscriber(p, s); created.push(s.id); } catch (e) {
            if (e instanceof BngError && e.code !== 'BNG_ERR_FORBIDDEN') failed.push({ id: s.id, code: e.code, message: e.message });
            else throw e;
          }
        }
      };
      bulkMemo = new Map();
      try {
        allocations.batch(allocations.pools().map((pool) => pool.id), () => inDevices(0));
      } finally {
        bulkMemo = undefined;
      }
      return { created: created.length, failed };
    },
    getSubscriber(p: Principal, sub: string) {
      visibleSub(p, sub);
      return view(p, sub);
    },
    listSubscribers(p: Principal, q: { limit: number; after?: string | undefined; device_id?: string | undefined }) {
      let ids: Iterable<string>;
      if (p.kind === 'ispco') {
        const svcMaps = new Map<string, Y.Map<string> | undefined>();
        const mine: string[] = [];
        for (const [sub, dev] of subDevice) {
          let m = svcMaps.get(dev);
          if (!svcMaps.has(dev)) svcMaps.set(dev, (m = store.get(`${DocPrefixes.device}${dev}`)?.getMap<string>('svc')));
          const stored = m?.get(sub);
          if (stored !== undefined && serviceIspco(stored) === p.id) mine.push(sub);
        }
        ids = mine;
      }
      else if (p.kind === 'device' || q.device_id !== undefined) {
        const dev = p.kind === 'device' ? p.id : q.device_id!;
        ids = store.get(`${DocPrefixes.device}${dev}`)?.getMap('phys').keys() ?? [];
      } else ids = subDevice.keys();
      const sorted = [...ids].filter((s) => (q.after === undefined || s > q.after) && canSee(p, s)).sort();
      const page = sorted.slice(0, q.limit);
      return { items: page.map((s) => view(p, s)), next: sorted.length > q.limit ? page[page.length - 1] : null };
    },
    patchSubscriber(p: Principal, sub: string, body: SubscriberPatch) {
      const ph0 = phys(sub);
      const physKeys = (['device_id', 'vlan'] as const).filter((k) => body[k] !== undefined);
      const svcKeys = SERVICE_KEYS.filter((k) => body[k] !== undefined);
      if (p.kind === 'device') throw forbidden(p, `subscriber ${sub}`);
      if (p.kind === 'ispco') {
        if (physKeys.length > 0) throw forbidden(p, `the physical layer of subscriber ${sub} (${physKeys.join(', ')})`);
        const ownsIt = ispOf(sub) === p.id;
        if (!ownsIt) {
          // Churn: another ISP (or none) serves the line. Claiming it needs the ONT serial as proof
          // the customer asked for it (seeds: ISP-B provisions via Nexus, ISP-A is notified).
          if (!ph0 || body.ispco_id !== p.id || body.nte_id === undefined || body.nte_id !== ph0.nte_id) {
            throw forbidden(p, `subscriber ${sub} (to take over a line send ispco_id=${p.id} and its nte_id)`);
          }
        } else if (body.ispco_id !== undefined && body.ispco_id !== p.id) {
          throw forbidden(p, `moving subscriber ${sub} to ${body.ispco_id}: the new ISP claims the line`);
        }
      } else if (p.kind === 'netco') {
        visibleSub(p, sub);
        if (svcKeys.length > 0) throw forbidden(p, `the service layer of subscriber ${sub} (${svcKeys.join(', ')})`);
      } else {
        visibleSub(p, sub);
      }
      if (!ph0) throw notFound(`subscriber ${sub}`);
      if (body.nte_id !== undefined && body.nte_id !== ph0.nte_id && p.kind !== 'admin' && p.kind !== 'netco') throw forbidden(p, `nte_id of subscriber ${sub}`);
      let ph = ph0;
      if (physKeys.length > 0 || (body.nte_id !== undefined && body.nte_id !== ph0.nte_id && (p.kind === 'admin' || p.kind === 'netco'))) {
        const nextPhys: PhysicalLayer = { ...ph0, ...(body.vlan ? { vlan: body.vlan } : {}), ...(body.device_id ? { device_id: body.device_id } : {}), ...(body.nte_id ? { nte_id: body.nte_id } : {}) };
        if (nextPhys.device_id !== ph0.device_id) {
          const target = device(nextPhys.device_id);
          if (!target) throw bad('device_id', `device ${nextPhys.device_id} does not exist`);
          if (p.kind === 'netco' && target.netco_id !== p.id) throw forbidden(p, `device ${nextPhys.device_id}`);
          const oldDoc = deviceDoc(ph0.device_id);
          const s = oldDoc.getMap<string>('svc').get(sub);
          const newDoc = deviceDoc(nextPhys.device_id);
          newDoc.transact(() => { newDoc.getMap<string>('phys').set(sub, encodePhysical(nextPhys)); if (s !== undefined) newDoc.getMap<string>('svc').set(sub, s); });
          oldDoc.transact(() => { oldDoc.getMap('phys').delete(sub); oldDoc.getMap('svc').delete(sub); });
        } else {
          deviceDoc(ph0.device_id).getMap<string>('phys').set(sub, encodePhysical(nextPhys));
        }
        audit.record(actor(p), 'subscriber.physical', sub, { device_id: nextPhys.device_id, vlan: nextPhys.vlan, nte_id: nextPhys.nte_id });
        ph = nextPhys;
      }
      if (svcKeys.length > 0) {
        const prev = svc(sub);
        const claim = p.kind === 'ispco' && prev?.ispco_id !== p.id;
        // A new ISP starts from a clean service layer; the old ISP's tier and QoS mean nothing to it.
        const base = claim || (body.ispco_id !== undefined && body.ispco_id !== prev?.ispco_id) ? {} : pickService(prev ?? {});
        applyService(p, sub, ph, { ...base, ...pickService(body) });
      }
      return view(p, sub);
    },
    deleteSubscriber(p: Principal, sub: string) {
      const ph = visibleSub(p, sub);
      if (p.kind !== 'admin' && p.kind !== 'netco') throw forbidden(p, `deleting subscriber ${sub}`);
      for (const poolId of Object.keys(allocations.of(sub))) allocations.release(poolId, sub);
      const doc = deviceDoc(ph.device_id);
      doc.transact(() => { doc.getMap('phys').delete(sub); doc.getMap('svc').delete(sub); });
      audit.record(actor(p), 'subscriber.delete', sub);
    },
    allocate(p: Principal, sub: string, poolId: string) {
      const ph = visibleSub(p, sub);
      if (p.kind === 'device') throw forbidden(p, `allocating for subscriber ${sub}`);
      const pool = visiblePool(p, poolId);
      if (!deviceMayUse(ph.device_id, pool)) throw bad('pool_id', `pool ${poolId} may not be used on device ${ph.device_id}`);
      const v = allocations.allocate(poolId, sub);
      audit.record(actor(p), 'allocation.create', `${poolId}/${v.a}`, { subscriber_id: sub });
      return { pool_id: poolId, subscriber_id: sub, address: v.a, allocated_at: v.t, by_node: v.n };
    },
    bulkAllocate(p: Principal, poolId: string, subs: string[]) {
      const pool = visiblePool(p, poolId);
      const items: Array<{ subscriber_id: string; address: string }> = [];
      const failed: Array<{ subscriber_id: string; code: string; message: string }> = [];
      allocations.batch([poolId], () => { for (const sub of subs) {
        try {
          const ph = visibleSub(p, sub);
          if (!deviceMayUse(ph.device_id, pool)) throw bad('pool_id', `pool ${poolId} may not be used on device ${ph.device_id}`);
          items.push({ subscriber_id: sub, address: allocations.allocate(poolId, sub).a });
        } catch (e) {
          if (!(e instanceof BngError)) throw e;
          failed.push({ subscriber_id: sub, code: e.code, message: e.message });
        }
      } });
      audit.record(actor(p), 'allocation.bulk', poolId, { allocated: items.length, failed: failed.length });
      return { items, failed };
    },
    release(p: Principal, sub: string, poolId: string) {
      visibleSub(p, sub);
      if (p.kind === 'device') throw forbidden(p, `releasing for subscriber ${sub}`);
      visiblePool(p, poolId);
      const v = allocations.release(poolId, sub);
      if (!v) throw notFound(`allocation of ${sub} in ${poolId}`);
      audit.record(actor(p), 'allocation.release', `${poolId}/${v.a}`, { subscriber_id: sub });
      return { pool_id: poolId, subscriber_id: sub, address: v.a, quarantined: true };
    },
    events(p: Principal, limit: number) {
      const all = events().toArray();
      const mine = p.kind === 'admin' ? all : all.filter((e) => p.kind === 'ispco' && (e['from_ispco'] === p.id || e['to_ispco'] === p.id));
      return mine.slice(-limit);
    },
    /** For mTLS: the device a certificate's CN (its serial) names, once it is no longer pending. */
    deviceIdBySerial(serial: string): string | undefined {
      const id = serialDevice.get(serial);
      const d = id === undefined ? undefined : device(id);
      return d && d.status !== 'pending' && d.serial === serial ? d.id : undefined;
    },
    counts() { return { subscribers: subDevice.size, devices: listRecs<DeviceRecord>(DocPrefixes.device).length }; },
  };
}

export type NexusService = ReturnType<typeof createNexusService>;

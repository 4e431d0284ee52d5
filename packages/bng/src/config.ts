/**
 * The `bng run` configuration: one schema for the YAML file, the environment (BNG_<PATH>, e.g.
 * BNG_INTERFACE, BNG_POOL_NETWORK, BNG_FASTPATH_MODE) and the flags (`--interface`,
 * `--pool-network`, ...). Defaults < file < environment < flags. Everything is checked before
 * the daemon touches the network: a bad value fails with BNG_ERR_CONFIG_INVALID naming the
 * field (e.g. `dhcp.pools[1].rangeEnd: 10.9.0.9 is not a host address of 10.0.1.0/24`).
 */
import { BngError, isBngError, loadLayeredConfig, type ConfigSources } from '@bng/api';
import { hostname } from 'node:os';
import { Type, type Static } from 'typebox';
import type { AaaServiceConfig } from './aaa/aaa-service.js';
import type { RadiusServerGroupConfig } from './aaa/radius-client.js';
import type { CoaServerConfig } from './aaa/coa-server.js';
import { resolveDhcp4Config, type Dhcp4PoolConfig, type Dhcp4ServerConfig, type ResolvedDhcp4Config } from './dhcp/config.js';

const Ipv4 = Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$', description: 'dotted-quad IPv4 address' });
const Cidr = Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$', description: 'IPv4 network, e.g. 10.0.1.0/24' });
const Seconds = Type.Integer({ minimum: 1, maximum: 0xfffffffe });
const VlanId = Type.Union([Type.Integer({ minimum: 0, maximum: 4095 }), Type.Tuple([Type.Integer({ minimum: 0, maximum: 4095 }), Type.Integer({ minimum: 0, maximum: 4095 })])]);

const PoolSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    network: Cidr,
    rangeStart: Type.Optional(Ipv4),
    rangeEnd: Type.Optional(Ipv4),
    gateway: Type.Optional(Ipv4),
    dns: Type.Optional(Type.Array(Ipv4)),
    domain: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    leaseTime: Type.Optional(Seconds),
    renewalTime: Type.Optional(Seconds),
    rebindingTime: Type.Optional(Seconds),
    minLeaseTime: Type.Optional(Seconds),
    serverId: Type.Optional(Ipv4),
    match: Type.Optional(
      Type.Object(
        {
          interfaces: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
          vlans: Type.Optional(Type.Array(Type.Object({ outer: Type.Optional(VlanId), inner: Type.Optional(VlanId) }, { additionalProperties: false }))),
          giaddrs: Type.Optional(Type.Array(Ipv4)),
          circuitIds: Type.Optional(Type.Array(Type.String())),
          remoteIds: Type.Optional(Type.Array(Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    reservations: Type.Optional(
      Type.Array(
        Type.Object(
          { mac: Type.Optional(Type.String()), clientId: Type.Optional(Type.String()), ip: Ipv4, hostname: Type.Optional(Type.String()) },
          { additionalProperties: false },
        ),
      ),
    ),
    exclude: Type.Optional(Type.Array(Ipv4)),
  },
  { additionalProperties: false },
);

const RateAttribute = Type.Object(
  { attribute: Type.String({ minLength: 1, description: 'dictionary name of an integer attribute' }), unit: Type.Union([Type.Literal('bps'), Type.Literal('kbps'), Type.Literal('mbps')], { default: 'bps' }) },
  { additionalProperties: false },
);

const RadiusServerSchema = Type.Object(
  {
    host: Ipv4,
    authPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 1812' })),
    acctPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default authPort + 1 (1813)' })),
    secret: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

// (defaults of a realm's settings are the RADIUS client's own: see docs/radius.md)
const RealmSchema = Type.Object(
  {
    servers: Type.Array(RadiusServerSchema, { minItems: 1, description: 'in priority order' }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60000, description: 'default 3000' })),
    tries: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, description: 'default 3' })),
    statusServer: Type.Optional(Type.Boolean({ description: 'default true' })),
    statusIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600000, description: 'default 5000' })),
    deadTimeMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3600000, description: 'default 30000' })),
    requireMessageAuthenticator: Type.Optional(Type.Boolean({ description: 'default true (Blast-RADIUS)' })),
    sourceAddress: Type.Optional(Ipv4),
    maxSockets: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'default 64' })),
  },
  { additionalProperties: false },
);

const AaaSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'authenticate every new IPoE subscriber with RADIUS before it gets an address' }),
    nasIdentifier: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'NAS-Identifier; default: the host name' })),
    nasIpAddress: Type.Optional(Ipv4),
    realm: Type.String({ minLength: 1, default: 'default', description: 'the ISP realm whose servers authenticate the subscribers of this interface' }),
    radiusServers: Type.Optional(Type.String({ minLength: 1, description: 'host[:authPort],... for the realm, instead of aaa.realms (with aaa.radiusSecret)' })),
    radiusSecret: Type.Optional(Type.String({ minLength: 1 })),
    realms: Type.Record(Type.String({ minLength: 1 }), RealmSchema, { default: {} }),
    userName: Type.String({ minLength: 1, default: '{mac}' }),
    password: Type.String({ default: '{mac}' }),
    nasPortId: Type.String({ default: '{interface}:{svlan}.{cvlan}' }),
    callingStationId: Type.String({ default: '{mac}' }),
    sendAgentIds: Type.Boolean({ default: true }),
    onReject: Type.Union([Type.Literal('refuse'), Type.Literal('walled-garden')], { default: 'refuse' }),
    onTimeout: Type.Union([Type.Literal('refuse'), Type.Literal('walled-garden')], { default: 'refuse' }),
    rejectHoldSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 30 }),
    walledGarden: Type.Object(
      {
        pool: Type.Optional(Type.String({ minLength: 1, description: 'pool for subscribers put in the walled garden after a reject or timeout; default: the local pools' })),
        filterId: Type.String({ minLength: 1, default: 'walled-garden', description: 'a Filter-Id equal to this (Accept or CoA) puts the subscriber in the walled garden' }),
        allow: Type.Array(Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}(/\\d{1,2})?$' }), { default: [], description: 'destinations a walled subscriber may reach (portal, DNS)' }),
      },
      { default: {}, additionalProperties: false },
    ),
    rateLimit: Type.Object(
      {
        up: Type.Optional(RateAttribute),
        down: Type.Optional(RateAttribute),
        combined: Type.Optional(Type.Object({ attribute: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
      },
      { default: {}, additionalProperties: false },
    ),
    accounting: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        defaultInterimIntervalSec: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
        window: Type.Integer({ minimum: 1, maximum: 4096, default: 64 }),
        retryDelayMs: Type.Integer({ minimum: 10, maximum: 600000, default: 1000 }),
        closeTimeoutMs: Type.Integer({ minimum: 0, maximum: 600000, default: 5000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    coa: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        listenAddress: Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$', default: '0.0.0.0' }),
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 3799 }),
        clients: Type.Array(
          Type.Object({ address: Ipv4, secret: Type.String({ minLength: 1 }), requireMessageAuthenticator: Type.Boolean({ default: false }) }, { additionalProperties: false }),
          { default: [] },
        ),
        eventTimestampWindowSec: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
        requireEventTimestamp: Type.Boolean({ default: false }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);

export const BngConfigSchema = Type.Object(
  {
    interface: Type.String({ minLength: 1, maxLength: 15, default: 'eth1', description: 'subscriber-facing interface' }),
    logLevel: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')], { default: 'info' }),
    stateDir: Type.String({ minLength: 1, default: '/var/lib/bng', description: 'lease journal and snapshots' }),
    bpfPath: Type.Optional(Type.String({ minLength: 1, description: 'the compiled dhcp_fastpath.bpf.o; default: the one built in the checkout' })),
    metricsAddr: Type.String({ minLength: 1, default: ':9090', description: 'HTTP listen address for /metrics, /healthz, /readyz and the local API, [host]:port' }),
    fastpath: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        mode: Type.Union([Type.Literal('auto'), Type.Literal('native'), Type.Literal('generic')], { default: 'auto' }),
        pinDir: Type.Optional(Type.String({ minLength: 1, description: 'bpffs directory for the maps; default /sys/fs/bpf/bng/<interface>' })),
      },
      { default: {}, additionalProperties: false },
    ),
    relay: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'listen on UDP for relayed requests (giaddr set)' }),
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 67 }),
        address: Type.Optional(Type.String({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$', description: 'local address of the relay socket; default: the server identifier when the host has it, else 0.0.0.0' })),
      },
      { default: {}, additionalProperties: false },
    ),
    /** The seeds' fallback pool (`--pool-network`, `--pool-gateway`): a pool named "default". */
    pool: Type.Partial(Type.Pick(PoolSchema, ['network', 'gateway', 'rangeStart', 'rangeEnd', 'dns', 'domain', 'leaseTime']), { default: {}, additionalProperties: false }),
    dhcp: Type.Object(
      {
        serverId: Type.Optional(Ipv4),
        authoritative: Type.Boolean({ default: false }),
        offerHoldSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
        declineQuarantineSeconds: Type.Integer({ minimum: 1, maximum: 604800, default: 3600 }),
        expireIntervalSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
        // where the lease journal's fdatasync runs: on libuv's thread pool while the next batch is
        // decided, or on the event loop after a batch's OFFERs are sent; auto = inline when the
        // daemon may use one CPU only (taskset, cpuset), thread otherwise
        journalSync: Type.Union([Type.Literal('auto'), Type.Literal('thread'), Type.Literal('inline')], { default: 'auto' }),
        // true: an ACK leaves once its lease is written and fdatasynced (survives a power cut);
        // false: once written (survives a crash or kill -9 of the daemon, not of the kernel or
        // the power: Kea's memfile with persist does the same)
        journalFsync: Type.Boolean({ default: true }),
        pools: Type.Array(PoolSchema, { default: [] }),
      },
      { default: {}, additionalProperties: false },
    ),
    aaa: AaaSchema,
    runtime: Type.Object(
      {
        // V8's helper threads (concurrent compilation, parallel and concurrent GC): `single`
        // restarts the daemon (same PID) under `node --single-threaded`, `pool` keeps them,
        // `auto` = single when the daemon may use one CPU only (taskset, cpuset), where those
        // threads can only take the event loop's CPU away from it
        v8Threads: Type.Union([Type.Literal('auto'), Type.Literal('single'), Type.Literal('pool')], { default: 'auto' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type BngConfig = Static<typeof BngConfigSchema>;

/** The AAA slices, each in the shape its component takes. */
export interface ResolvedAaaConfig {
  readonly service: AaaServiceConfig;
  readonly realm: string;
  readonly nasIdentifier: string;
  readonly rejectHoldMs: number;
  readonly walledGarden: { readonly pool?: string; readonly filterId: string; readonly allow: readonly string[] };
  readonly accounting?: BngConfig['aaa']['accounting'];
  readonly coa?: CoaServerConfig;
}

export interface ResolvedBngConfig {
  readonly raw: BngConfig;
  readonly dhcp: ResolvedDhcp4Config;
  readonly dhcpInput: Dhcp4ServerConfig;
  readonly http: { readonly host: string; readonly port: number };
  /** present when aaa.enabled */
  readonly aaa?: ResolvedAaaConfig;
}

const invalid = (field: string, why: string): BngError => new BngError('BNG_ERR_CONFIG_INVALID', `${field}: ${why}`, { field });

/** `--radius-servers 10.0.0.1,10.0.0.2:1645`: the seeds' one-realm shorthand */
function parseServerList(text: string, secret: string | undefined): RadiusServerGroupConfig['servers'] {
  if (secret === undefined) throw invalid('aaa.radiusSecret', 'required with aaa.radiusServers (--radius-secret or BNG_AAA_RADIUS_SECRET)');
  return text.split(',').map((item) => {
    const m = /^\s*(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?\s*$/.exec(item);
    const port = m?.[2] !== undefined ? Number(m[2]) : 1812;
    if (!m || port < 1 || port > 65535) throw invalid('aaa.radiusServers', `'${item.trim()}' is not ip[:port] (IP literals only)`);
    // RFC 2866 §6: accounting on the port after the authentication port by convention
    return { host: m[1]!, authPort: port, acctPort: port + 1, secret };
  });
}

function resolveAaa(raw: BngConfig, poolNames: readonly string[]): ResolvedAaaConfig | undefined {
  const a = raw.aaa;
  if (!a.enabled) return undefined;
  const realms: Record<string, RadiusServerGroupConfig> = {};
  for (const [name, r] of Object.entries(a.realms)) {
    const servers = r.servers.map((x) => ({ ...x, authPort: x.authPort ?? 1812, acctPort: x.acctPort ?? (x.authPort ?? 1812) + 1 }));
    realms[name] = { name, ...r, servers };
  }
  if (a.radiusServers !== undefined) {
    if (a.realms[a.realm] !== undefined) throw invalid('aaa.radiusServers', `aaa.realms.${a.realm} is configured too; use one of them`);
    realms[a.realm] = { name: a.realm, servers: parseServerList(a.radiusServers, a.radiusSecret) };
  }
  if (realms[a.realm] === undefined) throw invalid('aaa.realms', `no RADIUS servers for realm '${a.realm}' (give aaa.realms.${a.realm}.servers, or --radius-servers and --radius-secret)`);
  const wg = a.walledGarden;
  if (wg.pool !== undefined && !poolNames.includes(wg.pool)) throw invalid('aaa.walledGarden.pool', `no pool named '${wg.pool}' (pools: ${poolNames.join(', ')})`);
  for (const [i, p] of wg.allow.entries()) {
    const [ip, len] = p.split('/');
    if (!ip!.split('.').every((o) => Number(o) <= 255) || (len !== undefined && Number(len) > 32)) throw invalid(`aaa.walledGarden.allow[${i}]`, `'${p}' is not an IPv4 address or prefix`);
  }
  const nasIdentifier = a.nasIdentifier ?? hostname();
  const rl = a.rateLimit;
  const service: AaaServiceConfig = {
    nasIdentifier,
    ...(a.nasIpAddress !== undefined ? { nasIpAddress: a.nasIpAddress } : {}),
    userName: a.userName,
    password: a.password,
    nasPortId: a.nasPortId,
    callingStationId: a.callingStationId,
    sendAgentIds: a.sendAgentIds,
    onReject: a.onReject,
    onTimeout: a.onTimeout,
    ...(rl.up || rl.down || rl.combined ? { rateLimit: rl } : {}),
    realms,
    defaultRealm: a.realm,
  };
  if (a.coa.enabled && a.coa.clients.length === 0) throw invalid('aaa.coa.clients', 'CoA is enabled but no client may send (list the RADIUS servers that send CoA/Disconnect)');
  return {
    service,
    realm: a.realm,
    nasIdentifier,
    rejectHoldMs: a.rejectHoldSeconds * 1000,
    walledGarden: { ...(wg.pool !== undefined ? { pool: wg.pool } : {}), filterId: wg.filterId, allow: wg.allow },
    ...(a.accounting.enabled ? { accounting: a.accounting } : {}),
    ...(a.coa.enabled
      ? {
          coa: {
            listenAddress: a.coa.listenAddress,
            port: a.coa.port,
            clients: a.coa.clients,
            eventTimestampWindowSec: a.coa.eventTimestampWindowSec,
            requireEventTimestamp: a.coa.requireEventTimestamp,
            nasIdentifier,
            ...(a.nasIpAddress !== undefined ? { nasIpAddress: a.nasIpAddress } : {}),
            ...(rl.up || rl.down || rl.combined ? { rateLimit: rl } : {}),
            walledGardenFilterId: wg.filterId,
          },
        }
      : {}),
  };
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new BngError('BNG_ERR_CONFIG_INVALID', `metricsAddr: '${text}' is not [host]:port`, { field: 'metricsAddr' });
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** Turns the checked file/env/flag layers into the DHCP server's configuration. */
export function resolveBngConfig(raw: BngConfig): ResolvedBngConfig {
  const pools: Dhcp4PoolConfig[] = [...(raw.dhcp.pools as Dhcp4PoolConfig[])];
  const p = raw.pool;
  if (p.network !== undefined) {
    if (pools.some((x) => x.name === 'default')) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', 'pool.network: dhcp.pools already has a pool named "default"', { field: 'pool.network' });
    }
    pools.push({ name: 'default', ...p, network: p.network });
  } else {
    for (const k of Object.keys(p)) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', `pool.${k}: set pool.network (--pool-network) as well`, { field: `pool.${k}` });
    }
  }
  if (pools.length === 0) {
    throw new BngError('BNG_ERR_CONFIG_INVALID', 'dhcp.pools: no address pool; give --pool-network (and --pool-gateway) or dhcp.pools in the config file', { field: 'dhcp.pools' });
  }
  const dhcpInput: Dhcp4ServerConfig = {
    ...(raw.dhcp.serverId !== undefined ? { serverId: raw.dhcp.serverId } : {}),
    authoritative: raw.dhcp.authoritative,
    offerHoldMs: raw.dhcp.offerHoldSeconds * 1000,
    declineQuarantineMs: raw.dhcp.declineQuarantineSeconds * 1000,
    pools,
  };
  let dhcp: ResolvedDhcp4Config;
  try {
    dhcp = resolveDhcp4Config(dhcpInput);
  } catch (e) {
    // the DHCP layer names fields relative to its own config; the operator's file nests them
    if (isBngError(e) && e.code === 'BNG_ERR_CONFIG_INVALID') {
      const field = String((e.details as { field?: string } | undefined)?.field ?? '');
      const where = field.startsWith(`pools[${pools.length - 1}]`) && p.network !== undefined ? field.replace(/^pools\[\d+\]/, 'pool') : `dhcp.${field}`;
      throw new BngError('BNG_ERR_CONFIG_INVALID', e.message.replace(field, where), { field: where });
    }
    throw e;
  }
  const aaa = resolveAaa(raw, pools.map((x) => x.name));
  return { raw, dhcp, dhcpInput, http: parseListen(raw.metricsAddr), ...(aaa ? { aaa } : {}) };
}

export function loadBngConfig(sources: ConfigSources): ResolvedBngConfig {
  return resolveBngConfig(loadLayeredConfig(BngConfigSchema, 'BNG', sources));
}

/**
 * The `bng run` configuration: one schema for the YAML file, the environment (BNG_<PATH>, e.g.
 * BNG_INTERFACE, BNG_POOL_NETWORK, BNG_FASTPATH_MODE) and the flags (`--interface`,
 * `--pool-network`, ...). Defaults < file < environment < flags. Everything is checked before
 * the daemon touches the network: a bad value fails with BNG_ERR_CONFIG_INVALID naming the
 * field (e.g. `dhcp.pools[1].rangeEnd: 10.9.0.9 is not a host address of 10.0.1.0/24`).
 */
import { BngError, isBngError, loadLayeredConfig, type ConfigSources } from '@bng/api';
import { Type, type Static } from 'typebox';
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
        pools: Type.Array(PoolSchema, { default: [] }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type BngConfig = Static<typeof BngConfigSchema>;

export interface ResolvedBngConfig {
  readonly raw: BngConfig;
  readonly dhcp: ResolvedDhcp4Config;
  readonly dhcpInput: Dhcp4ServerConfig;
  readonly http: { readonly host: string; readonly port: number };
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
  return { raw, dhcp, dhcpInput, http: parseListen(raw.metricsAddr) };
}

export function loadBngConfig(sources: ConfigSources): ResolvedBngConfig {
  return resolveBngConfig(loadLayeredConfig(BngConfigSchema, 'BNG', sources));
}

/**
 * DHCPv4 server configuration: pools, how requests are classified into them, reservations and
 * timers. `resolveDhcp4Config` validates once at construction and turns text into numbers, so
 * the per-packet path never parses.
 */
import { BngError } from '@bng/api';
import { cidrContains, ipToU32, isIpv4, macToBytes, parseCidr, prefixLengthToMask, u32ToIp, bytesToMac } from '@bng/protocols';

/** A VLAN ID or an inclusive range of them. */
export type VlanIdMatch = number | readonly [number, number];

/** Tags as seen on the wire, outermost first: `outer` is tag 0, `inner` is tag 1. */
export interface VlanMatch {
  readonly outer?: VlanIdMatch;
  readonly inner?: VlanIdMatch;
}

/**
 * Which requests a pool serves. Every criterion given must hold; within one criterion any
 * listed value will do. A pool with no criteria is a catch-all: it serves requests no pool
 * with criteria matched, when received directly, or relayed with a giaddr inside its network
 * (RFC 2131 §4.3.1: the address comes from the subnet giaddr names).
 */
export interface Dhcp4PoolMatch {
  readonly interfaces?: readonly string[];
  readonly vlans?: readonly VlanMatch[];
  readonly giaddrs?: readonly string[];
  /** Option 82 sub-option 1 as text (RFC 3046 §3.1) */
  readonly circuitIds?: readonly string[];
  /** Option 82 sub-option 2 as text (RFC 3046 §3.2) */
  readonly remoteIds?: readonly string[];
}

export interface Dhcp4Reservation {
  /** match by hardware address ... */
  readonly mac?: string;
  /** ... or by the option 61 value in hex, type octet included (RFC 6842) */
  readonly clientId?: string;
  readonly ip: string;
  readonly hostname?: string;
}

export interface Dhcp4PoolConfig {
  readonly name: string;
  /** the subnet, e.g. 10.0.1.0/24 */
  readonly network: string;
  /** dynamic range, inclusive; default: the whole subnet minus network, broadcast, gateway, server id */
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
  readonly gateway?: string;
  readonly dns?: readonly string[];
  readonly domain?: string;
  /** seconds; default 3600 */
  readonly leaseTime?: number;
  /** seconds; default 0.5 x lease (RFC 2131 §4.4.5) */
  readonly renewalTime?: number;
  /** seconds; default 0.875 x lease (RFC 2131 §4.4.5) */
  readonly rebindingTime?: number;
  /** shortest lease granted when a client asks for less (option 51); default 60 */
  readonly minLeaseTime?: number;
  /** option 54 for this pool; default the server-wide serverId, else the gateway */
  readonly serverId?: string;
  readonly match?: Dhcp4PoolMatch;
  readonly reservations?: readonly Dhcp4Reservation[];
  /** addresses never handed out */
  readonly exclude?: readonly string[];
}

export interface Dhcp4ServerConfig {
  /** default option 54 (our address as clients see it) */
  readonly serverId?: string;
  readonly pools: readonly Dhcp4PoolConfig[];
  /** how long an offered address is held for the client (ms); default 30 s */
  readonly offerHoldMs?: number;
  /** how long a declined address is withheld (ms); default 1 h */
  readonly declineQuarantineMs?: number;
  /**
   * Answer clients this server has no record of (INIT-REBOOT, RENEWING, REBINDING) with an ACK
   * when their address is free here, or a NAK otherwise. RFC 2131 §4.3.2 says to stay silent
   * (the default): another server may own the binding. A lone BNG that lost its lease file is
   * the case for `true`.
   */
  readonly authoritative?: boolean;
}

export interface ResolvedReservation {
  readonly mac?: string;
  readonly clientId?: string;
  readonly ip: number;
  readonly hostname?: string;
}

export interface ResolvedVlanMatch {
  readonly outer?: readonly [number, number];
  readonly inner?: readonly [number, number];
}

export interface ResolvedPool {
  readonly name: string;
  readonly index: number;
  readonly network: number;
  readonly prefixLength: number;
  readonly netmask: number;
  readonly broadcast: number;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly gateway?: number;
  readonly dns: readonly number[];
  readonly domain?: string;
  readonly leaseTime: number;
  readonly renewalTime: number;
  readonly rebindingTime: number;
  readonly minLeaseTime: number;
  readonly serverId: number;
  readonly match: {
    readonly interfaces?: ReadonlySet<string>;
    readonly vlans?: readonly ResolvedVlanMatch[];
    readonly giaddrs?: ReadonlySet<number>;
    readonly circuitIds?: ReadonlySet<string>;
    readonly remoteIds?: ReadonlySet<string>;
  };
  readonly hasCriteria: boolean;
  readonly reservations: readonly ResolvedReservation[];
  /** addresses in the range the allocator must skip: excluded, reserved, gateway, server id */
  readonly unavailable: ReadonlySet<number>;
}

export interface ResolvedDhcp4Config {
  readonly pools: readonly ResolvedPool[];
  readonly offerHoldMs: number;
  readonly declineQuarantineMs: number;
  readonly authoritative: boolean;
  /** every option-54 value we answer with */
  readonly serverIds: ReadonlySet<number>;
}

function invalid(field: string, reason: string): BngError {
  return new BngError('BNG_ERR_CONFIG_INVALID', `${field}: ${reason}`, { field });
}

function ip(field: string, text: string | undefined): number {
  if (text === undefined || !isIpv4(text)) throw invalid(field, `not an IPv4 address: ${JSON.stringify(text)}`);
  return ipToU32(text);
}

function seconds(field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 0xfffffffe) throw invalid(field, `must be whole seconds, 1..2^32-2 (${v})`);
  return v;
}

function vlanRange(field: string, m: VlanIdMatch | undefined): readonly [number, number] | undefined {
  if (m === undefined) return undefined;
  const [lo, hi] = typeof m === 'number' ? [m, m] : m;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 4095 || lo > hi) {
    throw invalid(field, 'VLAN IDs are 0..4095, low <= high');
  }
  return [lo, hi];
}

/** Normalises a MAC in any common notation to `aa:bb:cc:dd:ee:ff`. */
function mac(field: string, text: string): string {
  try {
    return bytesToMac(macToBytes(text));
  } catch {
    throw invalid(field, `not a MAC address: ${JSON.stringify(text)}`);
  }
}

export function resolveDhcp4Config(config: Dhcp4ServerConfig): ResolvedDhcp4Config {
  const poolsIn: readonly Dhcp4PoolConfig[] = config.pools ?? [];
  if (poolsIn.length === 0) throw invalid('pools', 'at least one pool is needed');
  const defaultServerId = config.serverId === undefined ? undefined : ip('serverId', config.serverId);
  const names = new Set<string>();
  const pools = poolsIn.map((p, index): ResolvedPool => {
    const at = `pools[${index}]`;
    if (typeof p.name !== 'string' || p.name === '') throw invalid(`${at}.name`, 'must be a non-empty string');
    if (names.has(p.name)) throw invalid(`${at}.name`, `duplicate pool name ${p.name}`);
    names.add(p.name);
    let cidr;
    try {
      cidr = parseCidr(p.network);
    } catch (e) {
      throw invalid(`${at}.network`, (e as Error).message);
    }
    if (cidr.prefixLength > 30) throw invalid(`${at}.network`, 'prefix must be /30 or shorter');
    const broadcast = (cidr.network | ~prefixLengthToMask(cidr.prefixLength)) >>> 0;
    const inNet = (field: string, v: number): number => {
      if (!cidrContains(cidr, v) || v === cidr.network || v === broadcast) {
        throw invalid(field, `${u32ToIp(v)} is not a host address of ${p.network}`);
      }
      return v;
    };
    const gateway = p.gateway === undefined ? undefined : inNet(`${at}.gateway`, ip(`${at}.gateway`, p.gateway));
    const serverId =
      p.serverId !== undefined ? ip(`${at}.serverId`, p.serverId) : (defaultServerId ?? gateway);
    if (serverId === undefined) throw invalid(`${at}.serverId`, 'no serverId here, server-wide, or gateway to default to');
    const rangeStart = inNet(`${at}.rangeStart`, p.rangeStart === undefined ? cidr.network + 1 : ip(`${at}.rangeStart`, p.rangeStart));
    const rangeEnd = inNet(`${at}.rangeEnd`, p.rangeEnd === undefined ? broadcast - 1 : ip(`${at}.rangeEnd`, p.rangeEnd));
    if (rangeStart > rangeEnd) throw invalid(`${at}.rangeStart`, 'range start is after range end');
    const leaseTime = seconds(`${at}.leaseTime`, p.leaseTime, 3600);
    // RFC 2131 §4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease; T1 < T2 < lease.
    const renewalTime = seconds(`${at}.renewalTime`, p.renewalTime, Math.max(1, Math.floor(leaseTime * 0.5)));
    const rebindingTime = seconds(`${at}.rebindingTime`, p.rebindingTime, Math.max(1, Math.floor(leaseTime * 0.875)));
    if (!(renewalTime <= rebindingTime && rebindingTime <= leaseTime)) {
      throw invalid(`${at}.renewalTime`, 'need renewalTime <= rebindingTime <= leaseTime');
    }
    const minLeaseTime = seconds(`${at}.minLeaseTime`, p.minLeaseTime, Math.min(60, leaseTime));
    const unavailable = new Set<number>();
    for (const [k, x] of (p.exclude ?? []).entries()) unavailable.add(ip(`${at}.exclude[${k}]`, x));
    if (gateway !== undefined) unavailable.add(gateway);
    unavailable.add(serverId);
    const reservations = (p.reservations ?? []).map((r, k): ResolvedReservation => {
      const f = `${at}.reservations[${k}]`;
      if ((r.mac === undefined) === (r.clientId === undefined)) throw invalid(f, 'give exactly one of mac or clientId');
      if (r.clientId !== undefined && !/^([0-9a-fA-F]{2}){2,255}$/.test(r.clientId)) {
        throw invalid(`${f}.clientId`, 'hex octets, type octet included');
      }
      const addr = inNet(`${f}.ip`, ip(`${f}.ip`, r.ip));
      if (unavailable.has(addr)) throw invalid(`${f}.ip`, `${r.ip} is excluded, reserved twice or the gateway`);
      unavailable.add(addr);
      return {
        ...(r.mac !== undefined ? { mac: mac(`${f}.mac`, r.mac) } : {}),
        ...(r.clientId !== undefined ? { clientId: r.clientId.toLowerCase() } : {}),
        ip: addr,
        ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
      };
    });
    const m = p.match ?? {};
    const match = {
      ...(m.interfaces !== undefined ? { interfaces: new Set(m.interfaces) } : {}),
      ...(m.vlans !== undefined
        ? {
            vlans: m.vlans.map((v, k) => {
              const outer = vlanRange(`${at}.match.vlans[${k}].outer`, v.outer);
              const inner = vlanRange(`${at}.match.vlans[${k}].inner`, v.inner);
              return { ...(outer ? { outer } : {}), ...(inner ? { inner } : {}) };
            }),
          }
        : {}),
      ...(m.giaddrs !== undefined
        ? { giaddrs: new Set(m.giaddrs.map((g, k) => ip(`${at}.match.giaddrs[${k}]`, g))) }
        : {}),
      ...(m.circuitIds !== undefined ? { circuitIds: new Set(m.circuitIds) } : {}),
      ...(m.remoteIds !== undefined ? { remoteIds: new Set(m.remoteIds) } : {}),
    };
    return {
      name: p.name,
      index,
      network: cidr.network,
      prefixLength: cidr.prefixLength,
      netmask: cidr.netmask,
      broadcast,
      rangeStart,
      rangeEnd,
      ...(gateway !== undefined ? { gateway } : {}),
      dns: (p.dns ?? []).map((d, k) => ip(`${at}.dns[${k}]`, d)),
      ...(p.domain !== undefined ? { domain: p.domain } : {}),
      leaseTime,
      renewalTime,
      rebindingTime,
      minLeaseTime,
      serverId,
      match,
      hasCriteria: Object.keys(match).length > 0,
      reservations,
      unavailable,
    };
  });
  // Two pools handing out the same address would bind it twice.
  for (const a of pools) {
    for (const b of pools) {
      if (a.index < b.index && a.rangeStart <= b.rangeEnd && b.rangeStart <= a.rangeEnd) {
        throw invalid(`pools[${b.index}]`, `range overlaps pool ${a.name}`);
      }
    }
  }
  const offerHoldMs = config.offerHoldMs ?? 30_000;
  const declineQuarantineMs = config.declineQuarantineMs ?? 3_600_000;
  if (!Number.isInteger(offerHoldMs) || offerHoldMs < 0) throw invalid('offerHoldMs', 'must be a whole number of ms');
  if (!Number.isInteger(declineQuarantineMs) || declineQuarantineMs < 0) {
    throw invalid('declineQuarantineMs', 'must be a whole number of ms');
  }
  return {
    pools,
    offerHoldMs,
    declineQuarantineMs,
    authoritative: config.authoritative ?? false,
    serverIds: new Set(pools.map((p) => p.serverId)),
  };
}

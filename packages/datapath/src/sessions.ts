// Per-subscriber sessions in the datapath (bng_sessions, bng_walled_garden in
// bpf/progs/dhcp_fastpath.bpf.c): the typed policy and usage records, and the validation and
// encoding of what userspace hands the kernel. DhcpFastPath carries the operations.
import { BngError } from '@bng/api';
import { ipToU32, isIpv4, prefixLengthToMask, u32ToIp } from '@bng/protocols';
import { enums } from './generated/abi.js';
import { encodeStruct } from './struct.js';

export const SessionFlags = { WALLED: enums.bng_session_flags.BNG_SESSION_F_WALLED } as const;

/** The policer's constants, from abi.h (enum bng_police_limits). */
export const PoliceLimits = {
  burstMs: enums.bng_police_limits.BNG_POLICE_BURST_MS,
  burstMinBytes: enums.bng_police_limits.BNG_POLICE_BURST_MIN_BYTES,
  /** 100 Gbit/s in kbit/s */
  rateMaxKbps: enums.bng_police_limits.BNG_POLICE_RATE_MAX_KBPS,
} as const;

export interface SessionPolicy {
  /** from the subscriber, kbit/s; 0 or absent = unlimited */
  upKbps?: number;
  /** to the subscriber, kbit/s; 0 or absent = unlimited */
  downKbps?: number;
  /** only destinations in the walled garden are reachable */
  walled?: boolean;
}

export interface SessionUsage {
  /** from the subscriber (XDP ingress), everything received, including what was then dropped */
  rxPackets: bigint;
  rxBytes: bigint;
  /** to the subscriber (TC egress), what was sent */
  txPackets: bigint;
  txBytes: bigint;
  /** CLOCK_BOOTTIME ns of the last packet from the subscriber (boottimeNs()); 0n = none yet */
  lastRxNs: bigint;
  policedUp: bigint;
  policedDown: bigint;
  walledDrops: bigint;
}

/** What sessions() yields: the policy as the kernel holds it, and the usage. */
export type SessionEntry = Required<SessionPolicy> & SessionUsage;

/** The bucket size the kernel gives a rate: max(rate x 300 ms, 16 KiB), in bytes (abi.h says why). */
export function burstBytes(kbps: number): number {
  return Math.max(Math.floor((kbps * PoliceLimits.burstMs) / 8), PoliceLimits.burstMinBytes);
}

/** A dotted quad to the bng_sessions key: the address's network-order bytes as a LE u32. */
export function sessionKey(ip: unknown, field = 'ip'): number {
  if (typeof ip !== 'string' || !isIpv4(ip)) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `${field}: ${JSON.stringify(ip)} is not an IPv4 address`);
  }
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipToU32(ip));
  return b.readUInt32LE(0);
}

export function sessionKeyToIp(key: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(key);
  return u32ToIp(b.readUInt32BE(0));
}

function rate(v: unknown, field: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > PoliceLimits.rateMaxKbps) {
    throw new BngError(
      'BNG_ERR_BAD_REQUEST',
      `${field}: ${JSON.stringify(v)} is not a rate in kbit/s (an integer from 0 = unlimited to ${PoliceLimits.rateMaxKbps} = 100 Gbit/s)`,
    );
  }
  return v;
}

/** Validates a policy and encodes the bng_session_set context for it. */
export function encodeSessionUpdate(ip: string, policy: SessionPolicy): Buffer {
  sessionKey(ip);
  if (policy === null || typeof policy !== 'object') {
    throw new BngError('BNG_ERR_BAD_REQUEST', `policy: expected an object, got ${JSON.stringify(policy)}`);
  }
  if (policy.walled !== undefined && typeof policy.walled !== 'boolean') {
    throw new BngError('BNG_ERR_BAD_REQUEST', `walled: ${JSON.stringify(policy.walled)} is not a boolean`);
  }
  return encodeStruct('bng_session_update', {
    ip,
    flags: policy.walled ? SessionFlags.WALLED : 0,
    up_kbps: rate(policy.upKbps, 'upKbps'),
    down_kbps: rate(policy.downKbps, 'downKbps'),
  });
}

export function decodeSession(v: Record<string, unknown>): SessionEntry {
  return {
    upKbps: v.up_kbps as number,
    downKbps: v.down_kbps as number,
    walled: ((v.flags as number) & SessionFlags.WALLED) !== 0,
    ...decodeUsage(v),
  };
}

export function decodeUsage(v: Record<string, unknown>): SessionUsage {
  return {
    rxPackets: v.rx_packets as bigint,
    rxBytes: v.rx_bytes as bigint,
    txPackets: v.tx_packets as bigint,
    txBytes: v.tx_bytes as bigint,
    lastRxNs: v.last_rx_ns as bigint,
    policedUp: v.policed_up as bigint,
    policedDown: v.policed_down as bigint,
    walledDrops: v.walled_drops as bigint,
  };
}

/** A bng_walled_garden key. */
export interface GardenPrefix {
  prefixlen: number;
  addr: string;
}

/**
 * `a.b.c.d/len` or `a.b.c.d` (a /32) to a trie key, host bits cleared so that equal prefixes
 * written differently are one entry. `field` names the input in errors.
 */
export function parseGardenPrefix(text: unknown, field: string): GardenPrefix {
  if (typeof text !== 'string') throw new BngError('BNG_ERR_BAD_REQUEST', `${field}: ${JSON.stringify(text)} is not a prefix`);
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? '32' : text.slice(slash + 1);
  const len = /^\d{1,2}$/.test(lenText) ? Number(lenText) : NaN;
  if (!isIpv4(addr) || !(len >= 0 && len <= 32)) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `${field}: ${JSON.stringify(text)} is not an IPv4 prefix ("a.b.c.d/len" or "a.b.c.d")`);
  }
  return { prefixlen: len, addr: u32ToIp((ipToU32(addr) & prefixLengthToMask(len)) >>> 0) };
}

export function gardenPrefixText(p: GardenPrefix): string {
  return `${p.addr}/${p.prefixlen}`;
}

/**
 * The hashring allocator, pure: no clock, no I/O, no Yjs. Everything that decides which address
 * a subscriber gets lives here so it can be tested with numbers.
 *
 * A pool is a range of "units" (IPv4 addresses, delegated IPv6 prefixes, S-TAG:C-TAG pairs)
 * numbered 0..units-1. Units are grouped in fixed-size blocks; each block is owned by one live
 * allocator chosen by rendezvous hashing, so when an allocator dies only its blocks move. A
 * subscriber's owner is also chosen by rendezvous hashing over the live allocators, and its unit
 * is hash(pool, subscriber) within the owner's blocks, probed forward to the first free unit.
 * Given the same state and the same live set, every replica therefore computes the same answer
 * without talking to the others.
 */
import { BngError } from '@bng/api';
import { hash53, rendezvousOwner } from './hash.js';
import { formatIpv4, formatIpv6, parseCidr4, parseCidr6, parseIpv4, parseIpv6 } from './ip.js';
import type { PoolCreate } from './model.js';

/** Upper bound on blocks per pool, so ownership tables stay small whatever the pool size. */
export const MAX_BLOCKS = 4096;
/** IPv6 pools may delegate at most 2^32 prefixes; beyond that indices lose exactness. */
const MAX_IPV6_UNIT_BITS = 32;

export interface PoolGeometry {
  readonly poolId: string;
  readonly type: 'ipv4' | 'ipv6' | 'vlan';
  readonly units: number;
  readonly blockSize: number;
  readonly blocks: number;
  /** Units never handed out (network, broadcast, gateway, exclusions). */
  readonly unusable: ReadonlySet<number>;
  format(index: number): string;
  /** Text -> unit index, or undefined when the text is not inside the pool. */
  parse(text: string): number | undefined;
}

const badField = (field: string, why: string) =>
  new BngError('BNG_ERR_BAD_REQUEST', `${field}: ${why}`, { field });

function pickBlockSize(units: number, requested: number): number {
  // A power of two at least as large as requested and large enough to keep blocks <= MAX_BLOCKS.
  let size = 1;
  while (size < requested) size *= 2;
  while (Math.ceil(units / size) > MAX_BLOCKS) size *= 2;
  return size;
}

export function poolGeometry(def: PoolCreate, defaultBlockSize: number): PoolGeometry {
  const requested = def.block_size ?? defaultBlockSize;
  if (def.type === 'ipv4') {
    if (!def.cidr) throw badField('cidr', 'required for an ipv4 pool');
    let cidr;
    try { cidr = parseCidr4(def.cidr); } catch (e) { throw badField('cidr', (e as Error).message); }
    const units = 2 ** (32 - cidr.length);
    const unusable = new Set<number>();
    // RFC 919/922: the all-zeros and all-ones host numbers are the network and broadcast addresses
    // on any subnet larger than a /31 (RFC 3021 makes /31 point-to-point with both usable).
    if (cidr.length <= 30) { unusable.add(0); unusable.add(units - 1); }
    const inside = (text: string, field: string): number => {
      let v: number;
      try { v = parseIpv4(text); } catch (e) { throw badField(field, (e as Error).message); }
      if (v < cidr.base || v >= cidr.base + units) throw badField(field, `${text} is outside ${def.cidr}`);
      return v - cidr.base;
    };
    if (def.gateway) unusable.add(inside(def.gateway, 'gateway'));
    for (const ex of def.exclude ?? []) unusable.add(inside(ex, 'exclude'));
    const blockSize = pickBlockSize(units, requested);
    return {
      poolId: def.id, type: 'ipv4', units, blockSize, blocks: Math.ceil(units / blockSize), unusable,
      format: (i) => formatIpv4(cidr.base + i),
      parse: (text) => {
        let v: number;
        try { v = parseIpv4(text); } catch { return undefined; }
        return v >= cidr.base && v < cidr.base + units ? v - cidr.base : undefined;
      },
    };
  }
  if (def.type === 'ipv6') {
    if (!def.prefix) throw badField('prefix', 'required for an ipv6 pool');
    if (def.delegated_length === undefined) throw badField('delegated_length', 'required for an ipv6 pool');
    let cidr;
    try { cidr = parseCidr6(def.prefix); } catch (e) { throw badField('prefix', (e as Error).message); }
    const dl = def.delegated_length;
    if (dl < cidr.length) throw badField('delegated_length', `must be >= the pool prefix length ${cidr.length}`);
    if (dl - cidr.length > MAX_IPV6_UNIT_BITS) {
      throw badField('delegated_length', `at most 2^${MAX_IPV6_UNIT_BITS} delegated prefixes per pool`);
    }
    const units = 2 ** (dl - cidr.length);
    const shift = BigInt(128 - dl);
    const blockSize = pickBlockSize(units, requested);
    const unusable = new Set<number>();
    const inside = (text: string): number | undefined => {
      const [addr, len] = text.split('/');
      if (addr === undefined || (len !== undefined && Number(len) !== dl)) return undefined;
      let v: bigint;
      try { v = parseIpv6(addr); } catch { return undefined; }
      const off = v - cidr.base;
      if (off < 0n || (off & ((1n << shift) - 1n)) !== 0n) return undefined;
      const idx = Number(off >> shift);
      return idx < units ? idx : undefined;
    };
    for (const ex of def.exclude ?? []) {
      const idx = inside(ex);
      if (idx === undefined) throw badField('exclude', `${ex} is not a /${dl} inside ${def.prefix}`);
      unusable.add(idx);
    }
    return {
      poolId: def.id, type: 'ipv6', units, blockSize, blocks: Math.ceil(units / blockSize), unusable,
      format: (i) => `${formatIpv6(cidr.base + (BigInt(i) << shift))}/${dl}`,
      parse: inside,
    };
  }
  if (!def.s_tag) throw badField('s_tag', 'required for a vlan pool');
  if (!def.c_tag) throw badField('c_tag', 'required for a vlan pool');
  const s = def.s_tag;
  const c = def.c_tag;
  if (s.to < s.from) throw badField('s_tag', 'to must be >= from');
  if (c.to < c.from) throw badField('c_tag', 'to must be >= from');
  const cCount = c.to - c.from + 1;
  const units = (s.to - s.from + 1) * cCount;
  const blockSize = pickBlockSize(units, requested);
  const parse = (text: string): number | undefined => {
    const m = /^(\d{1,4}):(\d{1,4})$/.exec(text);
    if (!m) return undefined;
    const st = Number(m[1]);
    const ct = Number(m[2]);
    if (st < s.from || st > s.to || ct < c.from || ct > c.to) return undefined;
    return (st - s.from) * cCount + (ct - c.from);
  };
  const unusable = new Set<number>();
  for (const ex of def.exclude ?? []) {
    const idx = parse(ex);
    if (idx === undefined) throw badField('exclude', `${ex} is not an S-TAG:C-TAG pair inside the pool`);
    unusable.add(idx);
  }
  return {
    poolId: def.id, type: 'vlan', units, blockSize, blocks: Math.ceil(units / blockSize), unusable,
    format: (i) => `${s.from + Math.floor(i / cCount)}:${c.from + (i % cCount)}`,
    parse,
  };
}

/** Which allocator owns each block, for one live set. Cached by the caller per membership. */
export function blockOwners(geom: PoolGeometry, live: readonly string[]): string[] {
  const owners = new Array<string>(geom.blocks);
  for (let b = 0; b < geom.blocks; b++) owners[b] = rendezvousOwner(`${geom.poolId}#${b}`, live) ?? '';
  return owners;
}

export function subscriberOwner(subscriberId: string, live: readonly string[]): string | undefined {
  return rendezvousOwner(`sub:${subscriberId}`, live);
}

export interface PickInput {
  geom: PoolGeometry;
  /** Result of blockOwners() for the current live set. */
  owners: readonly string[];
  live: readonly string[];
  subscriberId: string;
  /** True when the unit may be given to this subscriber (not held, quarantined or reserved by another). */
  isFree(index: number): boolean;
  /** Optional cache of the blocks each owner holds (ascending), derived from `owners`. */
  blocksOf?: ((owner: string) => readonly number[] | undefined) | undefined;
}

/** The unit this subscriber gets, or undefined when the pool is exhausted. */
export function pickUnit(input: PickInput): number | undefined {
  const { geom, owners, subscriberId, isFree } = input;
  const owner = subscriberOwner(subscriberId, input.live);
  const h = hash53(`${geom.poolId}\u0000${subscriberId}`);
  let mine = input.blocksOf?.(owner ?? '');
  if (!mine) {
    const list: number[] = [];
    for (let b = 0; b < owners.length; b++) if (owners[b] === owner) list.push(b);
    mine = list;
  }
  const usable = (i: number) => i < geom.units && !geom.unusable.has(i) && isFree(i);
  if (mine.length > 0) {
    const span = mine.length * geom.blockSize;
    const start = h % span;
    for (let k = 0; k < span; k++) {
      const off = (start + k) % span;
      const idx = mine[Math.floor(off / geom.blockSize)]! * geom.blockSize + (off % geom.blockSize);
      if (usable(idx)) return idx;
    }
  }
  // The owner's blocks are full: borrow from the rest of the pool rather than refuse service.
  // Deterministic too (same start for the same subscriber), and a clash with the block's owner is
  // caught by the merge-time conflict rule like any other.
  const start = h % geom.units;
  for (let k = 0; k < geom.units; k++) {
    const idx = (start + k) % geom.units;
    if (owners[Math.floor(idx / geom.blockSize)] !== owner && usable(idx)) return idx;
  }
  return undefined;
}

export interface Claim { subscriberId: string; at: number; reservedFor?: string | undefined }

/**
 * Merge-time rule when two subscribers hold the same unit: the static reservation holder wins,
 * then the earlier allocation, then the smaller subscriber id. Total order, so every replica picks
 * the same winner whatever order it merged updates in.
 */
export function conflictWinner(a: Claim, b: Claim): Claim {
  const ra = a.reservedFor === a.subscriberId;
  const rb = b.reservedFor === b.subscriberId;
  if (ra !== rb) return ra ? a : b;
  if (a.at !== b.at) return a.at < b.at ? a : b;
  return a.subscriberId < b.subscriberId ? a : b;
}

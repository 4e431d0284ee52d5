/** IPv4/IPv6 text <-> number conversion for pools. Pure; throws BngError on bad input. */
import { BngError } from '@bng/api';
import { parseCidr } from '@bng/protocols';

// IPv4 text and CIDR handling is the shared one in @bng/protocols; only IPv6 lives here.
export { ipToU32 as parseIpv4, u32ToIp as formatIpv4 } from '@bng/protocols';

export function parseIpv6(text: string): bigint {
  const bad = () => new BngError('BNG_ERR_BAD_REQUEST', `not an IPv6 address: ${text}`);
  if (!/^[0-9a-fA-F:]+$/.test(text)) throw bad();
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) throw bad();
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let value = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  return value;
}

/** RFC 5952 canonical text: lower case, longest run of zero groups (>= 2) compressed. */
export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export interface Cidr4 { base: number; length: number }
export interface Cidr6 { base: bigint; length: number }

export function parseCidr4(text: string): Cidr4 {
  const c = parseCidr(text);
  return { base: c.network, length: c.prefixLength };
}

export function parseCidr6(text: string): Cidr6 {
  const [addr, len] = text.split('/');
  const length = Number(len);
  if (addr === undefined || len === undefined || !/^\d{1,3}$/.test(len) || length > 128) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `not an IPv6 prefix: ${text}`);
  }
  const value = parseIpv6(addr);
  const hostBits = BigInt(128 - length);
  if (hostBits > 0n && (value & ((1n << hostBits) - 1n)) !== 0n) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `host bits set in ${text}`);
  }
  return { base: value, length };
}

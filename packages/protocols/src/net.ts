/**
 * Generic link- and network-layer address utilities shared by the codecs, the daemon and the
 * test kit. Pure functions; malformed text throws a BngError('BNG_ERR_BAD_REQUEST') naming the
 * input, so a caller can tell a bad address from a bug.
 */
import { BngError } from '@bng/api';

const MAC_RE = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/;

/** `aa:bb:cc:dd:ee:ff` (or `-` separated, any case) to 6 bytes. */
export function macToBytes(mac: string): Uint8Array {
  if (!MAC_RE.test(mac)) throw new BngError('BNG_ERR_BAD_REQUEST', `not a MAC address: ${JSON.stringify(mac)}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(mac.slice(i * 3, i * 3 + 2), 16);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Lower-case hex of the octets, `separator` between them; a table lookup per octet (every request hexes its MAC and ids). */
export function bytesToHex(bytes: Uint8Array, separator = ''): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += i === 0 ? HEX[bytes[i] as number] : separator + HEX[bytes[i] as number];
  return out;
}

/** Bytes to lower-case colon-separated hex (`aa:bb:...`); any length, 6 for a MAC. */
export function bytesToMac(bytes: Uint8Array): string {
  return bytesToHex(bytes, ':');
}

/**
 * Parses a dotted quad (1-3 digits per part, each at most 255) to a host-order u32, or -1 when
 * `text` is not one. A character scan, no exception, no allocation: this runs for every address
 * of every reply on the slow path.
 */
export function tryIpToU32(text: string): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 3) return -1;
      octet = octet * 10 + (c - 48);
      digits++;
    } else if (c === 46) {
      if (digits === 0 || dots === 3 || octet > 255) return -1;
      v = v * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return v * 256 + octet;
}

export function isIpv4(text: string): boolean {
  return tryIpToU32(text) >= 0;
}

/** Dotted quad to an unsigned 32-bit number (network order: `1.2.3.4` -> 0x01020304). */
export function ipToU32(ip: string): number {
  const v = typeof ip === 'string' ? tryIpToU32(ip) : -1;
  if (v < 0) throw new BngError('BNG_ERR_BAD_REQUEST', `not an IPv4 address: ${JSON.stringify(ip)}`);
  return v;
}

export function u32ToIp(v: number): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `not an unsigned 32-bit number: ${v}`);
  }
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function ipToBytes(ip: string): Uint8Array {
  const v = ipToU32(ip);
  return Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
}

/** Reads 4 bytes at `offset` as a dotted quad; the caller has checked the bounds. */
export function bytesToIp(bytes: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + 4 > bytes.length) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `need 4 bytes at offset ${offset}, have ${bytes.length}`);
  }
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** `10.0.1.0/24` -> { network, prefixLength, netmask } with the host bits checked to be zero. */
export interface Ipv4Cidr {
  readonly network: number;
  readonly prefixLength: number;
  readonly netmask: number;
}

export function parseCidr(text: string): Ipv4Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new BngError('BNG_ERR_BAD_REQUEST', `not a CIDR prefix: ${JSON.stringify(text)}`);
  const base = ipToU32(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const prefixLength = /^\d{1,2}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(prefixLength >= 0 && prefixLength <= 32)) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `bad prefix length in ${JSON.stringify(text)}`);
  }
  const netmask = prefixLengthToMask(prefixLength);
  if ((base & ~netmask) >>> 0 !== 0) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `host bits set in ${JSON.stringify(text)}`);
  }
  return { network: base, prefixLength, netmask };
}

export function prefixLengthToMask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new BngError('BNG_ERR_BAD_REQUEST', `bad prefix length ${prefixLength}`);
  }
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function cidrContains(cidr: Ipv4Cidr, ip: number): boolean {
  return ((ip & cidr.netmask) >>> 0) === cidr.network;
}

/**
 * RFC 1071 Internet checksum over `bytes[start, end)` folded with `initial` (a partial sum, e.g.
 * a pseudo-header). Returns the one's complement, ready to store.
 */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~foldSum(onesSum(bytes, start, end, initial)) & 0xffff;
}

/** Unfolded 16-bit one's complement partial sum, for chaining pseudo-headers and payloads. */
export function onesSum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  // RFC 1071 §4.1: an odd trailing byte is padded with a zero byte on the right.
  if (i < end) sum += (bytes[i] as number) << 8;
  // keep the running sum small so chained calls never lose precision
  return foldSum(sum);
}

function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

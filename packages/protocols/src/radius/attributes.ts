import { BngError } from '@bng/api';
import { AttrType } from './constants.js';
import { utf8 } from './crypto.js';
import type { AttributeDef, DataType, Dictionary, VendorDef } from './dictionary.js';
import { RadiusDecodeError, RadiusDecodeReason } from './decode-error.js';
import type { RawAttribute } from './packet.js';

export type AttrValue = string | number | bigint | Uint8Array;

export interface DecodedAttribute {
  readonly name: string;
  readonly vendorId: number;
  readonly type: number;
  /** Typed from the dictionary; octets for unknown, encrypted or malformed attributes. */
  readonly value: AttrValue;
  readonly tag?: number;
  /** The attribute's value octets (for a VSA, the sub-attribute's). */
  readonly raw: Uint8Array;
  /** Set when the value did not fit its dictionary type (RFC 6929 §2.8: treat as invalid, not fatal). */
  readonly malformed?: string;
  readonly def?: AttributeDef;
}

const td = new TextDecoder('utf-8', { fatal: false });

/** One vendor sub-attribute of a Vendor-Specific attribute. */
export interface VendorSubAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

/**
 * Splits a Vendor-Specific value (RFC 2865 §5.26: Vendor-Id (4) then the vendor's
 * sub-attributes, format from the dictionary, 1-octet type and length by default).
 */
export function splitVendorSpecific(value: Uint8Array, dict: Dictionary): { vendorId: number; subs: VendorSubAttribute[] } {
  // RFC 2865 §5.26: Length >= 7, so the value holds the 4-octet Vendor-Id and at least one octet.
  if (value.length < 5) throw new RadiusDecodeError(RadiusDecodeReason.VsaTruncated, 0, 'Vendor-Specific shorter than 5 octets');
  const vendorId = ((value[0]! << 24) >>> 0) + (value[1]! << 16) + (value[2]! << 8) + value[3]!;
  const v: VendorDef = dict.vendor(vendorId) ?? { name: '', id: vendorId, typeLength: 1, lengthLength: 1 };
  const subs: VendorSubAttribute[] = [];
  let off = 4;
  while (off < value.length) {
    const hdr = v.typeLength + v.lengthLength;
    if (value.length - off < hdr) throw new RadiusDecodeError(RadiusDecodeReason.VsaTruncated, off, 'vendor attribute header truncated');
    let type = 0;
    for (let i = 0; i < v.typeLength; i++) type = type * 256 + value[off + i]!;
    let len: number;
    if (v.lengthLength === 0) {
      len = value.length - off; // format=t,0: one attribute fills the rest
    } else {
      len = 0;
      for (let i = 0; i < v.lengthLength; i++) len = len * 256 + value[off + v.typeLength + i]!;
      if (len < hdr || len > value.length - off) {
        throw new RadiusDecodeError(RadiusDecodeReason.VsaTruncated, off, `vendor ${vendorId} attribute ${type} length ${len} with ${value.length - off} octets left`);
      }
    }
    subs.push({ type, value: value.subarray(off + hdr, off + len) });
    off += len;
  }
  return { vendorId, subs };
}

/** Types every attribute of a packet from the dictionary; never throws on attribute content. */
export function decodeAttributes(attributes: readonly RawAttribute[], dict: Dictionary): DecodedAttribute[] {
  const out: DecodedAttribute[] = [];
  for (const a of attributes) {
    if (a.type === AttrType.VendorSpecific) {
      let split: ReturnType<typeof splitVendorSpecific>;
      try {
        split = splitVendorSpecific(a.value, dict);
      } catch (e) {
        out.push({ name: 'Vendor-Specific', vendorId: 0, type: a.type, value: a.value, raw: a.value, malformed: (e as Error).message });
        continue;
      }
      for (const s of split.subs) out.push(typeOne(dict, split.vendorId, s.type, s.value));
      continue;
    }
    out.push(typeOne(dict, 0, a.type, a.value));
  }
  return out;
}

function typeOne(dict: Dictionary, vendorId: number, type: number, raw: Uint8Array): DecodedAttribute {
  const def = dict.attributeByCode(vendorId, type);
  if (!def) {
    const name = vendorId === 0 ? `Attr-${type}` : `Vendor-${vendorId}-Attr-${type}`;
    return { name, vendorId, type, value: raw, raw };
  }
  const name = def.name;
  // Encrypted values need the secret and authenticator: left as octets for the caller to reveal.
  if (def.encrypt !== 0) return { name, vendorId, type, raw, def, value: raw };
  let data = raw;
  let tag: number | undefined;
  if (def.hasTag) {
    // RFC 2868 §3.1: integer tunnel attributes always carry the tag in the first octet; string
    // ones only when it is 0x01..0x1F.
    if (def.dataType === 'integer') {
      if (raw.length !== 4) return { name, vendorId, type, raw, def, value: raw, malformed: `length ${raw.length}, expected 4` };
      return { name, vendorId, type, raw, def, tag: raw[0]!, value: (raw[1]! << 16) | (raw[2]! << 8) | raw[3]! };
    }
    if (raw.length > 0 && raw[0]! <= 0x1f) {
      tag = raw[0]!;
      data = raw.subarray(1);
    }
  }
  const r = decodeValue(def.dataType, data);
  if (typeof r === 'object' && r !== null && 'error' in r) return { name, vendorId, type, raw, def, value: raw, malformed: r.error };
  return tag === undefined ? { name, vendorId, type, raw, def, value: r } : { name, vendorId, type, raw, def, tag, value: r };
}

/** UTF-8 text; short ASCII (most RADIUS strings) without the TextDecoder call. */
function decodeText(b: Uint8Array): string {
  const n = b.length;
  if (n <= 32) {
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = b[i]!;
      if (c > 0x7f) return td.decode(b);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return td.decode(b);
}

function decodeValue(t: DataType, b: Uint8Array): AttrValue | { error: string } {
  const need = (n: number): { error: string } | undefined => (b.length === n ? undefined : { error: `length ${b.length}, expected ${n}` });
  switch (t) {
    case 'string':
      return decodeText(b);
    case 'octets':
      return b;
    case 'ipaddr':
      return need(4) ?? `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
    case 'integer':
    case 'date':
      return need(4) ?? (((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!);
    case 'signed':
      return need(4) ?? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!);
    case 'byte':
      return need(1) ?? b[0]!;
    case 'short':
      return need(2) ?? ((b[0]! << 8) | b[1]!);
    case 'integer64': {
      const e = need(8);
      if (e) return e;
      let v = 0n;
      for (const x of b) v = (v << 8n) | BigInt(x);
      return v;
    }
    case 'ipv6addr':
      return need(16) ?? formatIpv6(b);
    case 'ipv6prefix': {
      // RFC 3162 §2.3: Reserved (1), Prefix-Length (1), Prefix (0..16 octets).
      if (b.length < 2 || b.length > 18) return { error: `length ${b.length}, expected 2..18` };
      const plen = b[1]!;
      if (plen > 128) return { error: `prefix length ${plen}` };
      if (b.length - 2 < Math.ceil(plen / 8)) return { error: 'prefix shorter than its length' };
      const full = new Uint8Array(16);
      full.set(b.subarray(2, Math.min(b.length, 18)));
      return `${formatIpv6(full)}/${plen}`;
    }
    case 'ifid': {
      const e = need(8);
      if (e) return e;
      const parts: string[] = [];
      for (let i = 0; i < 8; i += 2) parts.push(((b[i]! << 8) | b[i + 1]!).toString(16));
      return parts.join(':');
    }
    case 'ether': {
      const e = need(6);
      if (e) return e;
      return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
    }
  }
}

/** Encodes a value of the dictionary type; throws BNG_ERR_ENCODE when it does not fit. */
export function encodeValue(def: AttributeDef, value: AttrValue, tag?: number): Uint8Array {
  const bad = (why: string): never => {
    throw new BngError('BNG_ERR_ENCODE', `radius: ${def.name}: ${why}`);
  };
  let v = value;
  if (typeof v === 'string' && (def.dataType === 'integer' || def.dataType === 'date' || def.dataType === 'byte' || def.dataType === 'short')) {
    const named = def.valuesByName.get(v.toLowerCase());
    if (named !== undefined) v = named;
    else if (/^[0-9]+$/.test(v)) v = Number(v);
    else bad(`unknown value name ${v}`);
  }
  let out: Uint8Array;
  switch (def.dataType) {
    case 'string':
    case 'octets':
      out = typeof v === 'string' ? utf8(v) : v instanceof Uint8Array ? v : bad('expects a string or octets');
      // RFC 2865 §5: string and text values are 1..253 octets.
      if (out.length === 0) bad('empty value');
      break;
    case 'ipaddr':
      out = typeof v === 'string' ? parseIpv4(v) ?? bad(`bad IPv4 address ${v}`) : typeof v === 'number' ? u32(v) ?? bad('out of range') : bad('expects an address');
      break;
    case 'integer':
    case 'date':
      out = typeof v === 'number' ? u32(v) ?? bad(`${v} out of range`) : typeof v === 'bigint' ? u32(Number(v)) ?? bad('out of range') : bad('expects a number');
      if (def.hasTag) {
        // RFC 2868 §3.1: tag replaces the top octet of the 4-octet value.
        if ((out[0] ?? 0) !== 0) bad('tagged integer exceeds 24 bits');
        out[0] = tag ?? 0;
        return out;
      }
      break;
    case 'signed':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) bad('expects a signed 32-bit integer');
      out = u32((v as number) >>> 0)!;
      break;
    case 'byte':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) bad('expects 0..255');
      out = new Uint8Array([v as number]);
      break;
    case 'short':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) bad('expects 0..65535');
      out = new Uint8Array([(v as number) >> 8, (v as number) & 0xff]);
      break;
    case 'integer64': {
      const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : bad('expects an integer');
      if (big < 0n || big > 0xffffffffffffffffn) bad('out of range');
      out = new Uint8Array(8);
      for (let i = 7, x = big; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn);
      break;
    }
    case 'ipv6addr':
      out = typeof v === 'string' ? parseIpv6(v) ?? bad(`bad IPv6 address ${v}`) : bad('expects an address');
      break;
    case 'ipv6prefix': {
      const m = typeof v === 'string' ? /^(.+)\/(\d{1,3})$/.exec(v) : null;
      const addr = m ? parseIpv6(m[1]!) : undefined;
      const plen = m ? Number(m[2]) : NaN;
      if (!addr || !(plen >= 0 && plen <= 128)) bad('expects addr/len');
      const n = Math.ceil(plen / 8);
      out = new Uint8Array(2 + n);
      out[1] = plen;
      out.set(addr!.subarray(0, n), 2);
      break;
    }
    case 'ifid': {
      const parts = typeof v === 'string' ? v.split(':') : [];
      if (parts.length !== 4 || !parts.every((p) => /^[0-9a-f]{1,4}$/i.test(p))) bad('expects 4 hex groups');
      out = new Uint8Array(8);
      parts.forEach((p, i) => { const n = Number.parseInt(p, 16); out[i * 2] = n >> 8; out[i * 2 + 1] = n & 0xff; });
      break;
    }
    case 'ether': {
      const hex = typeof v === 'string' ? v.replace(/[:.-]/g, '') : '';
      if (!/^[0-9a-f]{12}$/i.test(hex)) bad('expects a MAC address');
      out = Uint8Array.from(hex.match(/../g)!.map((h) => Number.parseInt(h, 16)));
      break;
    }
  }
  if (def.hasTag && tag !== undefined) {
    // RFC 2868 §3.1: tags are 0x01..0x1F.
    if (tag < 1 || tag > 0x1f) bad(`tag ${tag} outside 1..31`);
    out = new Uint8Array([tag, ...out]);
  }
  return out;
}

/**
 * Builds the wire attribute for `name` (wrapping vendor attributes in Vendor-Specific,
 * RFC 2865 §5.26). Length limits are checked against the vendor format.
 */
export function encodeAttribute(dict: Dictionary, name: string, value: AttrValue, tag?: number): RawAttribute {
  const def = dict.attribute(name);
  if (!def) throw new BngError('BNG_ERR_ENCODE', `radius: unknown attribute ${name}`);
  return encodeAttributeDef(dict, def, value, tag);
}

export function encodeAttributeDef(dict: Dictionary, def: AttributeDef, value: AttrValue, tag?: number): RawAttribute {
  const data = encodeValue(def, value, tag);
  if (def.vendorId === 0) {
    if (data.length > 253) throw new BngError('BNG_ERR_ENCODE', `radius: ${def.name} value of ${data.length} octets exceeds 253`);
    return { type: def.type, value: data };
  }
  const v = dict.vendor(def.vendorId) ?? { typeLength: 1 as const, lengthLength: 1 as const };
  const hdr = v.typeLength + v.lengthLength;
  const total = 4 + hdr + data.length;
  if (total > 253 || (v.lengthLength === 1 && hdr + data.length > 255)) {
    throw new BngError('BNG_ERR_ENCODE', `radius: ${def.name} value of ${data.length} octets does not fit a Vendor-Specific attribute`);
  }
  const out = new Uint8Array(total);
  out[0] = (def.vendorId >>> 24) & 0xff;
  out[1] = (def.vendorId >>> 16) & 0xff;
  out[2] = (def.vendorId >>> 8) & 0xff;
  out[3] = def.vendorId & 0xff;
  let off = 4;
  for (let i = v.typeLength - 1; i >= 0; i--) out[off++] = Math.floor(def.type / 256 ** i) & 0xff;
  const len = hdr + data.length;
  if (v.lengthLength === 2) { out[off++] = len >> 8; out[off++] = len & 0xff; }
  else if (v.lengthLength === 1) out[off++] = len;
  out.set(data, off);
  return { type: AttrType.VendorSpecific, value: out };
}

function u32(n: number): Uint8Array | undefined {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) return undefined;
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

export function parseIpv4(s: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return Uint8Array.from(b);
}

export function parseIpv6(s: string): Uint8Array | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const groups = h.split(':');
    if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
    return groups.map((g) => Number.parseInt(g, 16));
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[i * 2] = g >> 8; out[i * 2 + 1] = g & 0xff; });
  return out;
}

export function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2.3: compress the longest run of zero groups (length >= 2), the first on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** First attribute of that name (case-insensitive), or undefined. */
export function findAttribute(attrs: readonly DecodedAttribute[], name: string): DecodedAttribute | undefined {
  const n = name.toLowerCase();
  return attrs.find((a) => a.name.toLowerCase() === n);
}

export function findAllAttributes(attrs: readonly DecodedAttribute[], name: string): DecodedAttribute[] {
  const n = name.toLowerCase();
  return attrs.filter((a) => a.name.toLowerCase() === n);
}

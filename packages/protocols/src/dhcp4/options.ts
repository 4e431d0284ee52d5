/**
 * Option accessors and typed builders. Accessors that interpret a value apply RFC 3396
 * concatenation (all instances of a code joined in order), which is what decode validated.
 */
import { bytesToMac, ipToBytes } from '../net.js';
import { BROADCAST_FLAG, CHADDR_LENGTH, FILE_LENGTH, Op, OptionCode, SNAME_LENGTH } from './constants.js';
import { DecodeError, encodeError } from './errors.js';
import type { Dhcp4Message, Dhcp4Option } from './message.js';

type WithOptions = Pick<Dhcp4Message, 'options'>;

/** Data of the first instance of `code`, or undefined. */
export function getOption(msg: WithOptions, code: number): Uint8Array | undefined {
  for (const o of msg.options) if (o.code === code) return o.data;
  return undefined;
}

/** Data of every instance of `code`, in wire order. */
export function getOptions(msg: WithOptions, code: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const o of msg.options) if (o.code === code) out.push(o.data);
  return out;
}

/**
 * RFC 3396 §6: a receiver treats all instances of one code as a single, concatenated option.
 * A single instance (the usual case, read several times per request) is returned as it is,
 * without an array or a copy.
 */
export function getOptionConcatenated(msg: WithOptions, code: number): Uint8Array | undefined {
  let first: Uint8Array | undefined;
  let total = 0;
  let count = 0;
  for (const o of msg.options) {
    if (o.code !== code) continue;
    if (count === 0) first = o.data;
    total += o.data.length;
    count++;
  }
  if (count <= 1) return first;
  const out = new Uint8Array(total);
  let at = 0;
  for (const o of msg.options) {
    if (o.code !== code) continue;
    out.set(o.data, at);
    at += o.data.length;
  }
  return out;
}

export function hasOption(msg: WithOptions, code: number): boolean {
  return msg.options.some((o) => o.code === code);
}

/**
 * Checked view of an option's value; offset -1 in the error means "a message object, not a
 * buffer" (decode already rejects these, so only hand-built messages can hit it).
 */
function fixed(msg: WithOptions, code: number, length: number): Uint8Array | undefined {
  const data = getOptionConcatenated(msg, code);
  if (data === undefined) return undefined;
  if (data.length !== length) {
    throw new DecodeError('DHCP4_BAD_OPTION_LENGTH', -1, `option ${code} has length ${data.length}, want ${length}`);
  }
  return data;
}

// ---- value readers for option data -------------------------------------------------------

export function readIpOption(data: Uint8Array): string {
  if (data.length !== 4) throw new DecodeError('DHCP4_BAD_OPTION_LENGTH', -1, `want 4 octets, have ${data.length}`);
  return `${data[0]}.${data[1]}.${data[2]}.${data[3]}`;
}

export function readIpListOption(data: Uint8Array): string[] {
  if (data.length === 0 || data.length % 4 !== 0) {
    throw new DecodeError('DHCP4_BAD_OPTION_LENGTH', -1, `want a non-zero multiple of 4 octets, have ${data.length}`);
  }
  const out: string[] = [];
  for (let i = 0; i < data.length; i += 4) out.push(`${data[i]}.${data[i + 1]}.${data[i + 2]}.${data[i + 3]}`);
  return out;
}

export function readU32Option(data: Uint8Array): number {
  if (data.length !== 4) throw new DecodeError('DHCP4_BAD_OPTION_LENGTH', -1, `want 4 octets, have ${data.length}`);
  return (data[0] as number) * 0x1000000 + (((data[1] as number) << 16) | ((data[2] as number) << 8) | (data[3] as number));
}

export function readU16Option(data: Uint8Array): number {
  if (data.length !== 2) throw new DecodeError('DHCP4_BAD_OPTION_LENGTH', -1, `want 2 octets, have ${data.length}`);
  return ((data[0] as number) << 8) | (data[1] as number);
}

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** Octets as text; invalid UTF-8 becomes U+FFFD. A trailing NUL (some clients send one) is dropped. */
export function readStringOption(data: Uint8Array): string {
  const end = data.length > 0 && data[data.length - 1] === 0 ? data.length - 1 : data.length;
  return utf8.decode(data.subarray(0, end));
}

// ---- typed accessors -------------------------------------------------------------------------

/** Option 53 value (RFC 2132 §9.6), or undefined for a plain BOOTP message. */
export function messageType(msg: WithOptions): number | undefined {
  const data = fixed(msg, OptionCode.MESSAGE_TYPE, 1);
  return data === undefined ? undefined : (data[0] as number);
}

/** Option 50 (RFC 2132 §9.1). */
export function requestedIp(msg: WithOptions): string | undefined {
  const data = fixed(msg, OptionCode.REQUESTED_IP, 4);
  return data === undefined ? undefined : readIpOption(data);
}

/** Option 54 (RFC 2132 §9.7). */
export function serverId(msg: WithOptions): string | undefined {
  const data = fixed(msg, OptionCode.SERVER_ID, 4);
  return data === undefined ? undefined : readIpOption(data);
}

/** Option 51 in seconds (RFC 2132 §9.2). */
export function leaseTime(msg: WithOptions): number | undefined {
  const data = fixed(msg, OptionCode.LEASE_TIME, 4);
  return data === undefined ? undefined : readU32Option(data);
}

/** Option 57 (RFC 2132 §9.10). */
export function maxMessageSize(msg: WithOptions): number | undefined {
  const data = fixed(msg, OptionCode.MAX_MESSAGE_SIZE, 2);
  return data === undefined ? undefined : readU16Option(data);
}

/** Option 61 raw value, type octet included (RFC 2132 §9.14, RFC 6842). */
export function clientId(msg: WithOptions): Uint8Array | undefined {
  return getOptionConcatenated(msg, OptionCode.CLIENT_ID);
}

/** Option 55 as a list of codes (RFC 2132 §9.8); empty when absent. */
export function parameterRequestList(msg: WithOptions): number[] {
  const data = getOptionConcatenated(msg, OptionCode.PARAMETER_REQUEST_LIST);
  return data === undefined ? [] : Array.from(data);
}

/** Option 12 (RFC 2132 §3.14). */
export function hostname(msg: WithOptions): string | undefined {
  const data = getOptionConcatenated(msg, OptionCode.HOSTNAME);
  return data === undefined ? undefined : readStringOption(data);
}

/** Option 60 (RFC 2132 §9.13). */
export function vendorClassId(msg: WithOptions): string | undefined {
  const data = getOptionConcatenated(msg, OptionCode.VENDOR_CLASS_ID);
  return data === undefined ? undefined : readStringOption(data);
}

/** The first `hlen` octets of chaddr as `aa:bb:...` (six octets for Ethernet). */
export function macOf(msg: Pick<Dhcp4Message, 'chaddr' | 'hlen'>): string {
  return bytesToMac(msg.chaddr.subarray(0, Math.min(msg.hlen, CHADDR_LENGTH, msg.chaddr.length)));
}

/** RFC 2131 §2: the BROADCAST bit of `flags`. */
export function isBroadcast(msg: Pick<Dhcp4Message, 'flags'>): boolean {
  return (msg.flags & BROADCAST_FLAG) !== 0;
}

// ---- builders ---------------------------------------------------------------------------------

function checkCode(code: number): void {
  if (!Number.isInteger(code) || code < 1 || code > 254) throw encodeError('code', 'must be 1..254', code);
}

function checkData(code: number, data: Uint8Array): Dhcp4Option {
  checkCode(code);
  if (data.length > 255) throw encodeError(`option ${code}`, `${data.length} octets, at most 255`, data.length);
  return { code, data };
}

export function bytesOption(code: number, data: Uint8Array): Dhcp4Option {
  return checkData(code, Uint8Array.from(data));
}

export function ipOption(code: number, ip: string): Dhcp4Option {
  return checkData(code, ipToBytesForOption(code, ip));
}

export function ipListOption(code: number, ips: readonly string[]): Dhcp4Option {
  if (ips.length === 0) throw encodeError(`option ${code}`, 'needs at least one address');
  const data = new Uint8Array(ips.length * 4);
  ips.forEach((ip, k) => data.set(ipToBytesForOption(code, ip), k * 4));
  return checkData(code, data);
}

export function u32Option(code: number, value: number): Dhcp4Option {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw encodeError(`option ${code}`, 'must be an unsigned 32-bit integer', value);
  }
  return checkData(code, Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255));
}

export function u16Option(code: number, value: number): Dhcp4Option {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw encodeError(`option ${code}`, 'must be an unsigned 16-bit integer', value);
  }
  return checkData(code, Uint8Array.of(value >>> 8, value & 255));
}

export function u8Option(code: number, value: number): Dhcp4Option {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw encodeError(`option ${code}`, 'must be an unsigned 8-bit integer', value);
  }
  return checkData(code, Uint8Array.of(value));
}

/** UTF-8 text, no terminating NUL (RFC 2132 §2: options need not be NUL-terminated). */
export function stringOption(code: number, text: string): Dhcp4Option {
  return checkData(code, utf8Encoder.encode(text));
}

export function messageTypeOption(type: number): Dhcp4Option {
  return u8Option(OptionCode.MESSAGE_TYPE, type);
}

function ipToBytesForOption(code: number, ip: string): Uint8Array {
  try {
    return ipToBytes(ip);
  } catch {
    throw encodeError(`option ${code}`, 'not a dotted-quad IPv4 address', ip);
  }
}

/** A message with every field zero/empty, overridden by `fields`; handy for building replies. */
export function createDhcp4Message(fields: Partial<Dhcp4Message> = {}): Dhcp4Message {
  // the zero-filled arrays only when `fields` has none of its own (a reply names all three)
  return {
    op: Op.BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: fields.chaddr ?? new Uint8Array(CHADDR_LENGTH),
    sname: fields.sname ?? new Uint8Array(SNAME_LENGTH),
    file: fields.file ?? new Uint8Array(FILE_LENGTH),
    options: [],
    ...fields,
  };
}

/** chaddr field from hardware-address octets, zero-padded to 16 octets. */
export function chaddrOf(mac: Uint8Array): Uint8Array {
  if (mac.length > CHADDR_LENGTH) throw encodeError('chaddr', `at most ${CHADDR_LENGTH} octets`, mac.length);
  const out = new Uint8Array(CHADDR_LENGTH);
  out.set(mac);
  return out;
}

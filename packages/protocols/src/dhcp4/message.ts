/**
 * DHCPv4 message codec (RFC 2131 §2 layout, RFC 2132 options, option overload per RFC 2132 §9.3).
 * Pure and bounded: no I/O, every length is checked against what remains before it is read.
 */
import { tryIpToU32 } from '../net.js';
import {
  BOOTP_MIN_LENGTH,
  CHADDR_LENGTH,
  CHADDR_OFFSET,
  FILE_LENGTH,
  FILE_OFFSET,
  FIXED_HEADER_LENGTH,
  MAGIC_COOKIE,
  OPTIONS_OFFSET,
  Op,
  OptionCode,
  Overload,
  SNAME_LENGTH,
  SNAME_OFFSET,
} from './constants.js';
import { DecodeError, encodeError } from './errors.js';

export interface Dhcp4Option {
  code: number;
  data: Uint8Array;
}

export interface Dhcp4Message {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** always 16 octets when decoded; the first `hlen` are the hardware address */
  chaddr: Uint8Array;
  /** 64 octets when decoded; zero-filled when it carried options (overload) */
  sname: Uint8Array;
  /** 128 octets when decoded; zero-filled when it carried options (overload) */
  file: Uint8Array;
  /**
   * Options in wire order: the options field, then `file`, then `sname` when overloaded
   * (RFC 2131 §4.1 / RFC 3396 §5 order). Pad, End and Option Overload (52) are framing and are
   * not listed; duplicates are kept as separate entries.
   */
  options: Dhcp4Option[];
}

export interface EncodeDhcp4Options {
  /** pad with zeros to 300 octets (RFC 1542 §2.1). Default true. */
  pad?: boolean;
}

interface LengthRule {
  readonly min: number;
  readonly max: number;
  readonly multiple: number;
}

const exactly = (n: number): LengthRule => ({ min: n, max: n, multiple: 1 });
const ipList: LengthRule = { min: 4, max: Infinity, multiple: 4 };
const atLeast = (n: number): LengthRule => ({ min: n, max: Infinity, multiple: 1 });

/**
 * Lengths RFC 2132 fixes for the options the server acts on, checked on the RFC 3396
 * concatenation of all instances of the code (so a legitimately split option still passes).
 */
const lengthRules: ReadonlyMap<number, LengthRule> = new Map<number, LengthRule>([
  [OptionCode.SUBNET_MASK, exactly(4)], // RFC 2132 §3.3
  [OptionCode.ROUTER, ipList], // §3.5
  [OptionCode.DNS, ipList], // §3.8
  [OptionCode.HOSTNAME, atLeast(1)], // §3.14
  [OptionCode.DOMAIN_NAME, atLeast(1)], // §3.17
  [OptionCode.BROADCAST_ADDRESS, exactly(4)], // §5.3
  [OptionCode.REQUESTED_IP, exactly(4)], // §9.1
  [OptionCode.LEASE_TIME, exactly(4)], // §9.2
  [OptionCode.MESSAGE_TYPE, exactly(1)], // §9.6
  [OptionCode.SERVER_ID, exactly(4)], // §9.7
  [OptionCode.PARAMETER_REQUEST_LIST, atLeast(1)], // §9.8
  [OptionCode.MAX_MESSAGE_SIZE, exactly(2)], // §9.10
  [OptionCode.RENEWAL_TIME, exactly(4)], // §9.11
  [OptionCode.REBINDING_TIME, exactly(4)], // §9.12
  [OptionCode.VENDOR_CLASS_ID, atLeast(1)], // §9.13
  [OptionCode.CLIENT_ID, atLeast(2)], // §9.14: type octet plus at least one octet
  [OptionCode.RELAY_AGENT_INFO, atLeast(2)], // RFC 3046 §2.0: at least one sub-option header
]);

/** the same rules indexed by code, for the per-message checks */
const ruleByCode: ReadonlyArray<LengthRule | undefined> = Array.from({ length: 256 }, (_, code) => lengthRules.get(code));

function ruleViolation(code: number, length: number): string | undefined {
  const rule = ruleByCode[code];
  if (rule === undefined) return undefined;
  if (length < rule.min || length > rule.max || length % rule.multiple !== 0) {
    const want =
      rule.min === rule.max
        ? `${rule.min}`
        : rule.multiple > 1
          ? `a non-zero multiple of ${rule.multiple}`
          : `at least ${rule.min}`;
    return `option ${code} has length ${length}, want ${want}`;
  }
  return undefined;
}

type Area = 'options' | 'file' | 'sname';

/**
 * Walks one option area `[start, end)`, appending to `out` (the option's offset to `offsets`).
 * Returns the Overload value if seen.
 */
function readArea(bytes: Uint8Array, start: number, end: number, area: Area, out: Dhcp4Option[], offsets: number[]): number | undefined {
  let overload: number | undefined;
  let i = start;
  while (i < end) {
    const code = bytes[i] as number;
    // RFC 2132 §3.1: Pad is a single octet with no length.
    if (code === OptionCode.PAD) {
      i += 1;
      continue;
    }
    // RFC 2132 §3.2: End closes the area; whatever follows is padding.
    if (code === OptionCode.END) return overload;
    if (i + 1 >= end) {
      throw new DecodeError('DHCP4_OPTION_TRUNCATED', i, `option ${code} in ${area} has no length octet`);
    }
    const len = bytes[i + 1] as number;
    if (i + 2 + len > end) {
      throw new DecodeError(
        'DHCP4_OPTION_OVERRUN',
        i,
        `option ${code} in ${area} claims ${len} octets, ${end - i - 2} remain`,
      );
    }
    if (code === OptionCode.OVERLOAD) {
      // RFC 2132 §9.3: the option is only meaningful in the options field, has length 1 and a
      // value 1..3; anything else makes the sname/file fields ambiguous, so reject.
      if (area !== 'options') {
        throw new DecodeError('DHCP4_BAD_OVERLOAD', i, `option 52 inside the ${area} field`);
      }
      if (overload !== undefined) throw new DecodeError('DHCP4_BAD_OVERLOAD', i, 'option 52 appears twice');
      const value = bytes[i + 2] as number;
      if (len !== 1 || value < Overload.FILE || value > Overload.BOTH) {
        throw new DecodeError('DHCP4_BAD_OVERLOAD', i, `option 52 with length ${len} value ${value}`);
      }
      overload = value;
    } else {
      out.push({ code, data: bytes.subarray(i + 2, i + 2 + len) });
      offsets.push(i);
    }
    i += 2 + len;
  }
  // No End option: RFC 2131 §3 requires one, but real stacks omit it after the last option;
  // the area's bound ends the walk just as well, so accept.
  return overload;
}

function readIp(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

function readU16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] as number) * 0x1000000 +
    (((bytes[offset + 1] as number) << 16) | ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number))
  );
}

/**
 * Decodes one DHCPv4 (BOOTP with the RFC 2131 magic cookie) message from a UDP payload. The
 * message's byte fields (chaddr, sname, file, option data) are views of `bytes`, not copies:
 * change neither while the message is in use.
 */
export function decodeDhcp4(bytes: Uint8Array): Dhcp4Message {
  if (bytes.length < FIXED_HEADER_LENGTH) {
    throw new DecodeError(
      'DHCP4_TRUNCATED_HEADER',
      bytes.length,
      `${bytes.length} octets, the fixed header needs ${FIXED_HEADER_LENGTH}`,
    );
  }
  const op = bytes[0] as number;
  if (op !== Op.BOOTREQUEST && op !== Op.BOOTREPLY) {
    throw new DecodeError('DHCP4_BAD_OP', 0, `op ${op}`);
  }
  const hlen = bytes[2] as number;
  if (hlen > CHADDR_LENGTH) {
    throw new DecodeError('DHCP4_BAD_HLEN', 2, `hlen ${hlen} exceeds the ${CHADDR_LENGTH}-octet chaddr field`);
  }
  if (bytes.length < OPTIONS_OFFSET) {
    throw new DecodeError('DHCP4_MISSING_COOKIE', bytes.length, 'no room for the magic cookie');
  }
  for (let k = 0; k < 4; k++) {
    // RFC 2131 §3: options start with 99.130.83.99; without it the vend field is not DHCP.
    if (bytes[FIXED_HEADER_LENGTH + k] !== MAGIC_COOKIE[k]) {
      throw new DecodeError('DHCP4_BAD_COOKIE', FIXED_HEADER_LENGTH + k, 'magic cookie is not 99.130.83.99');
    }
  }

  const options: Dhcp4Option[] = [];
  const offsets: number[] = [];
  const overload = readArea(bytes, OPTIONS_OFFSET, bytes.length, 'options', options, offsets);
  let sname = bytes.subarray(SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH);
  let file = bytes.subarray(FILE_OFFSET, FILE_OFFSET + FILE_LENGTH);
  // RFC 2131 §4.1: with overload the client reads the options field, then `file`, then `sname`.
  if (overload === Overload.FILE || overload === Overload.BOTH) {
    readArea(bytes, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, 'file', options, offsets);
    file = new Uint8Array(FILE_LENGTH);
  }
  if (overload === Overload.SNAME || overload === Overload.BOTH) {
    readArea(bytes, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, 'sname', options, offsets);
    sname = new Uint8Array(SNAME_LENGTH);
  }

  checkLengths(options, offsets);

  return {
    op,
    htype: bytes[1] as number,
    hlen,
    hops: bytes[3] as number,
    xid: readU32(bytes, 4),
    secs: readU16(bytes, 8),
    flags: readU16(bytes, 10),
    ciaddr: readIp(bytes, 12),
    yiaddr: readIp(bytes, 16),
    siaddr: readIp(bytes, 20),
    giaddr: readIp(bytes, 24),
    chaddr: bytes.subarray(CHADDR_OFFSET, CHADDR_OFFSET + CHADDR_LENGTH),
    sname,
    file,
    options,
  };
}

// Per-code sums for the length rules, shared by every check (they run one at a time, and each
// leaves every entry back at -1): `total[code]` is -1 until the code is seen.
const total = new Int32Array(256).fill(-1);
const firstAt = new Int32Array(256);
const seenCodes: number[] = [];

/**
 * RFC 3396 §6 applied to the length rules: sums every instance of each ruled code, then checks
 * the sums. Returns the first violation as [code, where its first instance is, summed length,
 * problem]; `where` is the offset from `offsets`, or the option's index without them.
 */
function lengthViolation(options: readonly Dhcp4Option[], offsets: readonly number[] | undefined): [number, number, number, string] | undefined {
  for (let k = 0; k < options.length; k++) {
    const o = options[k] as Dhcp4Option;
    const code = o.code;
    if (ruleByCode[code] === undefined) continue;
    if (total[code] === -1) {
      total[code] = o.data.length;
      firstAt[code] = offsets !== undefined ? (offsets[k] as number) : k;
      seenCodes.push(code);
    } else total[code] = (total[code] as number) + o.data.length;
  }
  let found: [number, number, number, string] | undefined;
  for (const code of seenCodes) {
    const length = total[code] as number;
    total[code] = -1;
    if (found !== undefined) continue;
    const problem = ruleViolation(code, length);
    if (problem !== undefined) found = [code, firstAt[code] as number, length, problem];
  }
  seenCodes.length = 0;
  return found;
}

function checkLengths(options: readonly Dhcp4Option[], offsets: readonly number[]): void {
  const v = lengthViolation(options, offsets);
  if (v !== undefined) throw new DecodeError('DHCP4_BAD_OPTION_LENGTH', v[1], v[3]);
}

/** The same length checks decode applies, for messages built in code. Throws BNG_ERR_ENCODE. */
function checkOptionLengths(options: readonly Dhcp4Option[]): void {
  const v = lengthViolation(options, undefined);
  if (v !== undefined) throw encodeError(`options[${v[0]}]`, v[3], v[2]);
}

function checkUint(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw encodeError(field, `must be an integer in 0..${max}`, value);
  }
}

function writeIp(out: Uint8Array, offset: number, field: string, ip: string): void {
  const v = typeof ip === 'string' ? tryIpToU32(ip) : -1;
  if (v < 0) throw encodeError(field, 'not a dotted-quad IPv4 address', ip);
  out[offset] = v >>> 24;
  out[offset + 1] = (v >>> 16) & 0xff;
  out[offset + 2] = (v >>> 8) & 0xff;
  out[offset + 3] = v & 0xff;
}

// Encoded messages are carved out of a shared slab, each a view of its own never-used (so still
// zero) bytes: one allocation per slab instead of one backing store per message. A new slab
// replaces a full one; the old one lives on as long as a message carved from it does.
const SLAB_BYTES = 64 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** `length` zero octets of their own */
function zeroed(length: number): Uint8Array {
  if (length > SLAB_BYTES / 4) return new Uint8Array(length);
  if (slabUsed + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, length);
  // 8-byte aligned starts, so that readers taking wider views of a message need not copy it
  slabUsed += (length + 7) & ~7;
  return out;
}

function checkBytes(field: string, value: unknown, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw encodeError(field, 'must be a Uint8Array');
  if (value.length > max) throw encodeError(field, `is ${value.length} octets, at most ${max}`, value.length);
  return value;
}

/**
 * Encodes a message: fixed header, magic cookie, options in the given order, End, then zero
 * padding up to 300 octets unless `pad: false`. Never overloads sname/file; an option longer
 * than 255 octets must be split by the caller (RFC 3396) into several entries.
 */
export function encodeDhcp4(msg: Dhcp4Message, opts: EncodeDhcp4Options = {}): Uint8Array {
  if (msg.op !== Op.BOOTREQUEST && msg.op !== Op.BOOTREPLY) throw encodeError('op', 'must be 1 or 2', msg.op);
  checkUint('htype', msg.htype, 0xff);
  checkUint('hlen', msg.hlen, CHADDR_LENGTH);
  checkUint('hops', msg.hops, 0xff);
  checkUint('xid', msg.xid, 0xffffffff);
  checkUint('secs', msg.secs, 0xffff);
  checkUint('flags', msg.flags, 0xffff);
  const chaddr = checkBytes('chaddr', msg.chaddr, CHADDR_LENGTH);
  const sname = checkBytes('sname', msg.sname, SNAME_LENGTH);
  const file = checkBytes('file', msg.file, FILE_LENGTH);
  if (!Array.isArray(msg.options)) throw encodeError('options', 'must be an array');

  let optionBytes = 0;
  for (let index = 0; index < msg.options.length; index++) {
    const o = msg.options[index] as Dhcp4Option;
    checkUint(`options[${index}].code`, o.code, 0xff);
    // RFC 2132 §3.1/3.2: Pad and End are framing the encoder writes itself; RFC 2132 §9.3: the
    // encoder never overloads, so an Overload option would point at fields holding no options.
    if (o.code === OptionCode.PAD || o.code === OptionCode.END || o.code === OptionCode.OVERLOAD) {
      throw encodeError(`options[${index}].code`, 'pad, end and overload are written by the encoder', o.code);
    }
    checkBytes(`options[${index}].data`, o.data, 0xff);
    optionBytes += 2 + o.data.length;
  }
  checkOptionLengths(msg.options);

  const length = OPTIONS_OFFSET + optionBytes + 1;
  const out = zeroed(opts.pad === false ? length : Math.max(length, BOOTP_MIN_LENGTH));
  out[0] = msg.op;
  out[1] = msg.htype;
  out[2] = msg.hlen;
  out[3] = msg.hops;
  out[4] = msg.xid >>> 24;
  out[5] = (msg.xid >>> 16) & 0xff;
  out[6] = (msg.xid >>> 8) & 0xff;
  out[7] = msg.xid & 0xff;
  out[8] = msg.secs >>> 8;
  out[9] = msg.secs & 0xff;
  out[10] = msg.flags >>> 8;
  out[11] = msg.flags & 0xff;
  writeIp(out, 12, 'ciaddr', msg.ciaddr);
  writeIp(out, 16, 'yiaddr', msg.yiaddr);
  writeIp(out, 20, 'siaddr', msg.siaddr);
  writeIp(out, 24, 'giaddr', msg.giaddr);
  out.set(chaddr, CHADDR_OFFSET);
  out.set(sname, SNAME_OFFSET);
  out.set(file, FILE_OFFSET);
  out.set(MAGIC_COOKIE, FIXED_HEADER_LENGTH);
  let i = OPTIONS_OFFSET;
  for (const o of msg.options) {
    out[i] = o.code;
    out[i + 1] = o.data.length;
    out.set(o.data, i + 2);
    i += 2 + o.data.length;
  }
  out[i] = OptionCode.END;
  return out;
}

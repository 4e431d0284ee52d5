/**
 * Ethernet / 802.1Q / 802.1ad / IPv4 / UDP frames: build one with correct checksums (RFC 791
 * §3.1, RFC 768), or parse one strictly (malformed input throws a FrameError with a stable code
 * and offset). The daemon's AF_PACKET path and the tests both use these.
 */
import * as dhcp4 from './dhcp4/index.js';
import { bytesToMac, internetChecksum, ipToBytes, macToBytes, onesSum } from './net.js';


export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100, // IEEE 802.1Q C-tag
  QINQ: 0x88a8, // IEEE 802.1ad S-tag
  IPV6: 0x86dd,
} as const;

export const IpProtocol = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
} as const;

export interface VlanTag {
  tpid: 0x8100 | 0x88a8;
  vid: number;
  /** priority code point, 0..7; default 0 */
  pcp?: number;
  /** drop eligible indicator; default false */
  dei?: boolean;
}

export interface UdpFrameSpec {
  dstMac: string;
  srcMac: string;
  /** outermost first */
  vlans?: readonly VlanTag[];
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
  /** raw IPv4 options, a multiple of 4 octets, at most 40 */
  ipOptions?: Uint8Array;
  /** default 64 */
  ttl?: number;
  /** default 0 */
  ipId?: number;
  /** default 0 */
  tos?: number;
  /** set the IPv4 Don't Fragment bit; default false */
  dontFragment?: boolean;
  /** compute the UDP checksum (default true); false writes 0, "no checksum" (RFC 768) */
  udpChecksum?: boolean;
}

export const FrameErrorCode = {
  FRAME_TRUNCATED_ETHERNET: 'FRAME_TRUNCATED_ETHERNET',
  FRAME_TRUNCATED_VLAN: 'FRAME_TRUNCATED_VLAN',
  FRAME_TRUNCATED_IPV4: 'FRAME_TRUNCATED_IPV4',
  FRAME_BAD_IP_VERSION: 'FRAME_BAD_IP_VERSION',
  FRAME_BAD_IHL: 'FRAME_BAD_IHL',
  FRAME_BAD_IP_LENGTH: 'FRAME_BAD_IP_LENGTH',
  FRAME_TRUNCATED_UDP: 'FRAME_TRUNCATED_UDP',
  FRAME_BAD_UDP_LENGTH: 'FRAME_BAD_UDP_LENGTH',
  FRAME_BAD_SPEC: 'FRAME_BAD_SPEC',
  FRAME_NOT_UDP: 'FRAME_NOT_UDP',
} as const;
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

export class FrameError extends Error {
  readonly code: FrameErrorCode;
  readonly offset: number;
  constructor(code: FrameErrorCode, offset: number, message: string) {
    super(`${code} at offset ${offset}: ${message}`);
    this.name = 'FrameError';
    this.code = code;
    this.offset = offset;
  }
}

export interface ParsedVlanTag {
  tpid: number;
  vid: number;
  pcp: number;
  dei: boolean;
}

export interface ParsedIpv4 {
  src: string;
  dst: string;
  /** header length in 32-bit words */
  ihl: number;
  tos: number;
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** in 8-octet units */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  headerChecksum: number;
  headerChecksumOk: boolean;
  options: Uint8Array;
}

export interface ParsedUdp {
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
  /** true when the checksum verifies, and also when it is 0 ("not computed", RFC 768) */
  checksumOk: boolean;
}

export interface ParsedFrame {
  dstMac: string;
  srcMac: string;
  /** outermost first */
  vlans: ParsedVlanTag[];
  /** the EtherType after the last VLAN tag */
  etherType: number;
  ipv4?: ParsedIpv4;
  udp?: ParsedUdp;
  /** UDP payload for UDP; IP payload for other IPv4; everything after the EtherType otherwise */
  payload: Uint8Array;
}

const ETH_HEADER = 14;
const VLAN_TAG = 4;
const IPV4_MIN_HEADER = 20;
const UDP_HEADER = 8;

function checkRange(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new FrameError('FRAME_BAD_SPEC', 0, `${field} must be an integer in 0..${max}, got ${value}`);
  }
}

/** RFC 768: pseudo-header partial sum (source, destination, zero, protocol, UDP length). */
function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = onesSum(src);
  sum = onesSum(dst, 0, 4, sum);
  return onesSum(Uint8Array.of(0, protocol, length >>> 8, length & 0xff), 0, 4, sum);
}

export function buildUdpFrame(spec: UdpFrameSpec): Uint8Array {
  const vlans = spec.vlans ?? [];
  const ipOptions = spec.ipOptions ?? new Uint8Array(0);
  // RFC 791 §3.1: IHL counts 32-bit words and is at most 15, so options fill at most 40 octets.
  if (ipOptions.length % 4 !== 0 || ipOptions.length > 40) {
    throw new FrameError('FRAME_BAD_SPEC', 0, `ipOptions must be a multiple of 4 octets, at most 40 (${ipOptions.length})`);
  }
  const ttl = spec.ttl ?? 64;
  const ipId = spec.ipId ?? 0;
  const tos = spec.tos ?? 0;
  checkRange('ttl', ttl, 0xff);
  checkRange('ipId', ipId, 0xffff);
  checkRange('tos', tos, 0xff);
  checkRange('srcPort', spec.srcPort, 0xffff);
  checkRange('dstPort', spec.dstPort, 0xffff);
  for (const [k, v] of vlans.entries()) {
    if (v.tpid !== EtherType.VLAN && v.tpid !== EtherType.QINQ) {
      throw new FrameError('FRAME_BAD_SPEC', 0, `vlans[${k}].tpid must be 0x8100 or 0x88a8`);
    }
    checkRange(`vlans[${k}].vid`, v.vid, 0xfff);
    checkRange(`vlans[${k}].pcp`, v.pcp ?? 0, 7);
  }
  const ipHeaderLength = IPV4_MIN_HEADER + ipOptions.length;
  const udpLength = UDP_HEADER + spec.payload.length;
  const ipTotalLength = ipHeaderLength + udpLength;
  if (ipTotalLength > 0xffff) throw new FrameError('FRAME_BAD_SPEC', 0, `IPv4 datagram of ${ipTotalLength} octets`);

  const l2 = ETH_HEADER + VLAN_TAG * vlans.length;
  const out = new Uint8Array(l2 + ipTotalLength);
  const src = ipToBytes(spec.srcIp);
  const dst = ipToBytes(spec.dstIp);

  out.set(macToBytes(spec.dstMac), 0);
  out.set(macToBytes(spec.srcMac), 6);
  let at = 12;
  for (const v of vlans) {
    const tci = ((v.pcp ?? 0) << 13) | (v.dei === true ? 0x1000 : 0) | v.vid;
    out[at] = v.tpid >>> 8;
    out[at + 1] = v.tpid & 0xff;
    out[at + 2] = tci >>> 8;
    out[at + 3] = tci & 0xff;
    at += VLAN_TAG;
  }
  out[at] = EtherType.IPV4 >>> 8;
  out[at + 1] = EtherType.IPV4 & 0xff;

  const ip = l2;
  out[ip] = 0x40 | (ipHeaderLength / 4);
  out[ip + 1] = tos;
  out[ip + 2] = ipTotalLength >>> 8;
  out[ip + 3] = ipTotalLength & 0xff;
  out[ip + 4] = ipId >>> 8;
  out[ip + 5] = ipId & 0xff;
  out[ip + 6] = spec.dontFragment === true ? 0x40 : 0;
  out[ip + 7] = 0;
  out[ip + 8] = ttl;
  out[ip + 9] = IpProtocol.UDP;
  out.set(src, ip + 12);
  out.set(dst, ip + 16);
  out.set(ipOptions, ip + IPV4_MIN_HEADER);
  const ipSum = internetChecksum(out, ip, ip + ipHeaderLength);
  out[ip + 10] = ipSum >>> 8;
  out[ip + 11] = ipSum & 0xff;

  const udp = ip + ipHeaderLength;
  out[udp] = spec.srcPort >>> 8;
  out[udp + 1] = spec.srcPort & 0xff;
  out[udp + 2] = spec.dstPort >>> 8;
  out[udp + 3] = spec.dstPort & 0xff;
  out[udp + 4] = udpLength >>> 8;
  out[udp + 5] = udpLength & 0xff;
  out.set(spec.payload, udp + UDP_HEADER);
  if (spec.udpChecksum !== false) {
    let sum = internetChecksum(out, udp, udp + udpLength, pseudoHeaderSum(src, dst, IpProtocol.UDP, udpLength));
    // RFC 768: a computed checksum of zero is sent as all ones; zero means "none".
    if (sum === 0) sum = 0xffff;
    out[udp + 6] = sum >>> 8;
    out[udp + 7] = sum & 0xff;
  }
  return out;
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function ipAt(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

export function parseFrame(bytes: Uint8Array): ParsedFrame {
  if (bytes.length < ETH_HEADER) {
    throw new FrameError('FRAME_TRUNCATED_ETHERNET', bytes.length, `${bytes.length} octets, need ${ETH_HEADER}`);
  }
  const dstMac = bytesToMac(bytes.subarray(0, 6));
  const srcMac = bytesToMac(bytes.subarray(6, 12));
  const vlans: ParsedVlanTag[] = [];
  let at = 12;
  let etherType = u16(bytes, at);
  while (etherType === EtherType.VLAN || etherType === EtherType.QINQ) {
    // tag (TCI) plus the next EtherType
    if (at + 2 + VLAN_TAG > bytes.length) {
      throw new FrameError('FRAME_TRUNCATED_VLAN', at, 'VLAN tag cut short');
    }
    const tci = u16(bytes, at + 2);
    vlans.push({ tpid: etherType, vid: tci & 0xfff, pcp: tci >>> 13, dei: (tci & 0x1000) !== 0 });
    at += VLAN_TAG;
    etherType = u16(bytes, at);
  }
  const l3 = at + 2;
  if (etherType !== EtherType.IPV4) {
    return { dstMac, srcMac, vlans, etherType, payload: bytes.slice(l3) };
  }

  if (l3 + IPV4_MIN_HEADER > bytes.length) {
    throw new FrameError('FRAME_TRUNCATED_IPV4', l3, `${bytes.length - l3} octets after the EtherType`);
  }
  const version = (bytes[l3] as number) >>> 4;
  if (version !== 4) throw new FrameError('FRAME_BAD_IP_VERSION', l3, `version ${version}`);
  const ihl = (bytes[l3] as number) & 0x0f;
  const headerLength = ihl * 4;
  if (ihl < 5 || l3 + headerLength > bytes.length) {
    throw new FrameError('FRAME_BAD_IHL', l3, `ihl ${ihl} with ${bytes.length - l3} octets available`);
  }
  const totalLength = u16(bytes, l3 + 2);
  // Anything past totalLength is Ethernet padding (short frames are padded to 60 octets).
  if (totalLength < headerLength || l3 + totalLength > bytes.length) {
    throw new FrameError('FRAME_BAD_IP_LENGTH', l3 + 2, `total length ${totalLength}, ${bytes.length - l3} available`);
  }
  const flagsFrag = u16(bytes, l3 + 6);
  const ipv4: ParsedIpv4 = {
    src: ipAt(bytes, l3 + 12),
    dst: ipAt(bytes, l3 + 16),
    ihl,
    tos: bytes[l3 + 1] as number,
    totalLength,
    id: u16(bytes, l3 + 4),
    dontFragment: (flagsFrag & 0x4000) !== 0,
    moreFragments: (flagsFrag & 0x2000) !== 0,
    fragmentOffset: flagsFrag & 0x1fff,
    ttl: bytes[l3 + 8] as number,
    protocol: bytes[l3 + 9] as number,
    headerChecksum: u16(bytes, l3 + 10),
    headerChecksumOk: internetChecksum(bytes, l3, l3 + headerLength) === 0,
    options: bytes.slice(l3 + IPV4_MIN_HEADER, l3 + headerLength),
  };
  const l4 = l3 + headerLength;
  const l4End = l3 + totalLength;
  const isFirstFragmentOnly = ipv4.fragmentOffset === 0 && !ipv4.moreFragments;
  if (ipv4.protocol !== IpProtocol.UDP || !isFirstFragmentOnly) {
    return { dstMac, srcMac, vlans, etherType, ipv4, payload: bytes.slice(l4, l4End) };
  }

  if (l4 + UDP_HEADER > l4End) throw new FrameError('FRAME_TRUNCATED_UDP', l4, `${l4End - l4} octets of UDP`);
  const length = u16(bytes, l4 + 4);
  if (length < UDP_HEADER || l4 + length > l4End) {
    throw new FrameError('FRAME_BAD_UDP_LENGTH', l4 + 4, `UDP length ${length}, ${l4End - l4} in the datagram`);
  }
  const checksum = u16(bytes, l4 + 6);
  const checksumOk =
    checksum === 0 ||
    internetChecksum(
      bytes,
      l4,
      l4 + length,
      pseudoHeaderSum(bytes.subarray(l3 + 12, l3 + 16), bytes.subarray(l3 + 16, l3 + 20), IpProtocol.UDP, length),
    ) === 0;
  const udp: ParsedUdp = { srcPort: u16(bytes, l4), dstPort: u16(bytes, l4 + 2), length, checksum, checksumOk };
  return { dstMac, srcMac, vlans, etherType, ipv4, udp, payload: bytes.slice(l4 + UDP_HEADER, l4 + length) };
}

export interface Dhcp4FrameSpec {
  /** default: chaddr for a request, 02:00:00:00:00:fe for a reply */
  srcMac?: string;
  /** default ff:ff:ff:ff:ff:ff */
  dstMac?: string;
  vlans?: readonly VlanTag[];
  /** default: ciaddr for a request (0.0.0.0 before the client has an address), 0.0.0.0 for a reply */
  srcIp?: string;
  dstIp?: string;
  /** default 68 -> 67 for BOOTREQUEST, 67 -> 68 for BOOTREPLY */
  srcPort?: number;
  dstPort?: number;
  ttl?: number;
  ipId?: number;
  udpChecksum?: boolean;
  /** encode without the 300-octet padding */
  unpadded?: boolean;
}

/**
 * An Ethernet frame carrying a DHCPv4 message, with defaults for the common case: a request
 * goes from chaddr / ciaddr:68 to ff:ff:ff:ff:ff:ff / 255.255.255.255:67 (RFC 2131 §4.1), a
 * reply from :67 to :68.
 */
export function buildDhcp4Frame(msg: dhcp4.Dhcp4Message, spec: Dhcp4FrameSpec = {}): Uint8Array {
  const isRequest = msg.op === dhcp4.Op.BOOTREQUEST;
  return buildUdpFrame({
    dstMac: spec.dstMac ?? 'ff:ff:ff:ff:ff:ff',
    srcMac: spec.srcMac ?? (isRequest ? dhcp4.macOf(msg) : '02:00:00:00:00:fe'),
    ...(spec.vlans !== undefined ? { vlans: spec.vlans } : {}),
    srcIp: spec.srcIp ?? (isRequest ? msg.ciaddr : '0.0.0.0'),
    dstIp: spec.dstIp ?? '255.255.255.255',
    srcPort: spec.srcPort ?? (isRequest ? dhcp4.Port.CLIENT : dhcp4.Port.SERVER),
    dstPort: spec.dstPort ?? (isRequest ? dhcp4.Port.SERVER : dhcp4.Port.CLIENT),
    payload: dhcp4.encodeDhcp4(msg, { pad: spec.unpadded !== true }),
    ...(spec.ttl !== undefined ? { ttl: spec.ttl } : {}),
    ...(spec.ipId !== undefined ? { ipId: spec.ipId } : {}),
    ...(spec.udpChecksum !== undefined ? { udpChecksum: spec.udpChecksum } : {}),
  });
}

/** parseFrame, then decodeDhcp4 of the UDP payload; throws if the frame is not UDP. */
export function parseDhcp4Frame(bytes: Uint8Array): ParsedFrame & { udp: ParsedUdp; ipv4: ParsedIpv4; dhcp: dhcp4.Dhcp4Message } {
  const frame = parseFrame(bytes);
  if (frame.ipv4 === undefined || frame.udp === undefined) {
    throw new FrameError('FRAME_NOT_UDP', 12, 'not an IPv4/UDP frame');
  }
  return { ...frame, ipv4: frame.ipv4, udp: frame.udp, dhcp: dhcp4.decodeDhcp4(frame.payload) };
}

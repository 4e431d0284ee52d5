// Classic BPF socket filters (SO_ATTACH_FILTER): a tiny assembler and the filter a DHCPv4 server's
// AF_PACKET socket uses so that it is not handed every subscriber frame.
// Encoding: struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }, host byte order, with
// the constants of linux/bpf_common.h and linux/filter.h; the semantics (A and X registers,
// forward-only jumps, ancillary loads at SKF_AD_OFF) are in the kernel's
// Documentation/networking/filter.rst.
import { endianness } from 'node:os';

// instruction classes
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
// load sizes
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
// load modes; BPF_MSH is X = 4 * (P[k] & 0xf), the IPv4 header length
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
// ALU operations
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
// jumps
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
// operand: the constant k or the X register; BPF_RET | BPF_A returns the A register
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
// BPF_MISC operations
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;
/** the kernel's limit on program length */
export const BPF_MAXINSNS = 4096;
// ancillary data: loads from SKF_AD_OFF + SKF_AD_* read skb fields, not packet bytes
export const SKF_AD_OFF = -0x1000;
export const SKF_AD_PROTOCOL = 0;
export const SKF_AD_PKTTYPE = 4;
export const SKF_AD_IFINDEX = 8;
export const SKF_AD_VLAN_TAG = 44;
export const SKF_AD_VLAN_TAG_PRESENT = 48;
export const SKF_AD_VLAN_TPID = 60;

/** One struct sock_filter. jt/jf are forward offsets from the next instruction. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A line of assembly: an instruction whose jump targets are label names, or a label. */
export type AsmLine = { label: string } | { code: number; k: number; jt?: string; jf?: string };

/** BPF_STMT of linux/filter.h */
export function stmt(code: number, k = 0): AsmLine {
  return { code, k };
}

/** BPF_JUMP with label targets; an omitted target falls through to the next instruction. */
export function jump(code: number, k: number, jt?: string, jf?: string): AsmLine {
  return { code, k, ...(jt !== undefined ? { jt } : {}), ...(jf !== undefined ? { jf } : {}) };
}

export function label(name: string): AsmLine {
  return { label: name };
}

/** Resolves labels into jump offsets and encodes the program. */
export function assemble(lines: readonly AsmLine[]): Buffer {
  const at = new Map<string, number>();
  const insns: Array<{ code: number; k: number; jt?: string; jf?: string }> = [];
  for (const l of lines) {
    if ('label' in l) {
      if (at.has(l.label)) throw new Error(`cBPF: label ${l.label} defined twice`);
      at.set(l.label, insns.length);
    } else {
      insns.push(l);
    }
  }
  const offset = (i: number, target: string | undefined): number => {
    if (target === undefined) return 0;
    const to = at.get(target);
    if (to === undefined) throw new Error(`cBPF: unknown label ${target}`);
    const off = to - (i + 1);
    // jt/jf are u8 and only jump forward; a label after the last instruction is no target
    if (off < 0 || off > 255 || to >= insns.length) throw new Error(`cBPF: instruction ${i} cannot jump to ${target} (offset ${off})`);
    return off;
  };
  return encode(insns.map((ins, i) => ({ code: ins.code, k: ins.k, jt: offset(i, ins.jt), jf: offset(i, ins.jf) })));
}

/** struct sock_filter[] in host byte order, as SO_ATTACH_FILTER takes it. */
export function encode(insns: readonly SockFilter[]): Buffer {
  if (insns.length === 0 || insns.length > BPF_MAXINSNS) throw new Error(`cBPF: ${insns.length} instructions, need 1..${BPF_MAXINSNS}`);
  const le = endianness() === 'LE';
  const out = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    const o = i * 8;
    if (le) out.writeUInt16LE(ins.code, o);
    else out.writeUInt16BE(ins.code, o);
    out.writeUInt8(ins.jt, o + 2);
    out.writeUInt8(ins.jf, o + 3);
    // k is a u32; negative offsets such as SKF_AD_OFF wrap
    if (le) out.writeUInt32LE(ins.k >>> 0, o + 4);
    else out.writeUInt32BE(ins.k >>> 0, o + 4);
  });
  return out;
}

const PACKET_OUTGOING = 4; // linux/if_packet.h
const ETH_P_IP = 0x0800;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const IPPROTO_UDP = 17;
const DHCP_SERVER_PORT = 67;
/** accept: keep up to 256 KiB of the frame, i.e. all of it */
export const FILTER_ACCEPT = 0x40000;

/**
 * Accepts IPv4/UDP to port 67 that this host did not send, after 0, 1 or 2 VLAN tags (0x8100 or
 * 0x88a8) left in the frame data: the kernel strips the outer tag into PACKET_AUXDATA before
 * AF_PACKET sees the frame, so QinQ shows one tag and single-tagged frames none. Non-first
 * fragments are refused (no UDP header); IP options are skipped using the IHL. With `directOnly`,
 * requests a relay agent forwarded (BOOTP giaddr, RFC 2131 §2, not 0.0.0.0) are refused too: a
 * daemon that takes those on its UDP socket need not read them twice.
 */
export function dhcpServerFilter(opts: { directOnly?: boolean } = {}): Buffer {
  const jeq = (k: number, jt?: string, jf?: string) => jump(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
  const lines: AsmLine[] = [
    stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    jeq(PACKET_OUTGOING, 'reject'),
  ];
  // EtherType (or TPID) at 12, 16, 20; each tag sends us on to the next
  for (let tags = 0; tags <= 2; tags++) {
    lines.push(label(`tags${tags}`), stmt(BPF_LD | BPF_H | BPF_ABS, 12 + 4 * tags));
    if (tags < 2) lines.push(jeq(ETH_P_8021Q, `tags${tags + 1}`), jeq(ETH_P_8021AD, `tags${tags + 1}`));
    lines.push(jeq(ETH_P_IP, `ip${tags}`, 'reject'));
  }
  // one IPv4/UDP check per tag count: BPF_MSH takes only a constant offset
  for (let tags = 0; tags <= 2; tags++) {
    const ip = 14 + 4 * tags;
    lines.push(
      label(`ip${tags}`),
      stmt(BPF_LD | BPF_B | BPF_ABS, ip + 9),
      jeq(IPPROTO_UDP, undefined, 'reject'),
      stmt(BPF_LD | BPF_H | BPF_ABS, ip + 6),
      jump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 'reject'),
      stmt(BPF_LDX | BPF_B | BPF_MSH, ip),
      stmt(BPF_LD | BPF_H | BPF_IND, ip + 2),
      jeq(DHCP_SERVER_PORT, opts.directOnly ? undefined : 'accept', 'reject'),
    );
    // giaddr: UDP header (8) + BOOTP offset 24; a frame too short for it is refused by the kernel
    if (opts.directOnly) lines.push(stmt(BPF_LD | BPF_W | BPF_IND, ip + 8 + 24), jeq(0, 'accept', 'reject'));
  }
  lines.push(label('accept'), stmt(BPF_RET | BPF_K, FILTER_ACCEPT), label('reject'), stmt(BPF_RET | BPF_K, 0));
  return assemble(lines);
}

// The classic BPF DHCP server filter on a real AF_PACKET socket: of a mix of frames arriving on a
// veth, only IPv4/UDP to port 67 gets through (untagged, 802.1Q, QinQ, with IP options), and
// frames leaving the interface are refused. Plus the assembler's encoding and errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BPF_ABS,
  BPF_H,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_RET,
  PacketSocket,
  SKF_AD_OFF,
  SKF_AD_PKTTYPE,
  assemble,
  dhcpServerFilter,
  jump,
  label,
  stmt,
  type ReceivedFrame,
} from '@bng/datapath';
import { dhcp4 } from '@bng/protocols';
import { isBngError } from '@bng/api';
import { Lab, buildUdpFrame, internetChecksum, waitFor, type VlanTag } from '@bng/testkit';
import { endianness } from 'node:os';

let lab: Lab;
let a: string;
let b: string;

beforeAll(() => {
  lab = new Lab('skf');
  [a, b] = lab.veth('a', undefined, 'b', undefined);
  for (const i of [a, b]) {
    lab.exec(undefined, 'sysctl', ['-qw', `net.ipv6.conf.${i}.disable_ipv6=1`]);
    lab.ip(undefined, 'link', 'set', i, 'up');
  }
});

afterAll(() => lab?.destroy());

const CLIENT_MAC = '02:00:00:5e:10:01';
const C_TAG = 0x8100;
const S_TAG = 0x88a8;

function discover(xid: number): Uint8Array {
  return dhcp4.encodeDhcp4(
    dhcp4.createDhcp4Message({
      xid,
      flags: dhcp4.BROADCAST_FLAG,
      chaddr: dhcp4.chaddrOf(Uint8Array.of(0x02, 0, 0, 0x5e, 0x10, 0x01)),
      options: [dhcp4.messageTypeOption(dhcp4.MessageType.DHCPDISCOVER)],
    }),
  );
}

/** A DISCOVER (xid = id, so every case differs) in IPv4/UDP, 0.0.0.0:68 -> 255.255.255.255:port */
function udp(id: number, dstPort: number, vlans: VlanTag[] = [], ipOptions?: Uint8Array): Buffer {
  return Buffer.from(
    buildUdpFrame({
      dstMac: 'ff:ff:ff:ff:ff:ff',
      srcMac: CLIENT_MAC,
      vlans,
      srcIp: '0.0.0.0',
      dstIp: '255.255.255.255',
      srcPort: 68,
      dstPort,
      ipId: id,
      payload: discover(id),
      ...(ipOptions ? { ipOptions } : {}),
    }),
  );
}

function fixIpChecksum(f: Buffer, ip: number): Buffer {
  f.writeUInt16BE(0, ip + 10);
  f.writeUInt16BE(internetChecksum(f, ip, ip + (f[ip]! & 0xf) * 4), ip + 10);
  return f;
}

/** IPv4 fragment flags/offset (offset in 8-octet units); the bytes where UDP ports would be still say 67 */
function fragment(id: number, moreFragments: boolean, offset: number): Buffer {
  const f = udp(id, 67);
  f.writeUInt16BE((moreFragments ? 0x2000 : 0) | offset, 14 + 6);
  return fixIpChecksum(f, 14);
}

/** IPv4/TCP SYN to port 67 */
function tcp(id: number): Buffer {
  const f = Buffer.from(
    buildUdpFrame({ dstMac: '02:00:00:00:00:67', srcMac: CLIENT_MAC, srcIp: '100.64.0.2', dstIp: '100.64.0.1', srcPort: 40000, dstPort: 67, ipId: id, payload: new Uint8Array(12) }),
  );
  f[14 + 9] = 6;
  const l4 = 14 + 20;
  f.fill(0, l4, l4 + 20);
  f.writeUInt16BE(40000, l4);
  f.writeUInt16BE(67, l4 + 2);
  f.writeUInt32BE(id, l4 + 4);
  f[l4 + 12] = 5 << 4; // data offset
  f[l4 + 13] = 0x02; // SYN
  f.writeUInt16BE(65535, l4 + 14);
  return fixIpChecksum(f, 14);
}

function arp(): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from('ffffffffffff0200005e1001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x0806, 12);
  Buffer.from('00010800060400010200005e1001', 'hex').copy(f, 14); // htype, ptype, hlen, plen, op, sha
  Buffer.from([100, 64, 0, 2, 0, 0, 0, 0, 0, 0, 100, 64, 0, 1]).copy(f, 28); // spa, tha, tpa
  return f;
}

/** IPv6/UDP to port 67 (the v4 filter must not read it as IPv4) */
function ipv6(): Buffer {
  const f = Buffer.alloc(14 + 40 + 8 + 8);
  Buffer.from('3333000100020200005e1001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x86dd, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(16, 18); // payload length
  f[20] = 17; // next header: UDP
  f[21] = 1;
  Buffer.from('fe800000000000000000000000000002', 'hex').copy(f, 22);
  Buffer.from('ff020000000000000000000000010002', 'hex').copy(f, 38);
  f.writeUInt16BE(546, 54);
  f.writeUInt16BE(67, 56);
  f.writeUInt16BE(16, 58);
  return f;
}

const NOP_OPTIONS = Uint8Array.of(1, 1, 1, 0); // three NOPs and End of Options: IHL 6
const TRIPLE: VlanTag[] = [{ tpid: S_TAG, vid: 10 }, { tpid: C_TAG, vid: 20 }, { tpid: C_TAG, vid: 30 }];

const accepted: Record<string, Buffer> = {
  'port 67 untagged': udp(1, 67),
  'port 67 802.1Q': udp(2, 67, [{ tpid: C_TAG, vid: 100, pcp: 3 }]),
  'port 67 QinQ 88a8+8100': udp(3, 67, [{ tpid: S_TAG, vid: 200 }, { tpid: C_TAG, vid: 300 }]),
  'port 67 QinQ 8100+8100': udp(4, 67, [{ tpid: C_TAG, vid: 200 }, { tpid: C_TAG, vid: 301 }]),
  'port 67 IHL 6': udp(5, 67, [], NOP_OPTIONS),
  'port 67 IHL 6 QinQ': udp(6, 67, [{ tpid: S_TAG, vid: 201 }, { tpid: C_TAG, vid: 302 }], NOP_OPTIONS),
  'port 67 first fragment': fragment(7, true, 0),
  // the kernel strips one tag, so three on the wire leave two in the data the filter reads
  'port 67 three tags': udp(8, 67, TRIPLE),
  'port 67 IHL 6 three tags': udp(9, 67, TRIPLE, NOP_OPTIONS),
};
const refused: Record<string, Buffer> = {
  'port 68': udp(11, 68),
  'port 68 QinQ': udp(12, 68, [{ tpid: S_TAG, vid: 200 }, { tpid: C_TAG, vid: 300 }]),
  'port 53': udp(13, 53),
  'port 53 802.1Q': udp(14, 53, [{ tpid: C_TAG, vid: 100 }]),
  'port 68 three tags': udp(18, 68, TRIPLE),
  'port 67 four tags': udp(19, 67, [...TRIPLE, { tpid: C_TAG, vid: 40 }]),
  'TCP port 67': tcp(15),
  ARP: arp(),
  IPv6: ipv6(),
  'fragment offset 185': fragment(16, false, 185),
  'last fragment offset 185 802.1Q': (() => {
    const f = udp(17, 67, [{ tpid: C_TAG, vid: 100 }]);
    f.writeUInt16BE(185, 18 + 6);
    return fixIpChecksum(f, 18);
  })(),
};

function nameOf(cases: Record<string, Buffer>, f: Buffer): string {
  return Object.entries(cases).find(([, c]) => c.equals(f))?.[0] ?? `unknown frame ${f.subarray(0, 24).toString('hex')}`;
}

function drain(s: PacketSocket): ReceivedFrame[] {
  const out: ReceivedFrame[] = [];
  for (let got = s.receive(64); got.length > 0; got = s.receive(64)) out.push(...got);
  return out;
}

describe('dhcpServerFilter on AF_PACKET', () => {
  it('passes only IPv4/UDP to port 67, in every encapsulation, and nothing the host sends', async () => {
    const filtered = new PacketSocket(b, { filter: dhcpServerFilter() });
    const control = new PacketSocket(b); // unfiltered: proves every frame did reach b
    const otherOnB = new PacketSocket(b);
    const tx = new PacketSocket(a);
    try {
      const all = { ...accepted, ...refused };
      // port-67 frames leaving b: from another socket (PACKET_OUTGOING) and from the filtered one
      const outOther = [udp(21, 67), udp(22, 67, [{ tpid: S_TAG, vid: 200 }, { tpid: C_TAG, vid: 300 }])];
      const outSelf = [udp(23, 67), udp(24, 67, [{ tpid: C_TAG, vid: 100 }])];
      expect(tx.send(Object.values(all))).toBe(Object.keys(all).length);
      expect(otherOnB.send(outOther)).toBe(outOther.length);
      expect(filtered.send(outSelf)).toBe(outSelf.length);

      const seen: ReceivedFrame[] = [];
      const want = [...Object.values(all), ...outOther, ...outSelf];
      await waitFor('every frame on the unfiltered socket', () => {
        seen.push(...drain(control));
        return want.every((w) => seen.some((s) => s.frame.equals(w)));
      }, 5000, 20);
      // both sockets are handed each frame in the same pass, so the filtered queue is complete
      expect(seen.filter((s) => outOther.some((o) => o.equals(s.frame))).map((s) => s.pktType)).toEqual([4, 4]);

      const got = drain(filtered);
      expect(got.every((g) => !g.truncated && g.ifindex === filtered.ifindex)).toBe(true);
      expect(got.map((g) => nameOf(accepted, g.frame)).sort()).toEqual(Object.keys(accepted).sort());
    } finally {
      for (const s of [filtered, control, otherOnB, tx]) s.close();
    }
  });

  it('setFilter attaches the filter to an open socket', async () => {
    const rx = new PacketSocket(b);
    const tx = new PacketSocket(a);
    try {
      rx.setFilter(dhcpServerFilter());
      drain(rx); // queued before the filter
      tx.send([udp(31, 53), udp(32, 67)]);
      const got: ReceivedFrame[] = [];
      await waitFor('the port 67 frame', () => {
        got.push(...drain(rx));
        return got.length > 0;
      }, 5000, 20);
      await new Promise((r) => setTimeout(r, 50));
      got.push(...drain(rx));
      expect(got.map((g) => g.frame)).toEqual([udp(32, 67)]);
    } finally {
      rx.close();
      tx.close();
    }
  });

  it('directOnly refuses relayed requests (giaddr set), in every encapsulation and with IP options', async () => {
    const rx = new PacketSocket(b, { filter: dhcpServerFilter({ directOnly: true }) });
    const tx = new PacketSocket(a);
    const relayed = (f: Buffer, ipOffset: number): Buffer => {
      const r = Buffer.from(f);
      const ihl = (r[ipOffset]! & 0x0f) * 4;
      r.writeUInt32BE(0x0a000001, ipOffset + ihl + 8 + 24); // giaddr 10.0.0.1 (the UDP checksum no longer matters here)
      r.writeUInt16BE(0, ipOffset + ihl + 6);
      return r;
    };
    const qinq: VlanTag[] = [{ tpid: S_TAG, vid: 200 }, { tpid: C_TAG, vid: 300 }];
    const direct = [udp(41, 67), udp(42, 67, [{ tpid: C_TAG, vid: 100 }]), udp(43, 67, qinq), udp(44, 67, [], Uint8Array.of(1, 1, 1, 0))];
    const viaRelay = [relayed(udp(45, 67), 14), relayed(udp(46, 67, [{ tpid: C_TAG, vid: 100 }]), 18), relayed(udp(47, 67, qinq), 22), relayed(udp(48, 67, [], Uint8Array.of(1, 1, 1, 0)), 14)];
    try {
      drain(rx);
      tx.send([...viaRelay, ...direct]);
      const got: ReceivedFrame[] = [];
      await waitFor('the direct requests', () => {
        got.push(...drain(rx));
        return got.length >= direct.length;
      }, 5000, 20);
      await new Promise((r) => setTimeout(r, 50));
      got.push(...drain(rx));
      // the kernel strips the outer tag into auxdata; the PacketSocket puts it back
      expect(got.map((g) => g.frame.toString('hex')).sort()).toEqual(direct.map((d) => d.toString('hex')).sort());
    } finally {
      rx.close();
      tx.close();
    }
  });

  it('a program the kernel refuses is a BngError with errno', () => {
    const s = new PacketSocket(b);
    try {
      // no RET at the end: EINVAL from sk_chk_filter
      s.setFilter(assemble([stmt(BPF_LD | BPF_H | BPF_ABS, 12)]));
      expect.unreachable();
    } catch (e) {
      expect(isBngError(e, 'BNG_ERR_SYSCALL')).toBe(true);
      expect((e as { details: { errno: number; syscall: string } }).details).toEqual({ errno: 22, syscall: 'setsockopt(SO_ATTACH_FILTER)' });
    } finally {
      s.close();
    }
    expect(() => new PacketSocket(b, { filter: Buffer.alloc(12) })).toThrow(/struct sock_filter/);
  });
});

describe('cBPF assembler', () => {
  it('encodes struct sock_filter in host byte order with label offsets', () => {
    const prog = assemble([
      stmt(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
      jump(BPF_JMP | BPF_JEQ | BPF_K, 4, 'no', 'yes'),
      label('yes'),
      stmt(BPF_RET | BPF_K, 0x40000),
      label('no'),
      stmt(BPF_RET | BPF_K, 0),
    ]);
    const le = endianness() === 'LE';
    const insn = (i: number) => ({
      code: le ? prog.readUInt16LE(i * 8) : prog.readUInt16BE(i * 8),
      jt: prog[i * 8 + 2],
      jf: prog[i * 8 + 3],
      k: le ? prog.readUInt32LE(i * 8 + 4) : prog.readUInt32BE(i * 8 + 4),
    });
    expect(prog.length).toBe(32);
    expect(insn(0)).toEqual({ code: 0x28, jt: 0, jf: 0, k: 0xfffff004 });
    expect(insn(1)).toEqual({ code: 0x15, jt: 1, jf: 0, k: 4 });
    expect(insn(2)).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0x40000 });
  });

  it('refuses unknown, duplicate, backward and out-of-range labels', () => {
    const ret = stmt(BPF_RET | BPF_K, 0);
    expect(() => assemble([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 'x'), ret])).toThrow(/unknown label x/);
    expect(() => assemble([label('x'), label('x'), ret])).toThrow(/defined twice/);
    expect(() => assemble([label('x'), jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 'x'), ret])).toThrow(/cannot jump to x/);
    expect(() => assemble([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 'end'), ret, label('end')])).toThrow(/cannot jump to end/);
    expect(() => assemble([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 'far'), ...Array(256).fill(ret), label('far'), ret])).toThrow(/offset 256/);
    expect(() => assemble([])).toThrow(/0 instructions/);
  });
});

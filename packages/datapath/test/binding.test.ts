// The native binding on real kernel objects: AF_PACKET batches with VLAN tags recovered from
// PACKET_AUXDATA, TC clsact attach, XDP attach modes, map batch operations, errors with errno,
// and the ABI check that refuses a map of the wrong shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, BpfObject, DhcpFastPath, PacketSocket, TcAttachment, XdpAttachment, native } from '@bng/datapath';
import { isBngError } from '@bng/api';
import { Lab, bpfObject, repoRoot, waitFor } from '@bng/testkit';
import { join } from 'node:path';

const MARK = 0x88b5; // IEEE local experimental EtherType
let lab: Lab;
let a: string;
let b: string;

beforeAll(() => {
  lab = new Lab('bnd');
  [a, b] = lab.veth('a', undefined, 'b', undefined);
  for (const i of [a, b]) {
    lab.exec(undefined, 'sysctl', ['-qw', `net.ipv6.conf.${i}.disable_ipv6=1`]);
    lab.ip(undefined, 'link', 'set', i, 'up');
  }
});

afterAll(() => lab?.destroy());

function frame(vlans: Array<[number, number]>, seq: number): Buffer {
  const parts = [Buffer.from([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa])];
  for (const [tpid, tci] of vlans) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(tpid, 0);
    t.writeUInt16BE(tci, 2);
    parts.push(t);
  }
  const tail = Buffer.alloc(2 + 50);
  tail.writeUInt16BE(MARK, 0);
  tail.writeUInt32BE(seq, 2);
  return Buffer.concat(parts.concat(tail));
}

describe('AF_PACKET', () => {
  it('sends a batch and receives it with the stripped 802.1Q/802.1ad tags put back', async () => {
    const tx = new PacketSocket(a);
    const rx = new PacketSocket(b);
    try {
      const sent: Buffer[] = [];
      const encaps: Array<Array<[number, number]>> = [[], [[0x8100, (3 << 13) | 100]], [[0x88a8, 200], [0x8100, 300]], [[0x8100, 200], [0x8100, 301]]];
      for (let i = 0; i < 200; i++) sent.push(frame(encaps[i % encaps.length]!, i));
      const got: Buffer[] = [];
      rx.onFrames((fs) => {
        for (const f of fs) if (f.frame.includes(Buffer.from([0x88, 0xb5]))) got.push(f.frame);
      });
      expect(tx.send(sent)).toBe(sent.length);
      await waitFor('all frames', () => got.length >= sent.length, 5000, 20);
      const bySeq = new Map(got.map((g) => [g.readUInt32BE(g.indexOf(Buffer.from([0x88, 0xb5])) + 2), g]));
      for (let i = 0; i < sent.length; i++) expect(bySeq.get(i), `frame ${i}`).toEqual(sent[i]);
    } finally {
      tx.close();
      rx.close();
    }
  });

  it('an unknown interface is a clear error', () => {
    expect(() => new PacketSocket('nosuch0')).toThrow(/interface nosuch0 does not exist/);
  });
});

describe('TC clsact and XDP attach', () => {
  it('counts packets with programs attached on ingress and egress, then detaches', async () => {
    const obj = BpfObject.open(join(repoRoot(), 'bpf', 'build', 'test', 'tc_count.bpf.o')).load();
    const ing = TcAttachment.attach(b, 'ingress', obj.programFd('tc_count_ingress'));
    const eg = TcAttachment.attach(a, 'egress', obj.programFd('tc_count_egress'));
    const mapFd = obj.mapFd('tc_count_packets');
    const read = (slot: number) => {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(slot);
      return native().mapLookup(mapFd, k, 8)!.readBigUInt64LE(0);
    };
    const tx = new PacketSocket(a);
    try {
      tx.send(Array.from({ length: 10 }, (_, i) => frame([], i)));
      await waitFor('ingress count', () => read(0) >= 10n, 3000, 20);
      expect(read(1)).toBeGreaterThanOrEqual(10n);
    } finally {
      tx.close();
      ing.detach();
      eg.detach();
      obj.close();
    }
  });

  it('attaches XDP in generic and native mode and reports the program id', () => {
    const obj = BpfObject.open(bpfObject('xdp_pass')).load();
    try {
      for (const mode of ['generic', 'native'] as const) {
        const att = XdpAttachment.attach(a, obj.programFd('bng_xdp_pass'), mode);
        expect(XdpAttachment.query(a)).toBe(native().progInfo(obj.programFd('bng_xdp_pass')).id);
        att.detach();
        expect(XdpAttachment.query(a)).toBe(0);
      }
    } finally {
      obj.close();
    }
  });
});

describe('maps', () => {
  it('batch update, iteration, batch delete', () => {
    const fp = DhcpFastPath.load({ serverIp: '10.0.0.1', serverMac: '02:00:00:00:00:01' });
    try {
      const entries = Array.from({ length: 5000 }, (_, i) => [
        { mac: `06:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` },
        { ip: `100.64.${i >> 8}.${i & 255}`, poolId: 1 },
      ] as [{ mac: string }, { ip: string; poolId: number }]);
      expect(fp.setSubscribers(entries)).toBe(5000);
      const listed = [...fp.subscribers()];
      expect(listed.length).toBe(5000);
      expect(new Set(listed.map(([, v]) => v.ip)).size).toBe(5000);
      expect(fp.getSubscriber({ mac: '06:00:00:00:13:88' })).toBeUndefined();
      expect(fp.getSubscriber({ mac: '06:00:00:00:01:02' })?.ip).toBe('100.64.1.2');
      expect(fp.byMac.deleteMany(fp.byMac.keys().slice(0, 1000))).toBe(1000);
      expect([...fp.subscribers()].length).toBe(4000);
      expect(fp.deleteSubscriber({ mac: '06:00:00:00:13:88' })).toBe(false);
    } finally {
      fp.close();
    }
  });

  it('errors carry the failing call and errno', () => {
    try {
      native().mapUpdate(987654, Buffer.alloc(8), Buffer.alloc(24));
      expect.unreachable();
    } catch (e) {
      const err = e as { code: string; errno: number; syscall: string };
      expect(err.code).toBe('BNG_ERR_SYSCALL');
      expect(err.syscall).toBe('bpf_map_update_elem');
      expect(err.errno).toBe(9); // EBADF
    }
  });

  it('refuses a map whose key/value sizes differ from the generated ABI', () => {
    const obj = BpfObject.open(join(repoRoot(), 'bpf', 'build', 'test', 'tc_count.bpf.o')).load();
    try {
      const fd = native().dupFd(obj.mapFd('tc_count_packets'));
      let caught: unknown;
      try {
        BpfMap.fromFd('bng_pools', fd);
      } catch (e) {
        caught = e;
      }
      expect(isBngError(caught, 'BNG_ERR_ABI_MISMATCH')).toBe(true);
      expect(String((caught as Error).message)).toMatch(/bng_pools: kernel says key\/value 4\/8 bytes, this build expects 4\/100/);
    } finally {
      obj.close();
    }
  });

  it('the boot-time clock is the one the kernel compares leases with', () => {
    const a1 = native().clockBoottimeNs();
    const a2 = native().clockBoottimeNs();
    expect(a2 >= a1).toBe(true);
    expect(a1 > 0n).toBe(true);
  });
});

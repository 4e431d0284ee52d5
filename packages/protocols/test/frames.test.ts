import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isBngError } from '@bng/api';
import * as dhcp4 from '../src/dhcp4/index.js';
import { FrameError, buildDhcp4Frame, buildUdpFrame, parseDhcp4Frame, parseFrame, type UdpFrameSpec } from '../src/frames.js';
import { bytesToMac, internetChecksum, ipToU32, macToBytes, u32ToIp } from '../src/net.js';
import { capturedFrames } from './fixtures/dhcp4-captures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

const base: UdpFrameSpec = {
  dstMac: 'ff:ff:ff:ff:ff:ff',
  srcMac: '02:00:00:00:00:01',
  srcIp: '0.0.0.0',
  dstIp: '255.255.255.255',
  srcPort: 68,
  dstPort: 67,
  payload: Uint8Array.from(Buffer.from('hello, dhcp')),
};

function frameError(bytes: Uint8Array): FrameError {
  try {
    parseFrame(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
    return e as FrameError;
  }
  throw new Error('parseFrame did not throw');
}

describe('address utilities', () => {
  it('MAC text and bytes', () => {
    expect(hex(macToBytes('AA:bb:0c:0D:ee:0f'))).toBe('aabb0c0dee0f');
    expect(hex(macToBytes('aa-bb-cc-dd-ee-ff'))).toBe('aabbccddeeff');
    expect(bytesToMac(Uint8Array.of(0, 1, 0xab, 0xcd, 0xef, 0xff))).toBe('00:01:ab:cd:ef:ff');
    for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:fg', 'aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff:00']) {
      expect(() => macToBytes(bad)).toThrow();
      try {
        macToBytes(bad);
      } catch (e) {
        expect(isBngError(e, 'BNG_ERR_BAD_REQUEST')).toBe(true);
      }
    }
  });
  it('IPv4 text and u32', () => {
    expect(ipToU32('1.2.3.4')).toBe(0x01020304);
    expect(ipToU32('255.255.255.255')).toBe(0xffffffff);
    expect(u32ToIp(0xc0a84d67)).toBe('192.168.77.103');
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4.5', 'a.b.c.d', ' 1.2.3.4']) expect(() => ipToU32(bad)).toThrow();
    expect(() => u32ToIp(2 ** 32)).toThrow();
    expect(() => u32ToIp(-1)).toThrow();
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => ipToU32(u32ToIp(v)) === v), { seed: 791 });
  });
  it('RFC 1071 §3 worked example', () => {
    // 0001 f203 f4f5 f6f7 sums to 0x2ddf0, folds to 0xddf2; the checksum is its complement.
    expect(internetChecksum(fromHex('0001f203f4f5f6f7'))).toBe(0x220d);
    // an odd trailing octet is padded with zero on the right
    expect(internetChecksum(Uint8Array.of(0x01))).toBe(0xfeff);
  });
});

describe('buildUdpFrame / parseFrame', () => {
  it('untagged: header fields, checksums and payload', () => {
    const frame = buildUdpFrame({ ...base, ttl: 16, ipId: 0x1234, tos: 0x10 });
    expect(frame.length).toBe(14 + 20 + 8 + base.payload.length);
    const p = parseFrame(frame);
    expect(p).toMatchObject({ dstMac: 'ff:ff:ff:ff:ff:ff', srcMac: '02:00:00:00:00:01', vlans: [], etherType: 0x0800 });
    expect(p.ipv4).toMatchObject({
      src: '0.0.0.0',
      dst: '255.255.255.255',
      ihl: 5,
      tos: 0x10,
      ttl: 16,
      id: 0x1234,
      protocol: 17,
      totalLength: 20 + 8 + base.payload.length,
      headerChecksumOk: true,
      dontFragment: false,
    });
    expect(p.udp).toMatchObject({ srcPort: 68, dstPort: 67, length: 8 + base.payload.length, checksumOk: true });
    expect(p.udp!.checksum).not.toBe(0);
    expect(hex(p.payload)).toBe(hex(base.payload));
  });

  it('802.1Q and QinQ tags, outermost first, with pcp and dei', () => {
    const frame = buildUdpFrame({
      ...base,
      vlans: [
        { tpid: 0x88a8, vid: 100, pcp: 5 },
        { tpid: 0x8100, vid: 4094, dei: true },
      ],
    });
    expect(hex(frame.subarray(12, 22))).toBe('88a8a064' + '8100' + '1ffe' + '0800');
    const p = parseFrame(frame);
    expect(p.vlans).toEqual([
      { tpid: 0x88a8, vid: 100, pcp: 5, dei: false },
      { tpid: 0x8100, vid: 4094, pcp: 0, dei: true },
    ]);
    expect(p.udp!.checksumOk).toBe(true);
    expect(p.ipv4!.headerChecksumOk).toBe(true);
  });

  it('IP options raise the IHL and stay covered by the header checksum', () => {
    const routerAlert = Uint8Array.of(0x94, 0x04, 0x00, 0x00);
    const p = parseFrame(buildUdpFrame({ ...base, ipOptions: routerAlert, dontFragment: true }));
    expect(p.ipv4!.ihl).toBe(6);
    expect(hex(p.ipv4!.options)).toBe('94040000');
    expect(p.ipv4!.headerChecksumOk).toBe(true);
    expect(p.ipv4!.dontFragment).toBe(true);
    expect(p.udp!.checksumOk).toBe(true);
    expect(() => buildUdpFrame({ ...base, ipOptions: new Uint8Array(3) })).toThrow(FrameError);
    expect(() => buildUdpFrame({ ...base, ipOptions: new Uint8Array(44) })).toThrow(FrameError);
  });

  it('udpChecksum false writes 0, which parses as ok; corruption is detected', () => {
    const noSum = parseFrame(buildUdpFrame({ ...base, udpChecksum: false }));
    expect(noSum.udp).toMatchObject({ checksum: 0, checksumOk: true });
    const frame = buildUdpFrame(base);
    frame[frame.length - 1] ^= 0x01;
    expect(parseFrame(frame).udp!.checksumOk).toBe(false);
    const hdr = buildUdpFrame(base);
    hdr[14 + 8] ^= 0x01; // ttl
    expect(parseFrame(hdr).ipv4!.headerChecksumOk).toBe(false);
  });

  it('a UDP checksum computing to zero is sent as 0xffff (RFC 768)', () => {
    // Find a payload whose checksum comes out as 0: choose the last two octets to cancel the rest.
    const spec = { ...base, payload: new Uint8Array(4) };
    const probe = parseFrame(buildUdpFrame(spec)).udp!.checksum;
    // adding `probe` (one's complement arithmetic) to the data drives the complement to zero
    spec.payload = Uint8Array.of(0, 0, probe >>> 8, probe & 0xff);
    const p = parseFrame(buildUdpFrame(spec));
    expect(p.udp!.checksum).toBe(0xffff);
    expect(p.udp!.checksumOk).toBe(true);
  });

  it('rejects bad specs', () => {
    expect(() => buildUdpFrame({ ...base, srcPort: 65536 })).toThrow(FrameError);
    expect(() => buildUdpFrame({ ...base, vlans: [{ tpid: 0x8100, vid: 4096 }] })).toThrow(FrameError);
    expect(() => buildUdpFrame({ ...base, vlans: [{ tpid: 0x9100 as 0x8100, vid: 1 }] })).toThrow(FrameError);
    expect(() => buildUdpFrame({ ...base, ttl: 256 })).toThrow(FrameError);
    expect(() => buildUdpFrame({ ...base, srcMac: 'nope' })).toThrow();
    expect(() => buildUdpFrame({ ...base, srcIp: '1.2.3.999' })).toThrow();
  });

  it('Ethernet padding after the IP datagram is ignored', () => {
    const frame = buildUdpFrame({ ...base, payload: Uint8Array.of(1, 2) });
    const padded = new Uint8Array(60);
    padded.set(frame);
    const p = parseFrame(padded);
    expect(Array.from(p.payload)).toEqual([1, 2]);
    expect(p.udp!.checksumOk).toBe(true);
  });

  it('non-IPv4 and non-UDP frames return the rest as payload', () => {
    const arp = fromHex('ffffffffffff' + '020000000001' + '0806' + '0001080006040001');
    expect(parseFrame(arp)).toMatchObject({ etherType: 0x0806, vlans: [] });
    expect(hex(parseFrame(arp).payload)).toBe('0001080006040001');
    const udp = buildUdpFrame(base);
    udp[14 + 9] = 6; // now "TCP"; the parse stops at IP
    const p = parseFrame(udp);
    expect(p.udp).toBeUndefined();
    expect(p.payload.length).toBe(8 + base.payload.length);
  });

  it('malformed frames throw FrameError with a code and offset', () => {
    const good = buildUdpFrame(base);
    expect(frameError(good.subarray(0, 13))).toMatchObject({ code: 'FRAME_TRUNCATED_ETHERNET', offset: 13 });
    const tagged = buildUdpFrame({ ...base, vlans: [{ tpid: 0x8100, vid: 7 }] });
    expect(frameError(tagged.subarray(0, 16))).toMatchObject({ code: 'FRAME_TRUNCATED_VLAN', offset: 12 });
    expect(frameError(good.subarray(0, 30))).toMatchObject({ code: 'FRAME_TRUNCATED_IPV4', offset: 14 });
    const v6 = Uint8Array.from(good);
    v6[14] = 0x65;
    expect(frameError(v6)).toMatchObject({ code: 'FRAME_BAD_IP_VERSION', offset: 14 });
    const ihl = Uint8Array.from(good);
    ihl[14] = 0x44;
    expect(frameError(ihl).code).toBe('FRAME_BAD_IHL');
    expect(frameError(good.subarray(0, good.length - 1))).toMatchObject({ code: 'FRAME_BAD_IP_LENGTH', offset: 16 });
    const shortIp = Uint8Array.from(good);
    shortIp[16] = 0;
    shortIp[17] = 24; // total length 24: only 4 octets of UDP
    expect(frameError(shortIp)).toMatchObject({ code: 'FRAME_TRUNCATED_UDP', offset: 34 });
    const udpLen = Uint8Array.from(good);
    udpLen[38] = 0xff;
    expect(frameError(udpLen)).toMatchObject({ code: 'FRAME_BAD_UDP_LENGTH', offset: 38 });
  });

  it('rebuilds the captured client frames byte for byte (kernel and udhcpd checksums agree)', () => {
    for (const c of capturedFrames) {
      const bytes = fromHex(c.hex);
      const p = parseFrame(bytes);
      expect(p.ipv4!.headerChecksumOk, c.name).toBe(true);
      expect(p.udp!.checksumOk, c.name).toBe(true);
      expect(p.udp!.checksum, c.name).not.toBe(0);
      expect(dhcp4.messageType(dhcp4.decodeDhcp4(p.payload))).toBeDefined();
      const rebuilt = buildUdpFrame({
        dstMac: p.dstMac,
        srcMac: p.srcMac,
        srcIp: p.ipv4!.src,
        dstIp: p.ipv4!.dst,
        srcPort: p.udp!.srcPort,
        dstPort: p.udp!.dstPort,
        payload: p.payload,
        ttl: p.ipv4!.ttl,
        ipId: p.ipv4!.id,
        tos: p.ipv4!.tos,
        dontFragment: p.ipv4!.dontFragment,
      });
      expect(hex(rebuilt), c.name).toBe(c.hex);
    }
  });

  it('property: build then parse returns the spec; random bytes only ever throw FrameError', () => {
    const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map(bytesToMac);
    const spec = fc.record({
      dstMac: mac,
      srcMac: mac,
      vlans: fc.array(
        fc.record({ tpid: fc.constantFrom(0x8100 as const, 0x88a8 as const), vid: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }) }),
        { maxLength: 2 },
      ),
      srcIp: fc.ipV4(),
      dstIp: fc.ipV4(),
      srcPort: fc.integer({ min: 0, max: 65535 }),
      dstPort: fc.integer({ min: 0, max: 65535 }),
      payload: fc.uint8Array({ maxLength: 600 }),
      ipOptions: fc.integer({ min: 0, max: 10 }).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 })),
      ttl: fc.integer({ min: 0, max: 255 }),
      ipId: fc.integer({ min: 0, max: 65535 }),
    });
    fc.assert(
      fc.property(spec, (s) => {
        const p = parseFrame(buildUdpFrame(s));
        expect(p.vlans.map((v) => ({ tpid: v.tpid, vid: v.vid, pcp: v.pcp }))).toEqual(s.vlans);
        expect(p.ipv4).toMatchObject({ src: s.srcIp, dst: s.dstIp, ttl: s.ttl, id: s.ipId, headerChecksumOk: true });
        expect(p.udp).toMatchObject({ srcPort: s.srcPort, dstPort: s.dstPort, checksumOk: true });
        expect(hex(p.payload)).toBe(hex(s.payload));
      }),
      { numRuns: 500, seed: 1071 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          parseFrame(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000, seed: 768 },
    );
  });

  it('buildDhcp4Frame / parseDhcp4Frame: client defaults, tags, round trip', () => {
    const msg = dhcp4.createDhcp4Message({
      xid: 7,
      chaddr: dhcp4.chaddrOf(macToBytes('02:11:22:33:44:55')),
      options: [dhcp4.messageTypeOption(dhcp4.MessageType.DHCPDISCOVER)],
    });
    const frame = buildDhcp4Frame(msg, { vlans: [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 20 }] });
    const p = parseDhcp4Frame(frame);
    expect(p).toMatchObject({ srcMac: '02:11:22:33:44:55', dstMac: 'ff:ff:ff:ff:ff:ff' });
    expect(p.vlans.map((v) => v.vid)).toEqual([10, 20]);
    expect(p.ipv4).toMatchObject({ src: '0.0.0.0', dst: '255.255.255.255' });
    expect(p.udp).toMatchObject({ srcPort: 68, dstPort: 67, checksumOk: true });
    expect(p.dhcp).toEqual(msg);
    expect(p.payload.length).toBe(300);
    const reply = parseDhcp4Frame(buildDhcp4Frame({ ...msg, op: 2 }, { srcIp: '10.0.0.1', dstIp: '10.0.0.5', unpadded: true }));
    expect(reply.udp).toMatchObject({ srcPort: 67, dstPort: 68 });
    expect(reply.payload.length).toBe(244);
    const arp = fromHex('ffffffffffff' + '020000000001' + '0806' + '0001080006040001');
    expect(() => parseDhcp4Frame(arp)).toThrow(FrameError);
  });
});

// Per-subscriber sessions in bpf/progs/dhcp_fastpath.bpf.c, run with BPF_PROG_RUN: the XDP
// program (traffic from the subscriber) and the TC egress program (traffic to it) as table rows
// of input frame, map preload, expected verdict, expected frame and the exact change of the
// session's counters; then the policer's bucket, policy changes that keep counters, and the
// TypeScript API's validation.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BngError } from '@bng/api';
import { DhcpFastPath, PoliceLimits, boottimeNs, burstBytes, sessionKey, type SessionUsage } from '@bng/datapath';
import { dhcp4 } from '@bng/protocols';
import { IpProtocol, buildUdpFrame, internetChecksum, type VlanTag } from '@bng/testkit';

const SERVER_IP = '10.0.0.1';
const SERVER_MAC = '02:00:00:00:00:01';
const SUB_MAC = '52:54:00:00:00:0a';

const PLAIN = '10.0.0.10'; // a session with no limits
const WALLED = '10.0.0.20';
const POLICED = '10.0.0.30';
const UNKNOWN = '10.0.0.99';
const GARDEN = ['192.0.2.0/24', '198.51.100.7'];
const IN_GARDEN = '192.0.2.80';
const OUTSIDE = '203.0.113.9';

interface FrameSpec {
  src: string;
  dst: string;
  /** UDP by default; TCP or ICMP rewrite the protocol byte over the same bytes */
  proto?: number;
  srcPort?: number;
  dstPort?: number;
  /** bytes after the 8-byte UDP (or L4) header */
  payload?: number;
  vlans?: VlanTag[];
  /** more-fragments bit and fragment offset (8-octet units) */
  frag?: { mf: boolean; offset: number };
  /** zero bytes after the IP datagram (Ethernet padding) */
  pad?: number;
  /** Ethernet direction: towards the subscriber (TC) or from it (XDP) */
  toSubscriber?: boolean;
}

/** An IPv4 frame; the IP datagram is 20 + 8 + payload bytes. */
function frame(f: FrameSpec): Buffer {
  const raw = Buffer.from(
    buildUdpFrame({
      dstMac: f.toSubscriber ? SUB_MAC : SERVER_MAC,
      srcMac: f.toSubscriber ? SERVER_MAC : SUB_MAC,
      vlans: f.vlans,
      srcIp: f.src,
      dstIp: f.dst,
      srcPort: f.srcPort ?? 40000,
      dstPort: f.dstPort ?? 443,
      payload: new Uint8Array(f.payload ?? 100).fill(0x5a),
    }),
  );
  const ip = 14 + 4 * (f.vlans?.length ?? 0);
  if (f.proto !== undefined) raw[ip + 9] = f.proto;
  if (f.proto === IpProtocol.TCP) raw[ip + 20 + 12] = 5 << 4; // data offset: a 20-byte TCP header
  if (f.frag) raw.writeUInt16BE((f.frag.mf ? 0x2000 : 0) | f.frag.offset, ip + 6);
  raw.writeUInt16BE(0, ip + 10);
  raw.writeUInt16BE(internetChecksum(raw, ip, ip + 20), ip + 10);
  return f.pad ? Buffer.concat([raw, Buffer.alloc(f.pad)]) : raw;
}

const ipBytes = (payload = 100) => BigInt(20 + 8 + payload);

const USAGE_KEYS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'policedUp', 'policedDown', 'walledDrops'] as const;
type Delta = Partial<Record<(typeof USAGE_KEYS)[number], bigint>>;

let fp: DhcpFastPath;

function usage(ip: string): SessionUsage {
  const u = fp.sessionUsage(ip);
  if (!u) throw new Error(`no session for ${ip}`);
  return u;
}

function counter(name: string): bigint {
  const v = fp.readCounters()[name];
  if (v === undefined) throw new Error(`no counter ${name}`);
  return v;
}

/** Runs one row and checks the verdict, the frame, the counter reason and the session deltas. */
function check(
  run: (f: Buffer) => { verdict: string; frame: Buffer },
  row: { input: Buffer; verdict: string; reason: string; session?: string; delta?: Delta },
): void {
  const before = row.session ? usage(row.session) : undefined;
  const reasonBefore = counter(row.reason);
  const t0 = boottimeNs();
  const r = run(row.input);
  const t1 = boottimeNs();
  expect(r.verdict).toBe(row.verdict);
  // the session programs never rewrite a frame
  if (r.verdict !== 'drop' && r.verdict !== 'shot') expect(Buffer.from(r.frame)).toEqual(row.input);
  expect(counter(row.reason)).toBe(reasonBefore + 1n);
  if (row.session && before) {
    const after = usage(row.session);
    for (const k of USAGE_KEYS) expect([k, after[k] - before[k]]).toEqual([k, row.delta?.[k] ?? 0n]);
    if ((row.delta?.rxPackets ?? 0n) > 0n) {
      // CLOCK_BOOTTIME, the clock boottimeNs() reads
      expect(after.lastRxNs >= t0 && after.lastRxNs <= t1).toBe(true);
    } else {
      expect(after.lastRxNs).toBe(before.lastRxNs);
    }
  }
}

beforeAll(() => {
  fp = DhcpFastPath.load({ serverIp: SERVER_IP, serverMac: SERVER_MAC });
  fp.setPool(1, { netmask: '255.255.255.0', gateway: SERVER_IP, dns: ['9.9.9.9'], leaseTimeS: 3600 });
  fp.setSubscriber({ mac: SUB_MAC }, { ip: PLAIN, poolId: 1 });
  fp.setWalledGarden(GARDEN);
});

beforeEach(() => {
  // every test starts from fresh sessions: full buckets, zero counters
  for (const [ip] of [...fp.sessions()]) fp.deleteSession(ip);
  fp.setSession(PLAIN, {});
  fp.setSession(WALLED, { walled: true });
  fp.setSession(POLICED, { upKbps: 8, downKbps: 8 });
});

afterAll(() => fp?.close());

describe('XDP: traffic from the subscriber', () => {
  const rows: Array<{ name: string; input: () => Buffer; verdict: string; reason: string; session?: string; delta?: Delta }> = [
    {
      name: 'UDP from a known source: counted with its IP length, passed untouched',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, payload: 1000 }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: ipBytes(1000) },
    },
    {
      name: 'TCP from a known source',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, proto: IpProtocol.TCP, payload: 1432 }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: 1460n },
    },
    {
      name: 'a short ICMP datagram in a padded 60-byte frame: the IP length, not the padding',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, proto: IpProtocol.ICMP, payload: 0, pad: 18 }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: 28n },
    },
    {
      name: 'a frame shorter than its IP total length: charged what the frame holds',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, payload: 200 }).subarray(0, 14 + 100),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: 100n },
    },
    {
      name: '802.1Q tagged: the tag is not charged',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, vlans: [{ tpid: 0x8100, vid: 100 }] }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: ipBytes() },
    },
    {
      name: 'QinQ 802.1ad + 802.1Q',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, vlans: [{ tpid: 0x88a8, vid: 200 }, { tpid: 0x8100, vid: 300 }] }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: ipBytes() },
    },
    {
      name: 'QinQ 0x8100 in 0x8100',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, vlans: [{ tpid: 0x8100, vid: 200 }, { tpid: 0x8100, vid: 300 }] }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: ipBytes() },
    },
    {
      name: 'an IP fragment from a known source is session traffic',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, frag: { mf: true, offset: 0 }, payload: 400 }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: ipBytes(400) },
    },
    {
      name: 'a non-first fragment (no L4 header) is counted too',
      input: () => frame({ src: PLAIN, dst: OUTSIDE, frag: { mf: false, offset: 50 }, payload: 100 }),
      verdict: 'pass',
      reason: 'pass_session',
      session: PLAIN,
      delta: { rxPackets: 1n, rxBytes: ipBytes(100) },
    },
    {
      name: 'UDP to port 67 is DHCP, never session traffic (a malformed one is dropped as before)',
      input: () => frame({ src: PLAIN, dst: SERVER_IP, srcPort: 68, dstPort: 67, payload: 10 }),
      verdict: 'drop',
      reason: 'drop_malformed_bootp',
      session: PLAIN,
      delta: {},
    },
    {
      name: 'unknown source: passed untouched, nothing created',
      input: () => frame({ src: UNKNOWN, dst: OUTSIDE }),
      verdict: 'pass',
      reason: 'pass_not_dhcp',
    },
    {
      name: 'unknown source, IP fragment: counted as before',
      input: () => frame({ src: UNKNOWN, dst: OUTSIDE, frag: { mf: true, offset: 0 } }),
      verdict: 'pass',
      reason: 'pass_ip_fragment',
    },
    {
      name: 'walled, destination in a garden /24: passed',
      input: () => frame({ src: WALLED, dst: IN_GARDEN }),
      verdict: 'pass',
      reason: 'pass_session',
      session: WALLED,
      delta: { rxPackets: 1n, rxBytes: ipBytes() },
    },
    {
      name: 'walled, destination a garden /32 ("a.b.c.d" form): passed',
      input: () => frame({ src: WALLED, dst: '198.51.100.7', vlans: [{ tpid: 0x8100, vid: 7 }] }),
      verdict: 'pass',
      reason: 'pass_session',
      session: WALLED,
      delta: { rxPackets: 1n, rxBytes: ipBytes() },
    },
    {
      name: 'walled, destination outside the garden: dropped, counted as received and as walled',
      input: () => frame({ src: WALLED, dst: OUTSIDE }),
      verdict: 'drop',
      reason: 'drop_walled',
      session: WALLED,
      delta: { rxPackets: 1n, rxBytes: ipBytes(), walledDrops: 1n },
    },
    {
      name: 'walled, next to a /32 in the garden: dropped',
      input: () => frame({ src: WALLED, dst: '198.51.100.8', proto: IpProtocol.TCP }),
      verdict: 'drop',
      reason: 'drop_walled',
      session: WALLED,
      delta: { rxPackets: 1n, rxBytes: ipBytes(), walledDrops: 1n },
    },
  ];
  for (const row of rows) {
    it(row.name, () => check((f) => fp.testRun(f), { ...row, input: row.input() }));
  }

  it('the upstream policer passes the burst, then drops (counted as received and as policed)', () => {
    // 8 kbit/s: the bucket is the 16 KiB floor, and refills 1 byte per ms, next to nothing here
    expect(burstBytes(8)).toBe(PoliceLimits.burstMinBytes);
    const f = frame({ src: POLICED, dst: OUTSIDE, payload: 972 }); // 1,000 IP bytes
    const verdicts = Array.from({ length: 25 }, () => fp.testRun(f).verdict);
    // a packet passes while the bucket is positive: 16 take 16,000 of 16,384 bytes, the 17th
    // the rest and a little debt
    const passed = Math.ceil(PoliceLimits.burstMinBytes / 1000);
    expect(verdicts).toEqual([...Array(passed).fill('pass'), ...Array(25 - passed).fill('drop')]);
    const u = usage(POLICED);
    expect(u.rxPackets).toBe(25n);
    expect(u.rxBytes).toBe(25_000n);
    expect(u.policedUp).toBe(BigInt(25 - passed));
    expect(u.policedDown).toBe(0n);
  });

  it('the bucket refills at the rate', async () => {
    // 800 kbit/s = 100 bytes per ms; bucket 30,000 bytes (300 ms); each packet 10 ms
    fp.setSession(POLICED, { upKbps: 800 });
    const f = frame({ src: POLICED, dst: OUTSIDE, payload: 972 });
    while (fp.testRun(f).verdict === 'pass'); // empty it
    await new Promise((r) => setTimeout(r, 100)); // about 10,000 bytes back
    let passed = 0;
    while (fp.testRun(f).verdict === 'pass') passed++;
    // up to 1,000 bytes of debt from the draining packet, the timer's slack, a few runs' refill
    expect(passed).toBeGreaterThanOrEqual(9);
    expect(passed).toBeLessThanOrEqual(14);
  });

  it('the walled garden is checked before the policer: a walled drop takes no tokens', () => {
    fp.setSession(POLICED, { upKbps: 8, walled: true });
    const out = frame({ src: POLICED, dst: OUTSIDE, payload: 972 });
    for (let i = 0; i < 40; i++) expect(fp.testRun(out).verdict).toBe('drop');
    expect(usage(POLICED).walledDrops).toBe(40n);
    expect(usage(POLICED).policedUp).toBe(0n);
    expect(fp.testRun(frame({ src: POLICED, dst: IN_GARDEN, payload: 972 })).verdict).toBe('pass');
  });

  it('DHCP from a walled subscriber over its rate is still answered, byte for byte as without a session', () => {
    const renew = (): Buffer => {
      const msg = dhcp4.createDhcp4Message({
        op: 1,
        xid: 0x5e551011,
        ciaddr: PLAIN,
        chaddr: dhcp4.chaddrOf(Buffer.from(SUB_MAC.split(':').map((h) => parseInt(h, 16)))),
        options: [dhcp4.messageTypeOption(dhcp4.MessageType.DHCPREQUEST)],
      });
      return Buffer.from(
        buildUdpFrame({ dstMac: SERVER_MAC, srcMac: SUB_MAC, srcIp: PLAIN, dstIp: SERVER_IP, srcPort: 68, dstPort: 67, payload: dhcp4.encodeDhcp4(msg, { pad: true }) }),
      );
    };
    const discover = (): Buffer => {
      const msg = dhcp4.createDhcp4Message({
        op: 1,
        xid: 0x5e551012,
        chaddr: dhcp4.chaddrOf(Buffer.from(SUB_MAC.split(':').map((h) => parseInt(h, 16)))),
        options: [dhcp4.messageTypeOption(dhcp4.MessageType.DHCPDISCOVER)],
      });
      return Buffer.from(
        buildUdpFrame({ dstMac: 'ff:ff:ff:ff:ff:ff', srcMac: SUB_MAC, srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload: dhcp4.encodeDhcp4(msg, { pad: true }) }),
      );
    };
    // lease_expires_ns moves with each ACK but is not in the reply; the reply bytes are compared
    fp.deleteSession(PLAIN);
    const bare = [fp.testRun(discover()), fp.testRun(renew())];
    expect(bare.map((r) => r.verdict)).toEqual(['tx', 'tx']);

    fp.setSession(PLAIN, { upKbps: 8, walled: true });
    const drain = frame({ src: PLAIN, dst: IN_GARDEN, payload: 1400 });
    while (fp.testRun(drain).verdict === 'pass');
    const before = usage(PLAIN);
    const withSession = [fp.testRun(discover()), fp.testRun(renew())];
    expect(withSession.map((r) => r.verdict)).toEqual(['tx', 'tx']);
    expect(withSession[0]!.frame).toEqual(bare[0]!.frame);
    expect(withSession[1]!.frame).toEqual(bare[1]!.frame);
    expect(usage(PLAIN)).toEqual(before);
  });
});

describe('TC egress: traffic to the subscriber', () => {
  const rows: Array<{ name: string; input: () => Buffer; gso?: { segs: number; size: number }; verdict: string; reason: string; session?: string; delta?: Delta }> = [
    {
      name: 'to a known destination: counted with its IP length, passed untouched',
      input: () => frame({ src: OUTSIDE, dst: PLAIN, payload: 1000, toSubscriber: true }),
      verdict: 'ok',
      reason: 'tc_pass_session',
      session: PLAIN,
      delta: { txPackets: 1n, txBytes: ipBytes(1000) },
    },
    {
      name: '802.1Q tagged in the frame',
      input: () => frame({ src: OUTSIDE, dst: PLAIN, vlans: [{ tpid: 0x8100, vid: 100 }], toSubscriber: true }),
      verdict: 'ok',
      reason: 'tc_pass_session',
      session: PLAIN,
      delta: { txPackets: 1n, txBytes: ipBytes() },
    },
    {
      name: 'QinQ in the frame',
      input: () => frame({ src: OUTSIDE, dst: PLAIN, vlans: [{ tpid: 0x88a8, vid: 200 }, { tpid: 0x8100, vid: 300 }], toSubscriber: true }),
      verdict: 'ok',
      reason: 'tc_pass_session',
      session: PLAIN,
      delta: { txPackets: 1n, txBytes: ipBytes() },
    },
    {
      name: 'a TCP GSO super-packet counts as the segments it leaves as',
      // 3 segments of 1,000 payload bytes, each with its own 20-byte IP and 20-byte TCP header
      input: () => frame({ src: OUTSIDE, dst: PLAIN, proto: IpProtocol.TCP, payload: 3 * 1000 + 12, toSubscriber: true }),
      gso: { segs: 3, size: 1000 },
      verdict: 'ok',
      reason: 'tc_pass_session',
      session: PLAIN,
      delta: { txPackets: 3n, txBytes: 3n * (20n + 20n + 1000n) },
    },
    {
      name: 'a UDP GSO super-packet (8-byte header per segment)',
      input: () => frame({ src: OUTSIDE, dst: PLAIN, payload: 4 * 500, toSubscriber: true }),
      gso: { segs: 4, size: 500 },
      verdict: 'ok',
      reason: 'tc_pass_session',
      session: PLAIN,
      delta: { txPackets: 4n, txBytes: 4n * (20n + 8n + 500n) },
    },
    {
      name: 'unknown destination: passed untouched',
      input: () => frame({ src: OUTSIDE, dst: UNKNOWN, toSubscriber: true }),
      verdict: 'ok',
      reason: 'tc_pass_no_session',
    },
    {
      name: 'ARP: not IPv4',
      input: () => {
        const arp = Buffer.alloc(42);
        arp.fill(0xff, 0, 6);
        arp.writeUInt16BE(0x0806, 12);
        return arp;
      },
      verdict: 'ok',
      reason: 'tc_pass_not_ipv4',
    },
    {
      name: "a DHCP server reply (67 -> 68) to a session is not the session's traffic",
      input: () => frame({ src: SERVER_IP, dst: PLAIN, srcPort: 67, dstPort: 68, payload: 300, toSubscriber: true }),
      verdict: 'ok',
      reason: 'tc_pass_dhcp',
      session: PLAIN,
      delta: {},
    },
    {
      name: 'walled, source in the garden: passed',
      input: () => frame({ src: IN_GARDEN, dst: WALLED, toSubscriber: true }),
      verdict: 'ok',
      reason: 'tc_pass_session',
      session: WALLED,
      delta: { txPackets: 1n, txBytes: ipBytes() },
    },
    {
      name: 'walled, source outside the garden: shot, counted as walled, not as sent',
      input: () => frame({ src: OUTSIDE, dst: WALLED, toSubscriber: true }),
      verdict: 'shot',
      reason: 'tc_drop_walled',
      session: WALLED,
      delta: { walledDrops: 1n },
    },
  ];
  for (const row of rows) {
    it(row.name, () => check((f) => fp.testRunEgress(f, row.gso), { ...row, input: row.input() }));
  }

  it('the downstream policer passes the burst, then shoots; only what left is counted as sent', () => {
    const f = frame({ src: OUTSIDE, dst: POLICED, payload: 972, toSubscriber: true });
    const verdicts = Array.from({ length: 25 }, () => fp.testRunEgress(f).verdict);
    const passed = Math.ceil(PoliceLimits.burstMinBytes / 1000);
    expect(verdicts).toEqual([...Array(passed).fill('ok'), ...Array(25 - passed).fill('shot')]);
    const u = usage(POLICED);
    expect(u.txPackets).toBe(BigInt(passed));
    expect(u.txBytes).toBe(BigInt(passed * 1000));
    expect(u.policedDown).toBe(BigInt(25 - passed));
    expect(u.policedUp).toBe(0n);
    // the two directions have their own buckets
    expect(fp.testRun(frame({ src: POLICED, dst: OUTSIDE, payload: 972 })).verdict).toBe('pass');
  });

  it('a packet larger than what is left passes while the bucket is positive; the debt is paid after', () => {
    // GSO/GRO super-packets (up to 64 KiB) can outgrow a small bucket: they must not be shot for ever
    const f = frame({ src: OUTSIDE, dst: POLICED, payload: 972, toSubscriber: true });
    for (let i = 0; i < 16; i++) expect(fp.testRunEgress(f).verdict).toBe('ok'); // 384 bytes left
    const gso = frame({ src: OUTSIDE, dst: POLICED, proto: IpProtocol.TCP, payload: 3 * 1000 + 12, toSubscriber: true });
    expect(fp.testRunEgress(gso, { segs: 3, size: 1000 }).verdict).toBe('ok');
    expect(fp.testRunEgress(f).verdict).toBe('shot'); // 2,736 bytes of debt
    const u = usage(POLICED);
    expect(u.txPackets).toBe(16n + 3n);
    expect(u.txBytes).toBe(16n * 1000n + 3n * 1040n);
    expect(u.policedDown).toBe(1n);
  });
});

describe('policy changes and the session API', () => {
  it('a policy change keeps the counters, and takes effect at once', () => {
    const up = frame({ src: POLICED, dst: OUTSIDE, payload: 972 });
    const down = frame({ src: OUTSIDE, dst: POLICED, payload: 972, toSubscriber: true });
    while (fp.testRun(up).verdict === 'pass');
    while (fp.testRunEgress(down).verdict === 'ok');
    const before = usage(POLICED);
    expect(before.policedUp).toBe(1n);
    expect(before.policedDown).toBe(1n);

    fp.setSession(POLICED, { walled: true }); // CoA: rates lifted, walled
    expect(usage(POLICED)).toEqual(before);
    expect([...fp.sessions()].find(([ip]) => ip === POLICED)?.[1]).toMatchObject({ upKbps: 0, downKbps: 0, walled: true });
    expect(fp.testRun(frame({ src: POLICED, dst: IN_GARDEN, payload: 972 })).verdict).toBe('pass');
    expect(fp.testRun(up).verdict).toBe('drop'); // walled now
    expect(fp.testRunEgress(frame({ src: IN_GARDEN, dst: POLICED, payload: 972, toSubscriber: true })).verdict).toBe('ok');

    fp.setSession(POLICED, { upKbps: 20_000, downKbps: 100_000 }); // out of the garden, new rates
    const after = usage(POLICED);
    expect(after.rxPackets).toBe(before.rxPackets + 2n);
    expect(after.walledDrops).toBe(1n);
    expect(fp.testRun(up).verdict).toBe('pass'); // a new limit starts with a full bucket
    expect(fp.testRunEgress(down).verdict).toBe('ok');
    const raw = fp.sessionMap.get(sessionKey(POLICED))! as { up: { burst_ns: bigint }; down: { burst_ns: bigint } };
    expect(burstBytes(20_000)).toBe(750_000); // 20 Mbit/s x 300 ms
    expect(raw.up.burst_ns).toBe(300_000_000n); // the bucket as time at the rate
    expect(raw.down.burst_ns).toBe(300_000_000n);
  });

  it('lowering a rate shrinks a fuller bucket to the new size', () => {
    fp.deleteSession(POLICED);
    fp.setSession(POLICED, { upKbps: 100_000 }); // a new limit: a full 3.75 MB bucket
    fp.setSession(POLICED, { upKbps: 8 }); // 16 KiB
    const f = frame({ src: POLICED, dst: OUTSIDE, payload: 972 });
    let passed = 0;
    while (fp.testRun(f).verdict === 'pass') passed++;
    expect(passed).toBe(Math.ceil(PoliceLimits.burstMinBytes / 1000));
  });

  it('100 Gbit/s is accepted and effectively unlimited here', () => {
    fp.setSession(PLAIN, { upKbps: PoliceLimits.rateMaxKbps, downKbps: PoliceLimits.rateMaxKbps });
    const f = frame({ src: PLAIN, dst: OUTSIDE, payload: 1472 });
    for (let i = 0; i < 200; i++) expect(fp.testRun(f).verdict).toBe('pass');
    expect(usage(PLAIN).rxBytes).toBe(200n * 1500n);
  });

  it('deleteSession: the address is unknown again', () => {
    expect(fp.deleteSession(PLAIN)).toBe(true);
    expect(fp.deleteSession(PLAIN)).toBe(false);
    expect(fp.sessionUsage(PLAIN)).toBeUndefined();
    const before = counter('pass_not_dhcp');
    expect(fp.testRun(frame({ src: PLAIN, dst: OUTSIDE })).verdict).toBe('pass');
    expect(counter('pass_not_dhcp')).toBe(before + 1n);
    expect(fp.sessionUsage(PLAIN)).toBeUndefined();
  });

  it('sessions() lists every session with its policy and usage', () => {
    const all = Object.fromEntries(fp.sessions());
    expect(Object.keys(all).sort()).toEqual([PLAIN, WALLED, POLICED].sort());
    expect(all[WALLED]).toEqual({
      upKbps: 0,
      downKbps: 0,
      walled: true,
      rxPackets: 0n,
      rxBytes: 0n,
      txPackets: 0n,
      txBytes: 0n,
      lastRxNs: 0n,
      policedUp: 0n,
      policedDown: 0n,
      walledDrops: 0n,
    });
    expect(all[POLICED]).toMatchObject({ upKbps: 8, downKbps: 8, walled: false });
  });

  it('setWalledGarden replaces the set: normalised, deduplicated, old prefixes removed', () => {
    fp.setWalledGarden(['192.0.2.77/24', '192.0.2.0/24', '10.9.8.7', '0.0.0.0/0']);
    expect(fp.walledGarden().sort()).toEqual(['0.0.0.0/0', '10.9.8.7/32', '192.0.2.0/24']);
    fp.setWalledGarden(['10.9.8.7/32']);
    expect(fp.walledGarden()).toEqual(['10.9.8.7/32']);
    expect(fp.testRun(frame({ src: WALLED, dst: IN_GARDEN })).verdict).toBe('drop');
    expect(fp.testRun(frame({ src: WALLED, dst: '10.9.8.7' })).verdict).toBe('pass');
    fp.setWalledGarden([]);
    expect(fp.walledGarden()).toEqual([]);
    expect(fp.testRun(frame({ src: WALLED, dst: '10.9.8.7' })).verdict).toBe('drop');
    fp.setWalledGarden(GARDEN);
  });

  const bad: Array<[string, () => void, RegExp]> = [
    ['an address that is not one', () => fp.setSession('10.0.0.256', {}), /^ip: "10\.0\.0\.256" is not an IPv4 address/],
    ['a name instead of an address', () => fp.setSession('bng.example', {}), /^ip: /],
    ['a negative upKbps', () => fp.setSession(PLAIN, { upKbps: -1 }), /^upKbps: -1 is not a rate in kbit\/s/],
    ['a fractional downKbps', () => fp.setSession(PLAIN, { downKbps: 1.5 }), /^downKbps: 1\.5 /],
    ['a rate over 100 Gbit/s', () => fp.setSession(PLAIN, { upKbps: 100_000_001 }), /^upKbps: 100000001 .*100000000 = 100 Gbit\/s/],
    ['a rate given as a string', () => fp.setSession(PLAIN, { downKbps: '5000' as unknown as number }), /^downKbps: "5000"/],
    ['walled not a boolean', () => fp.setSession(PLAIN, { walled: 1 as unknown as boolean }), /^walled: 1 is not a boolean/],
    ['sessionUsage of a bad address', () => fp.sessionUsage('::1'), /^ip: "::1"/],
    ['deleteSession of a bad address', () => fp.deleteSession(''), /^ip: ""/],
    ['a prefix length over 32', () => fp.setWalledGarden(['192.0.2.0/24', '10.0.0.0/33']), /^prefixes\[1\]: "10\.0\.0\.0\/33" is not an IPv4 prefix/],
    ['a prefix that is not an address', () => fp.setWalledGarden(['portal.example/32']), /^prefixes\[0\]: /],
  ];
  for (const [name, call, message] of bad) {
    it(`refuses ${name} with BNG_ERR_BAD_REQUEST naming the field`, () => {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BngError);
      expect((err as BngError).code).toBe('BNG_ERR_BAD_REQUEST');
      expect((err as BngError).message).toMatch(message);
    });
  }

  it('a refused policy leaves the session as it was; a refused garden leaves the garden', () => {
    const before = [...fp.sessions()];
    expect(() => fp.setSession(POLICED, { upKbps: 1, downKbps: -5 })).toThrow(BngError);
    expect([...fp.sessions()]).toEqual(before);
    expect(() => fp.setWalledGarden(['203.0.113.0/24', 'nope'])).toThrow(BngError);
    expect(fp.walledGarden().sort()).toEqual(['192.0.2.0/24', '198.51.100.7/32']);
  });
});

describe('counter invariants', () => {
  it('every frame each program saw is counted once as received and once under one outcome', () => {
    const c = fp.readCounters();
    const xdp = Object.entries(c).filter(([k]) => k !== 'rx' && k !== 'event_lost' && !k.startsWith('tc_'));
    const tc = Object.entries(c).filter(([k]) => k.startsWith('tc_') && k !== 'tc_rx');
    expect(c.rx).toBeGreaterThan(0n);
    expect(c.tc_rx).toBeGreaterThan(0n);
    expect(xdp.reduce((a, [, v]) => a + v, 0n)).toBe(c.rx);
    expect(tc.reduce((a, [, v]) => a + v, 0n)).toBe(c.tc_rx);
  });
});

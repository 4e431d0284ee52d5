// Table tests of bpf/progs/dhcp_fastpath.bpf.c run with BPF_PROG_RUN: each row is an input
// frame, a map preload, the expected verdict and what the reply must say (RFC 2131 §4.1 reply
// addressing, §4.3.2 REQUEST states, RFC 3046 and RFC 6842 echoes, checksums, VLAN tags).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhcpFastPath, boottimeNs, type Binding, type SubscriberMatch } from '@bng/datapath';
import { dhcp4 } from '@bng/protocols';
import { buildUdpFrame, parseFrame, type VlanTag } from '@bng/testkit';

const { MessageType, OptionCode } = dhcp4;
const SERVER_IP = '10.0.0.1';
const SERVER_MAC = '02:00:00:00:00:01';
const POOL2_SERVER = '100.64.0.1';
const RELAY_MAC = '02:00:00:00:0a:01';

interface ReqSpec {
  type: number;
  mac: string;
  vlans?: VlanTag[];
  ciaddr?: string;
  giaddr?: string;
  flags?: number;
  requestedIp?: string;
  serverId?: string;
  clientId?: Uint8Array;
  relay?: { circuitId?: Uint8Array; remoteId?: Uint8Array };
  srcMac?: string;
  srcIp?: string;
  dstIp?: string;
  ipOptions?: Uint8Array;
  extra?: dhcp4.Dhcp4Option[];
  pad?: boolean;
  xid?: number;
}

function request(r: ReqSpec): Uint8Array {
  const options: dhcp4.Dhcp4Option[] = [dhcp4.messageTypeOption(r.type)];
  if (r.clientId) options.push({ code: OptionCode.CLIENT_ID, data: r.clientId });
  if (r.requestedIp) options.push(dhcp4.ipOption(OptionCode.REQUESTED_IP, r.requestedIp));
  if (r.serverId) options.push(dhcp4.ipOption(OptionCode.SERVER_ID, r.serverId));
  options.push({ code: OptionCode.PARAMETER_REQUEST_LIST, data: Uint8Array.of(1, 3, 6, 15, 51) });
  if (r.extra) options.push(...r.extra);
  if (r.relay) options.push(dhcp4.relayAgentInfoOption(r.relay));
  const msg = dhcp4.createDhcp4Message({
    op: 1,
    xid: r.xid ?? 0x12345678,
    flags: r.flags ?? 0,
    ciaddr: r.ciaddr ?? '0.0.0.0',
    giaddr: r.giaddr ?? '0.0.0.0',
    hops: r.giaddr ? 1 : 0,
    chaddr: dhcp4.chaddrOf(Buffer.from(r.mac.split(':').map((h) => parseInt(h, 16)))),
    options,
  });
  const payload = dhcp4.encodeDhcp4(msg, { pad: r.pad ?? true });
  const relayed = r.giaddr !== undefined && r.giaddr !== '0.0.0.0';
  return buildUdpFrame({
    dstMac: relayed || r.ciaddr ? SERVER_MAC : 'ff:ff:ff:ff:ff:ff',
    srcMac: r.srcMac ?? (relayed ? RELAY_MAC : r.mac),
    vlans: r.vlans,
    srcIp: r.srcIp ?? (relayed ? r.giaddr! : r.ciaddr ?? '0.0.0.0'),
    dstIp: r.dstIp ?? (relayed || r.ciaddr ? SERVER_IP : '255.255.255.255'),
    srcPort: relayed ? 67 : 68,
    dstPort: 67,
    payload,
    ipOptions: r.ipOptions,
  });
}

interface Reply {
  verdict: string;
  raw: Buffer;
  frame: ReturnType<typeof parseFrame>;
  msg: dhcp4.Dhcp4Message;
  type: number | undefined;
}

let fp: DhcpFastPath;

function run(frame: Uint8Array): { verdict: string; frame: Buffer } {
  return fp.testRun(frame);
}

function runReply(frame: Uint8Array): Reply {
  const r = run(frame);
  expect(r.verdict).toBe('tx');
  const parsed = parseFrame(r.frame);
  expect(parsed.ipv4?.headerChecksumOk).toBe(true);
  expect(parsed.ipv4?.ihl).toBe(5);
  expect(parsed.udp?.checksumOk).toBe(true);
  expect(parsed.udp?.checksum).not.toBe(0);
  expect(parsed.udp?.srcPort).toBe(67);
  // RFC 1542: at least the 300-octet BOOTP minimum
  expect(parsed.payload.length).toBeGreaterThanOrEqual(300);
  const msg = dhcp4.decodeDhcp4(parsed.payload);
  expect(msg.op).toBe(2);
  return { verdict: r.verdict, raw: r.frame, frame: parsed, msg, type: dhcp4.messageType(msg) };
}

function counters(): Record<string, bigint> {
  return fp.readCounters();
}

const MAC_A = '52:54:00:00:00:0a';
const MAC_B = '52:54:00:00:00:0b';
const MAC_EXPIRED = '52:54:00:00:00:0e';
const MAC_STATIC = '52:54:00:00:00:05';
const MAC_SLOW = '52:54:00:00:00:51';
const MAC_POOL2 = '52:54:00:00:00:22';
const MAC_UNKNOWN = '52:54:00:00:00:99';
const CIRCUIT = Buffer.from('olt1/pon0/ont7');
const REMOTE = Buffer.from('ont-serial-0007');

beforeAll(() => {
  fp = DhcpFastPath.load({ serverIp: SERVER_IP, serverMac: SERVER_MAC });
  fp.setPool(1, { netmask: '255.255.255.0', gateway: '10.0.0.1', dns: ['9.9.9.9', '1.1.1.1'], leaseTimeS: 3600, domain: 'isp.example' });
  fp.setPool(2, { netmask: '255.255.0.0', gateway: '100.64.0.1', dns: ['100.64.0.53'], leaseTimeS: 600, t1S: 200, t2S: 500, serverIp: POOL2_SERVER });
  const now = boottimeNs();
  const subs: Array<[SubscriberMatch, Binding]> = [
    [{ mac: MAC_A }, { ip: '10.0.0.10', poolId: 1 }],
    [{ mac: MAC_B }, { ip: '10.0.0.11', poolId: 1, leaseExpiresNs: now + 3_600_000_000_000n }],
    [{ mac: MAC_EXPIRED }, { ip: '10.0.0.14', poolId: 1, leaseExpiresNs: now - 1_000_000_000n }],
    [{ mac: MAC_STATIC }, { ip: '10.0.0.5', poolId: 1, leaseExpiresNs: now - 1_000_000_000n, static: true }],
    [{ mac: MAC_SLOW }, { ip: '10.0.0.51', poolId: 1, slowPath: true }],
    [{ mac: MAC_POOL2 }, { ip: '100.64.3.4', poolId: 2 }],
    [{ vlan: { sTag: 0, cTag: 100 } }, { ip: '10.0.0.100', poolId: 1 }],
    [{ vlan: { sTag: 200, cTag: 300 } }, { ip: '10.0.0.200', poolId: 1 }],
    [{ circuitId: CIRCUIT }, { ip: '10.0.0.70', poolId: 1 }],
    [{ remoteId: REMOTE }, { ip: '10.0.0.71', poolId: 1 }],
    [{ mac: '52:54:00:00:00:77' }, { ip: '10.0.0.77', poolId: 99 }],
  ];
  expect(fp.setSubscribers(subs)).toBe(subs.length);
});

afterAll(() => fp?.close());

describe('DISCOVER -> OFFER (RFC 2131 §4.3.1, reply addressing §4.1)', () => {
  it('unicasts to chaddr/yiaddr when the broadcast bit is clear', () => {
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A }));
    expect(r.type).toBe(MessageType.DHCPOFFER);
    expect(r.frame.dstMac).toBe(MAC_A);
    expect(r.frame.srcMac).toBe(SERVER_MAC);
    expect(r.frame.ipv4?.dst).toBe('10.0.0.10');
    expect(r.frame.ipv4?.src).toBe(SERVER_IP);
    expect(r.frame.udp?.dstPort).toBe(68);
    expect(r.msg.yiaddr).toBe('10.0.0.10');
    expect(r.msg.ciaddr).toBe('0.0.0.0');
    expect(r.msg.xid).toBe(0x12345678);
    expect(dhcp4.serverId(r.msg)).toBe(SERVER_IP);
    expect(dhcp4.leaseTime(r.msg)).toBe(3600);
    expect(dhcp4.readU32Option(dhcp4.getOption(r.msg, OptionCode.RENEWAL_TIME)!)).toBe(1800);
    expect(dhcp4.readU32Option(dhcp4.getOption(r.msg, OptionCode.REBINDING_TIME)!)).toBe(3150);
    expect(dhcp4.readIpOption(dhcp4.getOption(r.msg, OptionCode.SUBNET_MASK)!)).toBe('255.255.255.0');
    expect(dhcp4.readIpListOption(dhcp4.getOption(r.msg, OptionCode.ROUTER)!)).toEqual(['10.0.0.1']);
    expect(dhcp4.readIpListOption(dhcp4.getOption(r.msg, OptionCode.DNS)!)).toEqual(['9.9.9.9', '1.1.1.1']);
    expect(dhcp4.readStringOption(dhcp4.getOption(r.msg, OptionCode.DOMAIN_NAME)!)).toBe('isp.example');
  });

  it('broadcasts when the client set the broadcast bit', () => {
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, flags: 0x8000 }));
    expect(r.frame.dstMac).toBe('ff:ff:ff:ff:ff:ff');
    expect(r.frame.ipv4?.dst).toBe('255.255.255.255');
    expect(r.msg.flags).toBe(0x8000);
  });

  it("uses the pool's own server identifier, lease and T1/T2", () => {
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_POOL2 }));
    expect(dhcp4.serverId(r.msg)).toBe(POOL2_SERVER);
    expect(r.frame.ipv4?.src).toBe(POOL2_SERVER);
    expect(dhcp4.leaseTime(r.msg)).toBe(600);
    expect(dhcp4.readU32Option(dhcp4.getOption(r.msg, OptionCode.RENEWAL_TIME)!)).toBe(200);
    expect(dhcp4.readU32Option(dhcp4.getOption(r.msg, OptionCode.REBINDING_TIME)!)).toBe(500);
    expect(dhcp4.getOption(r.msg, OptionCode.DOMAIN_NAME)).toBeUndefined();
    expect(dhcp4.readIpListOption(dhcp4.getOption(r.msg, OptionCode.DNS)!)).toEqual(['100.64.0.53']);
  });

  it('echoes the client identifier (RFC 6842 §3)', () => {
    const cid = Uint8Array.of(0xff, 0, 0, 0, 1, 0, 1, 0x2a, 0x2b, 0x2c);
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, clientId: cid }));
    expect(Buffer.from(dhcp4.clientId(r.msg)!)).toEqual(Buffer.from(cid));
  });

  it('answers a request that carried IP options, with a plain 20-byte header', () => {
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, ipOptions: Uint8Array.of(0x94, 4, 0, 0) }));
    expect(r.type).toBe(MessageType.DHCPOFFER);
  });

  it('grows the frame when the reply is longer than a short, unpadded request', () => {
    const req = request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, pad: false });
    const r = runReply(req);
    expect(r.raw.length).toBeGreaterThan(req.length);
  });
});

describe('REQUEST states (RFC 2131 §4.3.2)', () => {
  it('SELECTING with our server identifier: ACK, lease moved forward, event emitted', () => {
    const events: string[] = [];
    fp.onEvents((evs) => evs.forEach((e) => events.push(`${e.type} ${e.mac} ${e.ip} ${e.match} ${e.xid.toString(16)}`)));
    const before = boottimeNs();
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_A, requestedIp: '10.0.0.10', serverId: SERVER_IP, xid: 0xabcdef01 }));
    expect(r.type).toBe(MessageType.DHCPACK);
    expect(r.msg.yiaddr).toBe('10.0.0.10');
    const b = fp.getSubscriber({ mac: MAC_A })!;
    expect(b.leaseExpiresNs! >= before + 3_600_000_000_000n).toBe(true);
    fp.pollEvents();
    expect(events).toContain(`ack ${MAC_A} 10.0.0.10 mac abcdef01`);
  });

  it('SELECTING with another server identifier: silent here, passed up untouched', () => {
    const before = counters().pass_other_server!;
    const req = request({ type: MessageType.DHCPREQUEST, mac: MAC_A, requestedIp: '10.0.0.10', serverId: '10.9.9.9' });
    const r = run(req);
    expect(r.verdict).toBe('pass');
    expect(Buffer.from(r.frame)).toEqual(Buffer.from(req));
    expect(counters().pass_other_server).toBe(before + 1n);
  });

  it('SELECTING with an address other than ours: NAK, broadcast', () => {
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_A, requestedIp: '10.0.0.99', serverId: SERVER_IP }));
    expect(r.type).toBe(MessageType.DHCPNAK);
    expect(r.msg.yiaddr).toBe('0.0.0.0');
    expect(r.frame.dstMac).toBe('ff:ff:ff:ff:ff:ff');
    expect(r.frame.ipv4?.dst).toBe('255.255.255.255');
    expect(dhcp4.leaseTime(r.msg)).toBeUndefined();
    expect(dhcp4.serverId(r.msg)).toBe(SERVER_IP);
  });

  it('INIT-REBOOT with the right address: ACK', () => {
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_B, requestedIp: '10.0.0.11' }));
    expect(r.type).toBe(MessageType.DHCPACK);
    expect(r.msg.yiaddr).toBe('10.0.0.11');
  });

  it('INIT-REBOOT with a wrong address: NAK broadcast', () => {
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_B, requestedIp: '192.168.1.50' }));
    expect(r.type).toBe(MessageType.DHCPNAK);
    expect(r.frame.dstMac).toBe('ff:ff:ff:ff:ff:ff');
  });

  it('RENEWING (unicast, ciaddr set): ACK unicast to ciaddr, ciaddr echoed', () => {
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_B, ciaddr: '10.0.0.11' }));
    expect(r.type).toBe(MessageType.DHCPACK);
    expect(r.msg.ciaddr).toBe('10.0.0.11');
    expect(r.frame.ipv4?.dst).toBe('10.0.0.11');
    expect(r.frame.dstMac).toBe(MAC_B);
    expect(r.frame.udp?.dstPort).toBe(68);
  });

  it('REBINDING (broadcast, ciaddr set): ACK to ciaddr', () => {
    const r = runReply(
      request({ type: MessageType.DHCPREQUEST, mac: MAC_B, ciaddr: '10.0.0.11', dstIp: '255.255.255.255', flags: 0 }),
    );
    expect(r.type).toBe(MessageType.DHCPACK);
    expect(r.frame.ipv4?.dst).toBe('10.0.0.11');
  });

  it('RENEWING an address that is not the binding: NAK', () => {
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_B, ciaddr: '10.0.0.99' }));
    expect(r.type).toBe(MessageType.DHCPNAK);
    expect(r.msg.ciaddr).toBe('0.0.0.0');
  });

  it('a REQUEST that fits no state is passed up', () => {
    const r = run(request({ type: MessageType.DHCPREQUEST, mac: MAC_B }));
    expect(r.verdict).toBe('pass');
  });
});

describe('relayed requests (RFC 2131 §4.1, RFC 3046)', () => {
  const relay = { circuitId: CIRCUIT, remoteId: Buffer.from('not-provisioned') };

  it('finds the subscriber by circuit-id, answers the relay on port 67, echoes Option 82 verbatim', () => {
    const req = request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN, giaddr: '10.1.0.1', relay });
    const r = runReply(req);
    expect(r.type).toBe(MessageType.DHCPOFFER);
    expect(r.msg.yiaddr).toBe('10.0.0.70');
    expect(r.msg.giaddr).toBe('10.1.0.1');
    expect(r.frame.ipv4?.dst).toBe('10.1.0.1');
    expect(r.frame.udp?.dstPort).toBe(67);
    expect(r.frame.dstMac).toBe(RELAY_MAC);
    const sent = dhcp4.getOption(dhcp4.decodeDhcp4(parseFrame(req).payload), OptionCode.RELAY_AGENT_INFO)!;
    const echoed = dhcp4.getOption(r.msg, OptionCode.RELAY_AGENT_INFO)!;
    expect(Buffer.from(echoed)).toEqual(Buffer.from(sent));
    // RFC 3046 §2.2: the echoed option is the last one before End
    expect(r.msg.options[r.msg.options.length - 1]!.code).toBe(OptionCode.RELAY_AGENT_INFO);
  });

  it('finds the subscriber by remote-id', () => {
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN, giaddr: '10.1.0.1', relay: { remoteId: REMOTE } }));
    expect(r.msg.yiaddr).toBe('10.0.0.71');
  });

  it('NAK through a relay goes to the relay with the broadcast bit set', () => {
    const r = runReply(
      request({ type: MessageType.DHCPREQUEST, mac: MAC_UNKNOWN, giaddr: '10.1.0.1', relay, requestedIp: '10.0.0.3' }),
    );
    expect(r.type).toBe(MessageType.DHCPNAK);
    expect(r.frame.ipv4?.dst).toBe('10.1.0.1');
    expect(r.frame.udp?.dstPort).toBe(67);
    expect(r.msg.flags & 0x8000).toBe(0x8000);
  });

  it('ACK through a relay', () => {
    const r = runReply(
      request({ type: MessageType.DHCPREQUEST, mac: MAC_UNKNOWN, giaddr: '10.1.0.1', relay, requestedIp: '10.0.0.70', serverId: SERVER_IP }),
    );
    expect(r.type).toBe(MessageType.DHCPACK);
    expect(r.frame.ipv4?.dst).toBe('10.1.0.1');
  });

  it('an unknown circuit is passed up', () => {
    const r = run(request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN, giaddr: '10.1.0.1', relay: { circuitId: Buffer.from('nope') } }));
    expect(r.verdict).toBe('pass');
  });
});

describe('VLAN lines (802.1Q, QinQ)', () => {
  it('802.1Q: found by C-TAG, tag and priority preserved in the reply', () => {
    const vlans: VlanTag[] = [{ tpid: 0x8100, vid: 100, pcp: 5 }];
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN, vlans }));
    expect(r.msg.yiaddr).toBe('10.0.0.100');
    expect(r.frame.vlans).toEqual([{ tpid: 0x8100, vid: 100, pcp: 5, dei: false }]);
  });

  it('QinQ 802.1ad outer + 802.1Q inner: found by S-TAG/C-TAG, both tags preserved', () => {
    const vlans: VlanTag[] = [{ tpid: 0x88a8, vid: 200 }, { tpid: 0x8100, vid: 300, pcp: 3 }];
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN, vlans }));
    expect(r.msg.yiaddr).toBe('10.0.0.200');
    expect(r.frame.vlans.map((v) => [v.tpid, v.vid, v.pcp])).toEqual([[0x88a8, 200, 0], [0x8100, 300, 3]]);
  });

  it('QinQ with 0x8100 outer (double 802.1Q)', () => {
    const vlans: VlanTag[] = [{ tpid: 0x8100, vid: 200 }, { tpid: 0x8100, vid: 300 }];
    const r = runReply(request({ type: MessageType.DHCPREQUEST, mac: MAC_UNKNOWN, vlans, requestedIp: '10.0.0.200', serverId: SERVER_IP }));
    expect(r.type).toBe(MessageType.DHCPACK);
    expect(r.frame.vlans.map((v) => v.vid)).toEqual([200, 300]);
  });

  it('a MAC binding wins over the line binding; an unknown tag is passed up', () => {
    const r = runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, vlans: [{ tpid: 0x8100, vid: 100 }] }));
    expect(r.msg.yiaddr).toBe('10.0.0.10');
    expect(run(request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN, vlans: [{ tpid: 0x8100, vid: 101 }] })).verdict).toBe('pass');
  });
});

describe('what goes to userspace', () => {
  const cases: Array<[string, () => Uint8Array, string]> = [
    ['unknown subscriber', () => request({ type: MessageType.DHCPDISCOVER, mac: MAC_UNKNOWN }), 'pass_unknown_subscriber'],
    ['lease expired', () => request({ type: MessageType.DHCPDISCOVER, mac: MAC_EXPIRED }), 'pass_lease_expired'],
    ['subscriber marked for the slow path', () => request({ type: MessageType.DHCPDISCOVER, mac: MAC_SLOW }), 'pass_slowpath_flag'],
    ['pool missing', () => request({ type: MessageType.DHCPDISCOVER, mac: '52:54:00:00:00:77' }), 'pass_no_pool'],
    ['RELEASE', () => request({ type: MessageType.DHCPRELEASE, mac: MAC_A, ciaddr: '10.0.0.10', serverId: SERVER_IP }), 'pass_msg_type'],
    ['DECLINE', () => request({ type: MessageType.DHCPDECLINE, mac: MAC_A, requestedIp: '10.0.0.10', serverId: SERVER_IP }), 'pass_msg_type'],
    ['INFORM', () => request({ type: MessageType.DHCPINFORM, mac: MAC_A, ciaddr: '10.0.0.10' }), 'pass_msg_type'],
    [
      'option overload',
      () => {
        // the encoder writes option 52 itself; put one in by hand over the parameter list
        const f = Buffer.from(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A }));
        const at = f.indexOf(Buffer.from([55, 5, 1, 3, 6, 15, 51]));
        Buffer.from([OptionCode.OVERLOAD, 1, 1, 0, 0, 0, 0]).copy(f, at);
        return f;
      },
      'pass_option_overload',
    ],
    [
      'more than 64 options',
      () => request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, extra: Array.from({ length: 70 }, () => ({ code: 224, data: Uint8Array.of(1) })) }),
      'pass_option_limit',
    ],
    [
      'more option bytes than an Ethernet MTU carries (jumbo frame)',
      () => request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, extra: Array.from({ length: 5 }, (_, i) => ({ code: 224 + i, data: new Uint8Array(255) })) }),
      'pass_option_limit',
    ],
    [
      'UDP to another port',
      () => buildUdpFrame({ dstMac: SERVER_MAC, srcMac: MAC_A, srcIp: '10.0.0.10', dstIp: SERVER_IP, srcPort: 68, dstPort: 53, payload: new Uint8Array(40) }),
      'pass_not_dhcp',
    ],
  ];
  for (const [name, make, reason] of cases) {
    it(`${name}: XDP_PASS, frame untouched, counted as ${reason}`, () => {
      const before = counters()[reason]!;
      const req = make();
      const r = run(req);
      expect(r.verdict).toBe('pass');
      expect(Buffer.from(r.frame)).toEqual(Buffer.from(req));
      expect(counters()[reason]).toBe(before + 1n);
    });
  }

  it('a static binding is answered even past its expiry', () => {
    expect(runReply(request({ type: MessageType.DHCPDISCOVER, mac: MAC_STATIC })).msg.yiaddr).toBe('10.0.0.5');
  });

  it('ARP and IPv6 pass untouched', () => {
    const arp = Buffer.alloc(42);
    arp.fill(0xff, 0, 6);
    arp.writeUInt16BE(0x0806, 12);
    expect(run(arp).verdict).toBe('pass');
    const v6 = Buffer.alloc(80);
    v6.writeUInt16BE(0x86dd, 12);
    v6[14] = 0x60;
    expect(run(v6).verdict).toBe('pass');
  });

  it('IP fragments pass', () => {
    const req = Buffer.from(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A }));
    req.writeUInt16BE(0x2000, 14 + 6); // MF
    expect(run(req).verdict).toBe('pass');
  });

  it('the fast path switched off at load passes everything', () => {
    const off = DhcpFastPath.load({ serverIp: SERVER_IP, serverMac: SERVER_MAC, disabled: true });
    try {
      off.setPool(1, { netmask: '255.255.255.0', leaseTimeS: 60 });
      off.setSubscriber({ mac: MAC_A }, { ip: '10.0.0.10', poolId: 1 });
      expect(off.testRun(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A })).verdict).toBe('pass');
      expect(off.readCounters().pass_disabled).toBe(1n);
    } finally {
      off.close();
    }
  });
});

describe('malformed input', () => {
  it('an option running past the end of the message is dropped and counted', () => {
    const req = Buffer.from(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, pad: false }));
    // make the parameter request list (option 55) claim more bytes than remain
    const idx = req.indexOf(Buffer.from([55, 5, 1, 3, 6, 15, 51]));
    expect(idx).toBeGreaterThan(0);
    expect(req.length).toBeGreaterThan(idx);
    req[idx + 1] = 250;
    const before = counters().drop_malformed_options!;
    expect(run(req).verdict).toBe('drop');
    expect(counters().drop_malformed_options).toBe(before + 1n);
  });

  it('a message type option with a bad length is dropped', () => {
    const req = Buffer.from(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A }));
    const idx = req.indexOf(Buffer.from([99, 130, 83, 99, 53, 1]));
    req[idx + 5] = 2;
    expect(run(req).verdict).toBe('drop');
  });

  for (const [label, vlans] of [
    ['untagged', undefined],
    ['802.1Q', [{ tpid: 0x8100, vid: 100 }]],
    ['QinQ', [{ tpid: 0x88a8, vid: 200 }, { tpid: 0x8100, vid: 300 }]],
  ] as Array<[string, VlanTag[] | undefined]>) {
    it(`${label} DISCOVER and relayed REQUEST truncated at every offset: never answered, passed frames untouched`, () => {
      const frames = [
        request({ type: MessageType.DHCPDISCOVER, mac: vlans ? MAC_UNKNOWN : MAC_A, vlans, clientId: Uint8Array.of(1, 2, 3) }),
        request({ type: MessageType.DHCPREQUEST, mac: MAC_UNKNOWN, giaddr: '10.1.0.1', relay: { circuitId: CIRCUIT }, requestedIp: '10.0.0.70', serverId: SERVER_IP, vlans }),
      ];
      for (const full of frames) {
        expect(run(full).verdict).toBe('tx');
        for (let len = 0; len < full.length; len++) {
          const cut = full.slice(0, len);
          const r = run(cut.length >= 14 ? cut : Buffer.concat([cut, Buffer.alloc(14 - cut.length)]).subarray(0, Math.max(len, 14)));
          expect(['pass', 'drop']).toContain(r.verdict);
          if (r.verdict === 'pass' && len >= 14) expect(Buffer.from(r.frame)).toEqual(Buffer.from(cut));
        }
      }
    });
  }

  it('random corruption of a valid request never yields a reply with a bad checksum', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const base = Buffer.from(request({ type: MessageType.DHCPDISCOVER, mac: MAC_A, relay: { circuitId: CIRCUIT } }));
    for (let i = 0; i < 2000; i++) {
      const f = Buffer.from(base);
      for (let k = 0; k < 3; k++) f[42 + (rnd() % (f.length - 42))] = rnd() & 0xff;
      const r = run(f);
      expect(['pass', 'drop', 'tx']).toContain(r.verdict);
      if (r.verdict === 'tx') {
        const p = parseFrame(r.frame);
        expect(p.ipv4?.headerChecksumOk).toBe(true);
        expect(p.udp?.checksumOk).toBe(true);
      }
    }
  });

  it('every frame is counted once as received and once under an outcome', () => {
    const c = counters();
    const outcomes = Object.entries(c)
      .filter(([k]) => k !== 'rx' && k !== 'event_lost')
      .reduce((a, [, v]) => a + v, 0n);
    expect(c.rx).toBeGreaterThan(0n);
    expect(outcomes).toBe(c.rx);
  });
});

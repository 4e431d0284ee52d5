import { describe, expect, it } from 'vitest';
import { dhcp4 } from '@bng/protocols';
import { LeaseState, createMemoryLeaseStore } from '../src/dhcp/index.js';
import {
  MessageType,
  OptionCode,
  baseConfig,
  clientMessage,
  dora,
  dropped,
  harness,
  meta,
  replyType,
  requested,
  sent,
  server,
} from './dhcp-helpers.js';

const codes = (m: dhcp4.Dhcp4Message): number[] => m.options.map((o) => o.code);

describe('DISCOVER / OFFER (RFC 2131 §4.3.1)', () => {
  it('offers the first free address with the pool parameters, held for the offer time', () => {
    const h = harness();
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { flags: 0x8000 }), meta(), h.now.ms));
    const m = offer.message;
    expect(replyType(offer)).toBe(MessageType.DHCPOFFER);
    expect(m).toMatchObject({ op: 2, xid: 0x11223344, yiaddr: '10.0.1.10', ciaddr: '0.0.0.0', giaddr: '0.0.0.0', flags: 0x8000 });
    expect(dhcp4.macOf(m)).toBe('02:00:00:00:00:01');
    expect(codes(m)).toEqual([53, 54, 51, 58, 59, 1, 28, 3, 6, 15]);
    expect(dhcp4.serverId(m)).toBe('10.0.1.1');
    expect(dhcp4.leaseTime(m)).toBe(3600);
    expect(dhcp4.readU32Option(dhcp4.getOption(m, OptionCode.RENEWAL_TIME)!)).toBe(1800);
    expect(dhcp4.readU32Option(dhcp4.getOption(m, OptionCode.REBINDING_TIME)!)).toBe(3150);
    expect(dhcp4.readIpOption(dhcp4.getOption(m, OptionCode.SUBNET_MASK)!)).toBe('255.255.255.0');
    expect(dhcp4.readIpOption(dhcp4.getOption(m, OptionCode.BROADCAST_ADDRESS)!)).toBe('10.0.1.255');
    expect(dhcp4.readIpListOption(dhcp4.getOption(m, OptionCode.DNS)!)).toEqual(['9.9.9.9', '1.1.1.1']);
    expect(dhcp4.readStringOption(dhcp4.getOption(m, OptionCode.DOMAIN_NAME)!)).toBe('isp.example');
    // broadcast bit set: to 255.255.255.255 (§4.1)
    expect(offer.dst).toEqual({ mac: 'ff:ff:ff:ff:ff:ff', ip: '255.255.255.255', port: 68 });
    expect(offer.src).toEqual({ ip: '10.0.1.1', port: 67 });
    expect(offer.payload.length).toBeGreaterThanOrEqual(300);
    expect(h.leases.get('10.0.1.10')).toMatchObject({ state: LeaseState.OFFERED, expiresAtMs: h.now.ms + 30_000 });
    expect(h.server.counters().OFFER).toBe(1);
  });

  it('unicasts to chaddr/yiaddr when the broadcast bit is clear (§4.1)', () => {
    const h = harness();
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
    expect(offer.dst).toEqual({ mac: '02:00:00:00:00:01', ip: '10.0.1.10', port: 68 });
  });

  it('answers on the interface and VLAN tags the request came in on', () => {
    const h = harness();
    const m = meta({ ifname: 'olt-uplink', vlans: [200, 42] });
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), m, h.now.ms));
    expect(offer.ifname).toBe('olt-uplink');
    expect(offer.vlans).toEqual([200, 42]);
  });

  it('the offered address is held: a second client gets the next one', () => {
    const h = harness();
    sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
    const second = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:02' }), meta(), h.now.ms));
    expect(second.message.yiaddr).toBe('10.0.1.11');
    // the first client retransmitting gets its held address again
    const again = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms + 1000));
    expect(again.message.yiaddr).toBe('10.0.1.10');
  });

  it('honours a requested address when it is free and in the pool', () => {
    const h = harness();
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { options: [requested('10.0.1.12')] }), meta(), h.now.ms));
    expect(offer.message.yiaddr).toBe('10.0.1.12');
    // outside the range, the gateway, or another pool's network: ignored
    for (const ip of ['10.0.1.50', '10.0.1.1', '10.0.2.10']) {
      const o = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:01:01', options: [requested(ip)] }), meta(), h.now.ms));
      expect(o.message.yiaddr).not.toBe(ip);
    }
  });

  it('pool exhaustion: no offer, a counted reason; addresses return when offers lapse', () => {
    const h = harness({ ...baseConfig, pools: [baseConfig.pools[0]!] });
    for (let i = 1; i <= 3; i++) sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: `02:00:00:00:00:0${i}` }), meta(), h.now.ms));
    const fourth = clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:04' });
    expect(dropped(h.server.handle(fourth, meta(), h.now.ms))).toBe('POOL_EXHAUSTED');
    expect(h.server.counters().POOL_EXHAUSTED).toBe(1);
    expect(sent(h.server.handle(fourth, meta(), h.now.ms + 30_001)).message.yiaddr).toMatch(/^10\.0\.1\.1[0-2]$/);
  });

  it('a bound client rediscovering gets its address and the remaining lease time', () => {
    const h = harness();
    dora(h);
    h.now.ms += 1000 * 1000;
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
    expect(offer.message.yiaddr).toBe('10.0.1.10');
    expect(dhcp4.leaseTime(offer.message)).toBe(2600);
    expect(h.leases.get('10.0.1.10')!.state).toBe(LeaseState.BOUND);
  });

  it('a released client gets its previous address back; others take never-used ones first', () => {
    const h = harness();
    dora(h);
    h.server.handle(clientMessage(MessageType.DHCPRELEASE, { ciaddr: '10.0.1.10', options: [server('10.0.1.1')] }), meta(), h.now.ms);
    const other = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:02' }), meta(), h.now.ms));
    expect(other.message.yiaddr).toBe('10.0.1.11');
    const back = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
    expect(back.message.yiaddr).toBe('10.0.1.10');
  });

  it('grants a shorter lease when asked, never below the minimum, never above the pool', () => {
    const h = harness();
    const lease = (secs: number): number | undefined =>
      dhcp4.leaseTime(
        sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { options: [dhcp4.u32Option(OptionCode.LEASE_TIME, secs)] }), meta(), h.now.ms)).message,
      );
    expect(lease(600)).toBe(600);
    expect(lease(5)).toBe(60);
    expect(lease(999_999)).toBe(3600);
  });
});

describe('classification and reservations', () => {
  it('VLAN-matched pool, with its own server id, wins over the catch-all', () => {
    const h = harness();
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta({ vlans: [200, 42] }), h.now.ms));
    expect(offer.message.yiaddr).toMatch(/^10\.0\.2\./);
    expect(dhcp4.serverId(offer.message)).toBe('10.0.2.1');
    expect(offer.src.ip).toBe('10.0.2.1');
    expect(dhcp4.leaseTime(offer.message)).toBe(7200);
    // inner tag out of range: falls back to the catch-all
    const other = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:02' }), meta({ vlans: [200, 100] }), h.now.ms));
    expect(other.message.yiaddr).toMatch(/^10\.0\.1\./);
  });

  it('interface-matched pool', () => {
    const h = harness();
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta({ ifname: 'guest0' }), h.now.ms));
    expect(offer.message.yiaddr).toMatch(/^10\.8\.0\./);
  });

  it('relayed request: pool by giaddr subnet, reply to the relay on port 67, option 82 echoed last', () => {
    const h = harness();
    const info = dhcp4.relayAgentInfoOption({ circuitId: Buffer.from('olt9 eth 0/1:7'), remoteId: Uint8Array.of(1, 2, 3) });
    const m = meta({ srcMac: '02:00:00:00:99:99' });
    const offer = sent(
      h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { giaddr: '10.9.0.1', options: [dhcp4.bytesOption(61, Uint8Array.of(1, 2, 0, 0, 0, 0, 1)), info] }), m, h.now.ms),
    );
    expect(offer.message.yiaddr).toBe('10.9.0.100');
    expect(offer.message.giaddr).toBe('10.9.0.1');
    expect(offer.dst).toEqual({ mac: '02:00:00:00:99:99', ip: '10.9.0.1', port: 67 });
    const opts = offer.message.options;
    expect(opts[opts.length - 1]).toEqual(info);
    // RFC 6842: the client identifier comes back too
    expect(dhcp4.clientId(offer.message)).toEqual(Uint8Array.of(1, 2, 0, 0, 0, 0, 1));
  });

  it('direct requests overflow into the next catch-all pool when the first is full', () => {
    const h = harness();
    for (let i = 1; i <= 3; i++) sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: `02:00:00:00:00:0${i}` }), meta(), h.now.ms));
    const fourth = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:04' }), meta(), h.now.ms));
    expect(fourth.message.yiaddr).toBe('10.9.0.100');
  });

  it('a relayed request from a subnet no pool covers gets no offer', () => {
    const h = harness();
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { giaddr: '192.0.2.1' }), meta(), h.now.ms))).toBe('NO_POOL');
  });

  it('circuit-id matched pool; the binding records the agent ids', () => {
    const h = harness();
    const info = dhcp4.relayAgentInfoOption({ circuitId: Buffer.from('olt1 eth 1/2:100'), remoteId: Buffer.from('cpe-7') });
    const ack = dora(h, { options: [info] });
    expect(ack.message.yiaddr).toMatch(/^10\.7\.0\./);
    const lease = h.leases.get(ack.message.yiaddr)!;
    expect(Buffer.from(lease.circuitId!, 'hex').toString()).toBe('olt1 eth 1/2:100');
    expect(Buffer.from(lease.remoteId!, 'hex').toString()).toBe('cpe-7');
  });

  it('reservations by MAC (with hostname) and by client id; nobody else gets a reserved address', () => {
    const h = harness();
    const printer = dora(h, { mac: '02:00:00:00:00:99' });
    expect(printer.message.yiaddr).toBe('10.0.1.200');
    expect(dhcp4.hostname(printer.message)).toBe('printer');
    const byId = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:55', options: [dhcp4.bytesOption(61, Buffer.from('01aabbccddeeff', 'hex'))] }), meta(), h.now.ms));
    expect(byId.message.yiaddr).toBe('10.0.1.201');
    const thief = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:56', options: [requested('10.0.1.201')] }), meta(), h.now.ms));
    expect(thief.message.yiaddr).not.toBe('10.0.1.201');
  });

  it('bindings are keyed by client identifier when present (RFC 6842), else by chaddr', () => {
    const h = harness();
    const id = (v: number): dhcp4.Dhcp4Option => dhcp4.bytesOption(61, Uint8Array.of(0xff, 0, 0, 0, v, 0, 1));
    const a = dora(h, { options: [id(1)] });
    const b = dora(h, { options: [id(2)] }); // same MAC, another identity
    expect(a.message.yiaddr).not.toBe(b.message.yiaddr);
    expect(h.leases.get(a.message.yiaddr)!.clientKey).toBe('id:ff00000001' + '0001');
    const c = dora(h, { mac: '02:00:00:00:00:03' });
    expect(h.leases.get(c.message.yiaddr)!.clientKey).toBe('hw:1:02:00:00:00:00:03');
  });
});

describe('REQUEST (RFC 2131 §4.3.2)', () => {
  it('SELECTING: commits the binding, then ACKs; bind action first', () => {
    const h = harness();
    const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
    const actions = h.server.handle(
      clientMessage(MessageType.DHCPREQUEST, { options: [requested(offer.message.yiaddr), server('10.0.1.1'), dhcp4.stringOption(12, 'laptop')] }),
      meta(),
      h.now.ms,
    );
    expect(actions.map((a) => a.type)).toEqual(['bind', 'send']);
    const ack = sent(actions);
    expect(replyType(ack)).toBe(MessageType.DHCPACK);
    expect(ack.message.yiaddr).toBe('10.0.1.10');
    expect(ack.dst).toEqual({ mac: '02:00:00:00:00:01', ip: '10.0.1.10', port: 68 });
    expect(h.leases.get('10.0.1.10')).toMatchObject({ state: 'bound', hostname: 'laptop', expiresAtMs: h.now.ms + 3_600_000, pool: 'residential' });
  });

  it('SELECTING another server: silent, and our offer is withdrawn', () => {
    const h = harness();
    sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
    const r = h.server.handle(clientMessage(MessageType.DHCPREQUEST, { options: [requested('10.0.1.10'), server('10.0.1.254')] }), meta(), h.now.ms);
    expect(dropped(r)).toBe('OTHER_SERVER');
    expect(h.leases.get('10.0.1.10')).toBeUndefined();
  });

  it('SELECTING an address now held by someone else: NAK, broadcast, only the allowed options', () => {
    const h = harness();
    dora(h, { mac: '02:00:00:00:00:02' }); // takes .10
    const r = sent(
      h.server.handle(clientMessage(MessageType.DHCPREQUEST, { options: [requested('10.0.1.10'), server('10.0.1.1'), dhcp4.bytesOption(61, Uint8Array.of(1, 9, 9))] }), meta(), h.now.ms),
    );
    expect(replyType(r)).toBe(MessageType.DHCPNAK);
    expect(codes(r.message)).toEqual([53, 54, 56, 61]);
    expect(r.message.yiaddr).toBe('0.0.0.0');
    expect(r.dst).toEqual({ mac: 'ff:ff:ff:ff:ff:ff', ip: '255.255.255.255', port: 68 });
  });

  it('SELECTING without a requested address is malformed and dropped', () => {
    const h = harness();
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPREQUEST, { options: [server('10.0.1.1')] }), meta(), h.now.ms))).toBe('MALFORMED_REQUEST');
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPREQUEST), meta(), h.now.ms))).toBe('MALFORMED_REQUEST');
  });

  it('NAK through a relay goes to the relay with the broadcast bit set', () => {
    const h = harness();
    dora(h, { mac: '02:00:00:00:00:02', giaddr: '10.9.0.1' }); // .100
    const r = sent(h.server.handle(clientMessage(MessageType.DHCPREQUEST, { giaddr: '10.9.0.1', options: [requested('10.9.0.100'), server('10.0.1.1')] }), meta(), h.now.ms));
    expect(replyType(r)).toBe(MessageType.DHCPNAK);
    expect(r.message.flags & 0x8000).toBe(0x8000);
    expect(r.dst).toMatchObject({ ip: '10.9.0.1', port: 67 });
  });

  describe('INIT-REBOOT', () => {
    const reboot = (ip: string, mac = '02:00:00:00:00:01') => clientMessage(MessageType.DHCPREQUEST, { mac, options: [requested(ip)] });

    it('known client, right address: ACK with a fresh lease', () => {
      const h = harness();
      dora(h);
      h.now.ms += 10_000_000; // even after expiry, nobody took it
      const ack = sent(h.server.handle(reboot('10.0.1.10'), meta(), h.now.ms));
      expect(replyType(ack)).toBe(MessageType.DHCPACK);
      expect(h.leases.get('10.0.1.10')!.expiresAtMs).toBe(h.now.ms + 3_600_000);
    });

    it('known client, other address on the right network: NAK', () => {
      const h = harness();
      dora(h);
      expect(replyType(sent(h.server.handle(reboot('10.0.1.11'), meta(), h.now.ms)))).toBe(MessageType.DHCPNAK);
    });

    it('wrong network: NAK even for an unknown client', () => {
      const h = harness();
      const nak = sent(h.server.handle(reboot('172.16.0.5'), meta(), h.now.ms));
      expect(replyType(nak)).toBe(MessageType.DHCPNAK);
      expect(dhcp4.readStringOption(dhcp4.getOption(nak.message, OptionCode.MESSAGE)!)).toBe('wrong network');
    });

    it('unknown client on the right network: silent (MUST remain silent)', () => {
      const h = harness();
      expect(dropped(h.server.handle(reboot('10.0.1.11'), meta(), h.now.ms))).toBe('UNKNOWN_CLIENT');
    });

    it('authoritative: unknown client gets its address if free, NAK if held', () => {
      const h = harness({ ...baseConfig, authoritative: true });
      dora(h, { mac: '02:00:00:00:00:02' }); // .10
      expect(replyType(sent(h.server.handle(reboot('10.0.1.11'), meta(), h.now.ms)))).toBe(MessageType.DHCPACK);
      expect(replyType(sent(h.server.handle(reboot('10.0.1.10', '02:00:00:00:00:03'), meta(), h.now.ms)))).toBe(MessageType.DHCPNAK);
    });
  });

  describe('RENEWING / REBINDING', () => {
    const renew = (ip: string, mac = '02:00:00:00:00:01') => clientMessage(MessageType.DHCPREQUEST, { mac, ciaddr: ip });

    it('RENEWING: ACK unicast to ciaddr with ciaddr echoed, lease extended', () => {
      const h = harness();
      dora(h);
      h.now.ms += 1_800_000;
      const actions = h.server.handle(renew('10.0.1.10'), meta({ dstIp: '10.0.1.1' }), h.now.ms);
      expect(actions.map((a) => a.type)).toEqual(['bind', 'send']);
      const ack = sent(actions);
      expect(ack.message).toMatchObject({ ciaddr: '10.0.1.10', yiaddr: '10.0.1.10' });
      expect(ack.dst).toEqual({ mac: '02:00:00:00:00:01', ip: '10.0.1.10', port: 68 });
      expect(h.leases.get('10.0.1.10')!.expiresAtMs).toBe(h.now.ms + 3_600_000);
    });

    it('REBINDING for an address someone else holds: NAK', () => {
      const h = harness();
      dora(h);
      const nak = sent(h.server.handle(renew('10.0.1.10', '02:00:00:00:00:02'), meta({ dstIp: '255.255.255.255' }), h.now.ms));
      expect(replyType(nak)).toBe(MessageType.DHCPNAK);
    });

    it('unknown client: silent; wrong network: NAK', () => {
      const h = harness();
      expect(dropped(h.server.handle(renew('10.0.1.11'), meta(), h.now.ms))).toBe('UNKNOWN_CLIENT');
      expect(replyType(sent(h.server.handle(renew('172.16.0.9'), meta(), h.now.ms)))).toBe(MessageType.DHCPNAK);
    });

    it('a binding whose pool no longer serves the client (moved to another VLAN): NAK', () => {
      const h = harness();
      dora(h);
      const nak = sent(h.server.handle(renew('10.0.1.10'), meta({ vlans: [200, 5] }), h.now.ms));
      expect(replyType(nak)).toBe(MessageType.DHCPNAK);
    });
  });
});

describe('DECLINE, RELEASE, INFORM', () => {
  it('DECLINE quarantines the address: no reply, unbind, nobody gets it until the quarantine ends', () => {
    const h = harness();
    dora(h);
    const r = h.server.handle(clientMessage(MessageType.DHCPDECLINE, { options: [requested('10.0.1.10'), server('10.0.1.1')] }), meta(), h.now.ms);
    expect(r).toEqual([{ type: 'unbind', lease: expect.objectContaining({ ip: '10.0.1.10', state: 'declined' }), reason: 'declined' }]);
    expect(h.server.counters().DECLINED).toBe(1);
    // the same client now gets a different address
    expect(sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms)).message.yiaddr).toBe('10.0.1.11');
    for (const mac of ['02:00:00:00:00:02', '02:00:00:00:00:03']) {
      const o = h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac, options: [requested('10.0.1.10')] }), meta(), h.now.ms);
      expect(o[0]!.type === 'send' ? o[0].message.yiaddr : 'none').not.toBe('10.0.1.10');
    }
    h.now.ms += 600_001;
    const later = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:04', options: [requested('10.0.1.10')] }), meta(), h.now.ms));
    expect(later.message.yiaddr).toBe('10.0.1.10');
  });

  it('DECLINE by a client not holding the address is ignored', () => {
    const h = harness();
    dora(h);
    const r = h.server.handle(clientMessage(MessageType.DHCPDECLINE, { mac: '02:00:00:00:00:02', options: [requested('10.0.1.10')] }), meta(), h.now.ms);
    expect(dropped(r)).toBe('DECLINE_UNKNOWN');
    expect(h.leases.get('10.0.1.10')!.state).toBe('bound');
  });

  it('RELEASE frees the binding (unbind), only from its holder, only for our server id', () => {
    const h = harness();
    dora(h);
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPRELEASE, { mac: '02:00:00:00:00:02', ciaddr: '10.0.1.10' }), meta(), h.now.ms))).toBe('RELEASE_UNKNOWN');
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPRELEASE, { ciaddr: '10.0.1.10', options: [server('10.0.9.9')] }), meta(), h.now.ms))).toBe('OTHER_SERVER');
    const r = h.server.handle(clientMessage(MessageType.DHCPRELEASE, { ciaddr: '10.0.1.10', options: [server('10.0.1.1')] }), meta(), h.now.ms);
    expect(r).toEqual([{ type: 'unbind', lease: expect.objectContaining({ ip: '10.0.1.10', state: 'released' }), reason: 'released' }]);
    expect(h.server.counters().RELEASED).toBe(1);
  });

  it('INFORM: ACK to ciaddr with configuration only, no lease and no yiaddr (§4.3.5)', () => {
    const h = harness();
    const ack = sent(h.server.handle(clientMessage(MessageType.DHCPINFORM, { ciaddr: '10.0.1.77', flags: 0x8000 }), meta({ srcMac: '02:00:00:00:00:01' }), h.now.ms));
    expect(replyType(ack)).toBe(MessageType.DHCPACK);
    expect(ack.message).toMatchObject({ yiaddr: '0.0.0.0', ciaddr: '10.0.1.77' });
    expect(codes(ack.message)).toEqual([53, 54, 1, 28, 3, 6, 15]);
    expect(ack.dst).toEqual({ mac: '02:00:00:00:00:01', ip: '10.0.1.77', port: 68 });
    expect(h.leases.size).toBe(0);
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPINFORM), meta(), h.now.ms))).toBe('INFORM_NO_CIADDR');
  });
});

describe('expiry, odd input, counters', () => {
  it('expire() ends lapsed bindings (unbind) and forgets lapsed offers', () => {
    const h = harness();
    dora(h);
    sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:02' }), meta(), h.now.ms));
    expect(h.server.expire(h.now.ms + 60_000)).toEqual([]);
    expect(h.leases.get('10.0.1.11')).toBeUndefined();
    const out = h.server.expire(h.now.ms + 3_600_000);
    expect(out).toEqual([{ type: 'unbind', lease: expect.objectContaining({ ip: '10.0.1.10', state: 'expired' }), reason: 'expired' }]);
    expect(h.server.counters().EXPIRED).toBe(1);
    // uses the clock when no time is given
    h.now.ms += 10 * 3_600_000;
    expect(h.server.expire()).toEqual([]);
  });

  it('replies, BOOTP and unknown types are dropped with reasons', () => {
    const h = harness();
    const reply = { ...clientMessage(MessageType.DHCPOFFER), op: 2 };
    expect(dropped(h.server.handle(reply, meta(), h.now.ms))).toBe('NOT_BOOTREQUEST');
    expect(dropped(h.server.handle({ ...clientMessage(1), options: [] }, meta(), h.now.ms))).toBe('NO_MESSAGE_TYPE');
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPACK), meta(), h.now.ms))).toBe('UNSUPPORTED_TYPE');
    expect(dropped(h.server.handle(clientMessage(13), meta(), h.now.ms))).toBe('UNSUPPORTED_TYPE');
    expect(dropped(h.server.handlePacket(new Uint8Array(100), meta(), h.now.ms))).toBe('DECODE_ERROR');
    expect(h.server.counters()).toMatchObject({ NOT_BOOTREQUEST: 1, NO_MESSAGE_TYPE: 1, UNSUPPORTED_TYPE: 2, DECODE_ERROR: 1 });
  });

  it('a client moving its binding frees the old address (unbind replaced)', () => {
    const h = harness({ ...baseConfig, authoritative: true });
    dora(h); // .10
    const actions = h.server.handle(clientMessage(MessageType.DHCPREQUEST, { options: [requested('10.0.1.12'), server('10.0.1.1')] }), meta(), h.now.ms);
    expect(actions.map((a) => a.type)).toEqual(['unbind', 'bind', 'send']);
    expect(h.leases.get('10.0.1.10')!.state).toBe('released');
    expect(h.leases.get('10.0.1.12')!.state).toBe('bound');
  });

  it('works on the bytes real clients send (dhclient, udhcpc, dhcpcd captures)', async () => {
    const { capturedFrame } = await import('../../protocols/test/fixtures/dhcp4-captures.js');
    for (const client of ['dhclient', 'udhcpc', 'dhcpcd']) {
      const h = harness({ serverId: '192.168.77.1', pools: [{ name: 'lab', network: '192.168.77.0/24', gateway: '192.168.77.1' }] });
      const udp = (name: string) => capturedFrame(name).subarray(42);
      const offer = sent(h.server.handlePacket(udp(`${client}-discover`), meta({ srcMac: '52:54:00:12:34:56' }), h.now.ms));
      expect(replyType(offer)).toBe(MessageType.DHCPOFFER);
      // the captured REQUEST asks for .103 from 192.168.77.1, which we have not offered but is free
      const ack = sent(h.server.handlePacket(udp(`${client}-request`), meta({ srcMac: '52:54:00:12:34:56' }), h.now.ms));
      expect(replyType(ack)).toBe(MessageType.DHCPACK);
      expect(ack.message.yiaddr).toBe('192.168.77.103');
    }
  });

  it('a reply never exceeds 576 octets unless the client allows more (option 57): optional parameters go first', () => {
    const h = harness({
      serverId: '10.0.1.1',
      pools: [{ name: 'p', network: '10.0.1.0/24', gateway: '10.0.1.1', domain: 'd'.repeat(200), dns: ['9.9.9.9'] }],
    });
    const info = dhcp4.relayAgentInfoOption({ circuitId: new Uint8Array(120), remoteId: new Uint8Array(100) });
    const small = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { options: [info] }), meta(), h.now.ms));
    expect(small.payload.length).toBeLessThanOrEqual(576 - 28);
    expect(dhcp4.hasOption(small.message, OptionCode.DOMAIN_NAME)).toBe(false);
    expect(dhcp4.hasOption(small.message, OptionCode.RELAY_AGENT_INFO)).toBe(true);
    expect(dhcp4.leaseTime(small.message)).toBe(3600);
    const big = sent(
      h.server.handle(clientMessage(MessageType.DHCPDISCOVER, { mac: '02:00:00:00:00:02', options: [info, dhcp4.u16Option(57, 1500)] }), meta(), h.now.ms),
    );
    expect(dhcp4.hasOption(big.message, OptionCode.DOMAIN_NAME)).toBe(true);
  });

  it('several servers on one store never hand out the same address twice', () => {
    const leases = createMemoryLeaseStore();
    const a = harness(baseConfig, leases);
    const b = harness(baseConfig, leases);
    const x = dora(a, { mac: '02:00:00:00:00:0a' });
    const y = dora(b, { mac: '02:00:00:00:00:0b' });
    expect(x.message.yiaddr).not.toBe(y.message.yiaddr);
  });
});

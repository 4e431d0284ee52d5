import { describe, expect, it } from 'vitest';
import { dhcp4 } from '@bng/protocols';
import { capturedFrame, capturedFrames } from './fixtures/dhcp4-captures.js';

const { MessageType, OptionCode } = dhcp4;

/** UDP payload of an untagged Ethernet/IPv4/UDP frame (the captures carry no VLAN tags). */
function udpPayload(frame: Uint8Array): Uint8Array {
  expect((frame[12]! << 8) | frame[13]!).toBe(0x0800);
  const ihl = (frame[14]! & 0x0f) * 4;
  const udp = 14 + ihl;
  const length = (frame[udp + 4]! << 8) | frame[udp + 5]!;
  return frame.subarray(udp + 8, udp + length);
}

function decodeCapture(name: string): dhcp4.Dhcp4Message {
  return dhcp4.decodeDhcp4(udpPayload(capturedFrame(name)));
}

const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));

describe('DHCPv4 captures of real clients', () => {
  it.each(capturedFrames.map((f) => f.name))('%s decodes and re-encodes byte for byte', (name) => {
    const payload = udpPayload(capturedFrame(name));
    const msg = dhcp4.decodeDhcp4(payload);
    // Every capture is options + End + zero padding to 300 octets, which is what encode writes.
    expect(Buffer.from(dhcp4.encodeDhcp4(msg)).equals(Buffer.from(payload))).toBe(true);
    expect(dhcp4.macOf(msg)).toBe('52:54:00:12:34:56');
    expect(msg.htype).toBe(1);
    expect(msg.hlen).toBe(6);
  });

  it('isc-dhclient DISCOVER: type, hostname, parameter request list, no client id', () => {
    const msg = decodeCapture('dhclient-discover');
    expect(msg.op).toBe(dhcp4.Op.BOOTREQUEST);
    expect(msg.xid).toBe(0xd8493145);
    expect(msg.flags).toBe(0);
    expect(msg.ciaddr).toBe('0.0.0.0');
    expect(msg.giaddr).toBe('0.0.0.0');
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPDISCOVER);
    expect(msg.options.map((o) => o.code)).toEqual([53, 12, 55]);
    expect(dhcp4.hostname(msg)).toBe('vm');
    expect(dhcp4.parameterRequestList(msg)).toEqual([1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]);
    expect(dhcp4.clientId(msg)).toBeUndefined();
    expect(dhcp4.requestedIp(msg)).toBeUndefined();
  });

  it('isc-dhclient REQUEST (SELECTING) carries server id and requested ip, ciaddr zero', () => {
    const msg = decodeCapture('dhclient-request');
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPREQUEST);
    expect(dhcp4.serverId(msg)).toBe('192.168.77.1');
    expect(dhcp4.requestedIp(msg)).toBe('192.168.77.103');
    expect(msg.ciaddr).toBe('0.0.0.0');
  });

  it('isc-dhclient REQUEST (INIT-REBOOT) has requested ip and no server id', () => {
    const msg = decodeCapture('dhclient-reboot-request');
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPREQUEST);
    expect(dhcp4.serverId(msg)).toBeUndefined();
    expect(dhcp4.requestedIp(msg)).toBe('192.168.77.103');
  });

  it('isc-dhclient RELEASE is unicast with ciaddr and server id', () => {
    const frame = capturedFrame('dhclient-release');
    const msg = decodeCapture('dhclient-release');
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPRELEASE);
    expect(msg.ciaddr).toBe('192.168.77.103');
    expect(dhcp4.serverId(msg)).toBe('192.168.77.1');
    expect(Buffer.from(frame.subarray(26, 34)).toString('hex')).toBe('c0a84d67c0a84d01');
  });

  it('udhcpc DISCOVER: client id type 1 + MAC, requested ip, max size, vendor class', () => {
    const msg = decodeCapture('udhcpc-discover');
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPDISCOVER);
    expect(hex(dhcp4.clientId(msg))).toBe('01525400123456');
    expect(dhcp4.requestedIp(msg)).toBe('192.168.77.150');
    expect(dhcp4.maxMessageSize(msg)).toBe(576);
    expect(dhcp4.vendorClassId(msg)).toBe('udhcp-test');
    expect(dhcp4.hostname(msg)).toBe('sub1');
    expect(dhcp4.parameterRequestList(msg)).toEqual([1, 3, 6, 12, 15, 28, 42]);
  });

  it('dhcpcd DISCOVER: RFC 4361 client id (type 255, IAID, DUID), rapid commit, max size 1472', () => {
    const msg = decodeCapture('dhcpcd-discover');
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPDISCOVER);
    const id = dhcp4.clientId(msg)!;
    expect(id[0]).toBe(255);
    expect(hex(id)).toBe('ff001234560001000132942600525400123456');
    expect(dhcp4.maxMessageSize(msg)).toBe(1472);
    // option 80 (RFC 4039 rapid commit) is zero-length
    expect(dhcp4.getOption(msg, OptionCode.RAPID_COMMIT)).toEqual(new Uint8Array(0));
    expect(dhcp4.hasOption(msg, 145)).toBe(true);
  });

  it('dhcpcd REQUEST puts requested ip before the message type', () => {
    const msg = decodeCapture('dhcpcd-request');
    expect(msg.options[0]!.code).toBe(OptionCode.REQUESTED_IP);
    expect(dhcp4.messageType(msg)).toBe(MessageType.DHCPREQUEST);
    expect(dhcp4.serverId(msg)).toBe('192.168.77.1');
  });

  it('udhcpd OFFER and ACK: yiaddr, server id, lease, subnet, router, dns, domain', () => {
    for (const name of ['udhcpc-offer', 'udhcpc-ack']) {
      const msg = decodeCapture(name);
      expect(msg.op).toBe(dhcp4.Op.BOOTREPLY);
      expect(msg.yiaddr).toBe('192.168.77.103');
      expect(dhcp4.serverId(msg)).toBe('192.168.77.1');
      expect(dhcp4.leaseTime(msg)).toBe(3600);
      expect(dhcp4.readIpOption(dhcp4.getOption(msg, OptionCode.SUBNET_MASK)!)).toBe('255.255.255.0');
      expect(dhcp4.readIpListOption(dhcp4.getOption(msg, OptionCode.ROUTER)!)).toEqual(['192.168.77.1']);
      expect(dhcp4.readIpListOption(dhcp4.getOption(msg, OptionCode.DNS)!)).toEqual(['192.168.77.1']);
      expect(dhcp4.readStringOption(dhcp4.getOption(msg, OptionCode.DOMAIN_NAME)!)).toBe('example.net');
    }
    expect(dhcp4.messageType(decodeCapture('udhcpc-offer'))).toBe(MessageType.DHCPOFFER);
    expect(dhcp4.messageType(decodeCapture('udhcpc-ack'))).toBe(MessageType.DHCPACK);
  });
});

describe('DHCPv4 hand-made fixtures', () => {
  // A DISCOVER as an access node relays it (giaddr set, hops 1, option 82 with an
  // Agent-Circuit-ID of the TR-101 "access-node eth slot/port:vlan" form and a Remote-ID),
  // written octet by octet from RFC 2131 §2 and RFC 3046 §2.0.
  const relayed = [
    '01', '01', '06', '01', // op, htype, hlen, hops
    '1a2b3c4d', // xid
    '0003', '8000', // secs, flags (broadcast)
    '00000000', '00000000', '00000000', '0a000101', // ciaddr, yiaddr, siaddr, giaddr 10.0.1.1
    '02aabbccddee' + '00'.repeat(10), // chaddr
    '00'.repeat(64), '00'.repeat(128), // sname, file
    '63825363', // magic cookie
    '350101', // 53: DISCOVER
    '3d0701' + '02aabbccddee', // 61: type 1 + MAC
    '3704' + '01030f06', // 55
    '52' + '1a' + '01' + '10' + Buffer.from('olt1 eth 1/2:100').toString('hex') + '02' + '06' + '001122334455', // 82
    'ff',
  ].join('');

  it('decodes a relayed DISCOVER with option 82 and keeps the raw value', () => {
    const bytes = Uint8Array.from(Buffer.from(relayed, 'hex'));
    const msg = dhcp4.decodeDhcp4(bytes);
    expect(msg.hops).toBe(1);
    expect(msg.giaddr).toBe('10.0.1.1');
    expect(dhcp4.isBroadcast(msg)).toBe(true);
    expect(msg.secs).toBe(3);
    const info = dhcp4.relayAgentInfo(msg)!;
    expect(Buffer.from(info.circuitId!).toString()).toBe('olt1 eth 1/2:100');
    expect(hex(info.remoteId)).toBe('001122334455');
    expect(info.subOptions.map((s) => s.code)).toEqual([1, 2]);
    expect(hex(info.raw)).toBe(hex(dhcp4.getOption(msg, OptionCode.RELAY_AGENT_INFO)));
    // unpadded encode reproduces the input exactly
    expect(hex(dhcp4.encodeDhcp4(msg, { pad: false }))).toBe(relayed);
    const padded = dhcp4.encodeDhcp4(msg);
    expect(padded.length).toBe(300);
    expect(hex(padded.subarray(0, bytes.length))).toBe(relayed);
    expect(padded.subarray(bytes.length).every((b) => b === 0)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { isBngError } from '@bng/api';
import { dhcp4 } from '@bng/protocols';

const { OptionCode, MessageType } = dhcp4;

const mac = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);

function discover(extra: dhcp4.Dhcp4Option[] = []): dhcp4.Dhcp4Message {
  return dhcp4.createDhcp4Message({
    xid: 0xdeadbeef,
    secs: 7,
    flags: dhcp4.BROADCAST_FLAG,
    chaddr: dhcp4.chaddrOf(mac),
    options: [dhcp4.messageTypeOption(MessageType.DHCPDISCOVER), ...extra],
  });
}

/** A raw message: 236-octet header (op 1, htype 1, hlen 6), cookie, then `options` verbatim. */
function raw(options: number[], header: (h: Uint8Array) => void = () => {}): Uint8Array {
  const out = new Uint8Array(240 + options.length);
  out[0] = 1;
  out[1] = 1;
  out[2] = 6;
  out.set(mac, 28);
  out.set([99, 130, 83, 99], 236);
  out.set(options, 240);
  header(out);
  return out;
}

function decodeError(bytes: Uint8Array): dhcp4.DecodeError {
  try {
    dhcp4.decodeDhcp4(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(dhcp4.DecodeError);
    return e as dhcp4.DecodeError;
  }
  throw new Error('decode did not throw');
}

function encodeErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isBngError(e, 'BNG_ERR_ENCODE')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('encode did not throw');
}

describe('encodeDhcp4 / decodeDhcp4 round trip', () => {
  it('keeps every header field and the options in order', () => {
    const msg = dhcp4.createDhcp4Message({
      op: dhcp4.Op.BOOTREPLY,
      htype: 1,
      hlen: 6,
      hops: 3,
      xid: 0xffffffff,
      secs: 0xffff,
      flags: 0x8000,
      ciaddr: '10.0.0.1',
      yiaddr: '10.0.0.2',
      siaddr: '255.255.255.255',
      giaddr: '192.0.2.1',
      chaddr: dhcp4.chaddrOf(mac),
      options: [
        dhcp4.messageTypeOption(MessageType.DHCPOFFER),
        dhcp4.ipOption(OptionCode.SERVER_ID, '10.0.0.254'),
        dhcp4.u32Option(OptionCode.LEASE_TIME, 86400),
        dhcp4.u32Option(OptionCode.RENEWAL_TIME, 43200),
        dhcp4.u32Option(OptionCode.REBINDING_TIME, 75600),
        dhcp4.ipOption(OptionCode.SUBNET_MASK, '255.255.255.0'),
        dhcp4.ipListOption(OptionCode.ROUTER, ['10.0.0.254']),
        dhcp4.ipListOption(OptionCode.DNS, ['9.9.9.9', '1.1.1.1']),
        dhcp4.stringOption(OptionCode.DOMAIN_NAME, 'isp.example'),
        dhcp4.u16Option(OptionCode.INTERFACE_MTU, 1500),
        dhcp4.bytesOption(224, Uint8Array.of(1, 2, 3)),
      ],
    });
    msg.sname.set(Buffer.from('server.example'));
    msg.file.set(Buffer.from('pxelinux.0'));
    const bytes = dhcp4.encodeDhcp4(msg);
    const back = dhcp4.decodeDhcp4(bytes);
    expect(back).toEqual(msg);
    expect(dhcp4.leaseTime(back)).toBe(86400);
    expect(dhcp4.readU32Option(dhcp4.getOption(back, OptionCode.RENEWAL_TIME)!)).toBe(43200);
    expect(dhcp4.readIpListOption(dhcp4.getOption(back, OptionCode.DNS)!)).toEqual(['9.9.9.9', '1.1.1.1']);
    expect(dhcp4.readU16Option(dhcp4.getOption(back, OptionCode.INTERFACE_MTU)!)).toBe(1500);
  });

  it('writes magic cookie, options in the given order, End, then zero padding to 300', () => {
    const bytes = dhcp4.encodeDhcp4(discover([dhcp4.stringOption(OptionCode.HOSTNAME, 'cpe')]));
    expect(Array.from(bytes.subarray(236, 240))).toEqual([99, 130, 83, 99]);
    expect(Array.from(bytes.subarray(240, 249))).toEqual([53, 1, 1, 12, 3, 0x63, 0x70, 0x65, 255]);
    expect(bytes.length).toBe(300);
    expect(bytes.subarray(249).every((b) => b === 0)).toBe(true);
  });

  it('does not pad when told not to, and never shortens a long message', () => {
    expect(dhcp4.encodeDhcp4(discover(), { pad: false }).length).toBe(240 + 3 + 1);
    const big = discover([dhcp4.bytesOption(250, new Uint8Array(200))]);
    expect(dhcp4.encodeDhcp4(big).length).toBe(240 + 3 + 202 + 1);
  });

  it('keeps duplicate options as separate entries and concatenates them on request (RFC 3396)', () => {
    const bytes = raw([53, 1, 1, 12, 2, 0x61, 0x62, 6, 4, 1, 1, 1, 1, 12, 1, 0x63, 6, 4, 8, 8, 8, 8, 255]);
    const msg = dhcp4.decodeDhcp4(bytes);
    expect(msg.options.map((o) => o.code)).toEqual([53, 12, 6, 12, 6]);
    expect(dhcp4.getOption(msg, 12)).toEqual(Uint8Array.of(0x61, 0x62));
    expect(dhcp4.getOptions(msg, 12)).toEqual([Uint8Array.of(0x61, 0x62), Uint8Array.of(0x63)]);
    expect(dhcp4.hostname(msg)).toBe('abc');
    expect(dhcp4.readIpListOption(dhcp4.getOptionConcatenated(msg, 6)!)).toEqual(['1.1.1.1', '8.8.8.8']);
    expect(dhcp4.decodeDhcp4(dhcp4.encodeDhcp4(msg))).toEqual(msg);
  });

  it('a split option is validated on its concatenation (RFC 3396), so 2+2 octets of option 50 pass', () => {
    const msg = dhcp4.decodeDhcp4(raw([53, 1, 3, 50, 2, 10, 0, 50, 2, 0, 9, 255]));
    expect(dhcp4.requestedIp(msg)).toBe('10.0.0.9');
  });

  it('skips pad octets, stops at End, ignores what follows End, accepts a missing End', () => {
    const msg = dhcp4.decodeDhcp4(raw([0, 0, 53, 1, 1, 0, 255, 12, 200, 1]));
    expect(msg.options).toEqual([{ code: 53, data: Uint8Array.of(1) }]);
    const noEnd = dhcp4.decodeDhcp4(raw([53, 1, 1, 0, 0]));
    expect(dhcp4.messageType(noEnd)).toBe(1);
    const empty = dhcp4.decodeDhcp4(raw([]));
    expect(empty.options).toEqual([]);
    expect(dhcp4.messageType(empty)).toBeUndefined();
  });

  it('zero-length options decode (RFC 4039 rapid commit)', () => {
    const msg = dhcp4.decodeDhcp4(raw([53, 1, 1, 80, 0, 255]));
    expect(dhcp4.getOption(msg, 80)).toEqual(new Uint8Array(0));
  });
});

describe('option overload (RFC 2132 §9.3)', () => {
  function overloaded(value: number): Uint8Array {
    const b = raw([53, 1, 2, 52, 1, value, 54, 4, 10, 0, 0, 1, 255]);
    // file: lease time then End; sname: hostname-ish option 15 (domain) then End
    b.set([51, 4, 0, 0, 0x0e, 0x10, 255], 108);
    b.set([15, 3, 0x69, 0x73, 0x70, 255], 44);
    return b;
  }

  it('value 3 reads options, then file, then sname, and zeroes both fields', () => {
    const msg = dhcp4.decodeDhcp4(overloaded(3));
    expect(msg.options.map((o) => o.code)).toEqual([53, 54, 51, 15]);
    expect(dhcp4.leaseTime(msg)).toBe(3600);
    expect(msg.file.every((b) => b === 0)).toBe(true);
    expect(msg.sname.every((b) => b === 0)).toBe(true);
    // option 52 is framing, not content
    expect(dhcp4.hasOption(msg, 52)).toBe(false);
    const again = dhcp4.decodeDhcp4(dhcp4.encodeDhcp4(msg));
    expect(again).toEqual(msg);
  });

  it('value 1 reads only file; value 2 only sname, the other field stays raw', () => {
    const one = dhcp4.decodeDhcp4(overloaded(1));
    expect(one.options.map((o) => o.code)).toEqual([53, 54, 51]);
    expect(one.sname[0]).toBe(15);
    const two = dhcp4.decodeDhcp4(overloaded(2));
    expect(two.options.map((o) => o.code)).toEqual([53, 54, 15]);
    expect(two.file[0]).toBe(51);
  });

  it('rejects bad values, a duplicate, and option 52 inside file', () => {
    expect(decodeError(overloaded(0)).code).toBe('DHCP4_BAD_OVERLOAD');
    expect(decodeError(overloaded(4)).code).toBe('DHCP4_BAD_OVERLOAD');
    expect(decodeError(raw([52, 2, 1, 1, 255])).code).toBe('DHCP4_BAD_OVERLOAD');
    const dup = decodeError(raw([52, 1, 1, 52, 1, 1, 255]));
    expect(dup).toMatchObject({ code: 'DHCP4_BAD_OVERLOAD', offset: 243 });
    const nested = raw([52, 1, 1, 255]);
    nested.set([52, 1, 2, 255], 108);
    expect(decodeError(nested)).toMatchObject({ code: 'DHCP4_BAD_OVERLOAD', offset: 108 });
  });

  it('an option overrunning the file field is caught at the field boundary', () => {
    const b = raw([52, 1, 1, 255]);
    b[108 + 126] = 12;
    b[108 + 127] = 5; // claims 5 octets, none remain inside file
    expect(decodeError(b)).toMatchObject({ code: 'DHCP4_OPTION_OVERRUN', offset: 234 });
  });
});

describe('decode errors carry a stable code and the offset', () => {
  it('truncated header', () => {
    expect(decodeError(new Uint8Array(0))).toMatchObject({ code: 'DHCP4_TRUNCATED_HEADER', offset: 0 });
    expect(decodeError(raw([]).subarray(0, 235))).toMatchObject({ code: 'DHCP4_TRUNCATED_HEADER', offset: 235 });
  });
  it('missing cookie', () => {
    expect(decodeError(raw([]).subarray(0, 236))).toMatchObject({ code: 'DHCP4_MISSING_COOKIE', offset: 236 });
    expect(decodeError(raw([]).subarray(0, 239))).toMatchObject({ code: 'DHCP4_MISSING_COOKIE', offset: 239 });
  });
  it('bad cookie names the first wrong octet', () => {
    expect(decodeError(raw([], (h) => (h[238] = 0)))).toMatchObject({ code: 'DHCP4_BAD_COOKIE', offset: 238 });
  });
  it('bad op and hlen', () => {
    expect(decodeError(raw([], (h) => (h[0] = 3)))).toMatchObject({ code: 'DHCP4_BAD_OP', offset: 0 });
    expect(decodeError(raw([], (h) => (h[2] = 17)))).toMatchObject({ code: 'DHCP4_BAD_HLEN', offset: 2 });
    expect(dhcp4.decodeDhcp4(raw([], (h) => (h[2] = 16))).hlen).toBe(16);
  });
  it('option without its length octet, and option overrun', () => {
    expect(decodeError(raw([53, 1, 1, 12]))).toMatchObject({ code: 'DHCP4_OPTION_TRUNCATED', offset: 243 });
    expect(decodeError(raw([53, 1, 1, 12, 4, 0x61]))).toMatchObject({ code: 'DHCP4_OPTION_OVERRUN', offset: 243 });
  });
  it('well-known options with a wrong length', () => {
    expect(decodeError(raw([53, 2, 1, 1, 255]))).toMatchObject({ code: 'DHCP4_BAD_OPTION_LENGTH', offset: 240 });
    expect(decodeError(raw([53, 1, 1, 50, 3, 1, 2, 3, 255]))).toMatchObject({
      code: 'DHCP4_BAD_OPTION_LENGTH',
      offset: 243,
    });
    expect(decodeError(raw([6, 5, 1, 1, 1, 1, 1, 255])).code).toBe('DHCP4_BAD_OPTION_LENGTH');
    expect(decodeError(raw([61, 1, 1, 255])).code).toBe('DHCP4_BAD_OPTION_LENGTH');
    expect(decodeError(raw([53, 1, 1, 53, 1, 1, 255])).code).toBe('DHCP4_BAD_OPTION_LENGTH');
  });
  it('is an Error with a catalogue code', () => {
    const e = decodeError(new Uint8Array(10));
    expect(e).toBeInstanceOf(Error);
    expect(e.catalogueCode).toBe('BNG_ERR_DECODE');
    expect(e.message).toContain('DHCP4_TRUNCATED_HEADER');
  });
});

describe('encode validation throws BngError BNG_ERR_ENCODE', () => {
  const base = discover();
  it.each([
    ['op', { op: 0 }],
    ['htype', { htype: 256 }],
    ['hlen', { hlen: 17 }],
    ['hops', { hops: -1 }],
    ['xid', { xid: 2 ** 32 }],
    ['secs', { secs: 1.5 }],
    ['flags', { flags: 0x10000 }],
    ['ciaddr', { ciaddr: '10.0.0.256' }],
    ['yiaddr', { yiaddr: 'x' }],
    ['siaddr', { siaddr: '1.2.3' }],
    ['giaddr', { giaddr: '' }],
    ['chaddr', { chaddr: new Uint8Array(17) }],
    ['sname', { sname: new Uint8Array(65) }],
    ['file', { file: new Uint8Array(129) }],
  ] as Array<[string, Partial<dhcp4.Dhcp4Message>]>)('%s out of range', (field, patch) => {
    expect(encodeErrorOf(() => dhcp4.encodeDhcp4({ ...base, ...patch }))).toContain(field);
  });

  it('rejects pad, end, overload, oversize and malformed well-known options', () => {
    for (const code of [0, 255, 52]) {
      encodeErrorOf(() => dhcp4.encodeDhcp4({ ...base, options: [{ code, data: Uint8Array.of(1) }] }));
    }
    encodeErrorOf(() => dhcp4.encodeDhcp4({ ...base, options: [{ code: 250, data: new Uint8Array(256) }] }));
    encodeErrorOf(() => dhcp4.encodeDhcp4({ ...base, options: [{ code: 54, data: new Uint8Array(3) }] }));
    encodeErrorOf(() => dhcp4.encodeDhcp4({ ...base, options: [...base.options, dhcp4.messageTypeOption(3)] }));
  });

  it('builders validate their values', () => {
    encodeErrorOf(() => dhcp4.u32Option(51, -1));
    encodeErrorOf(() => dhcp4.u16Option(57, 0x10000));
    encodeErrorOf(() => dhcp4.u8Option(53, 256));
    encodeErrorOf(() => dhcp4.ipOption(54, '1.2.3.4.5'));
    encodeErrorOf(() => dhcp4.ipListOption(6, []));
    encodeErrorOf(() => dhcp4.stringOption(12, 'x'.repeat(256)));
    encodeErrorOf(() => dhcp4.bytesOption(0, Uint8Array.of()));
    encodeErrorOf(() => dhcp4.bytesOption(255, Uint8Array.of()));
    encodeErrorOf(() => dhcp4.chaddrOf(new Uint8Array(17)));
  });
});

describe('accessors and names', () => {
  it('macOf uses hlen octets of chaddr', () => {
    expect(dhcp4.macOf(discover())).toBe('02:00:5e:10:20:30');
    expect(dhcp4.macOf({ ...discover(), hlen: 3 })).toBe('02:00:5e');
  });
  it('typed accessors reject a hand-built message with a wrong length', () => {
    const bad = { options: [{ code: 54, data: Uint8Array.of(1, 2) }] };
    expect(() => dhcp4.serverId(bad)).toThrow(dhcp4.DecodeError);
  });
  it('string options drop one trailing NUL', () => {
    expect(dhcp4.readStringOption(Uint8Array.of(0x61, 0x62, 0))).toBe('ab');
  });
  it('message type names', () => {
    expect(dhcp4.messageTypeName(MessageType.DHCPINFORM)).toBe('DHCPINFORM');
    expect(dhcp4.messageTypeName(13)).toBe('DHCP-TYPE-13');
  });
  it('constants match RFC 2132 / RFC 3046', () => {
    expect(OptionCode).toMatchObject({
      PAD: 0, SUBNET_MASK: 1, ROUTER: 3, DNS: 6, HOSTNAME: 12, DOMAIN_NAME: 15, BROADCAST_ADDRESS: 28,
      REQUESTED_IP: 50, LEASE_TIME: 51, OVERLOAD: 52, MESSAGE_TYPE: 53, SERVER_ID: 54,
      PARAMETER_REQUEST_LIST: 55, MESSAGE: 56, MAX_MESSAGE_SIZE: 57, RENEWAL_TIME: 58, REBINDING_TIME: 59,
      VENDOR_CLASS_ID: 60, CLIENT_ID: 61, RELAY_AGENT_INFO: 82, END: 255,
    });
    expect(Object.values(MessageType)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('relay agent information (RFC 3046)', () => {
  it('builds, encodes and parses circuit-id, remote-id and further sub-options', () => {
    const opt = dhcp4.relayAgentInfoOption({
      circuitId: Buffer.from('eth0/1:100'),
      remoteId: Uint8Array.of(1, 2, 3),
      subOptions: [{ code: 6, data: Buffer.from('sub-42') }],
    });
    expect(opt.code).toBe(82);
    const msg = dhcp4.decodeDhcp4(dhcp4.encodeDhcp4(discover([opt])));
    const info = dhcp4.relayAgentInfo(msg)!;
    expect(Buffer.from(info.circuitId!).toString()).toBe('eth0/1:100');
    expect(info.remoteId).toEqual(Uint8Array.of(1, 2, 3));
    expect(info.subOptions.map((s) => s.code)).toEqual([1, 2, 6]);
    expect(info.raw).toEqual(opt.data);
    expect(dhcp4.encodeRelayAgentInfo(info.subOptions)).toEqual(info.raw);
  });
  it('absent option gives undefined; malformed sub-options throw with an offset into the value', () => {
    expect(dhcp4.relayAgentInfo(discover())).toBeUndefined();
    expect(() => dhcp4.decodeRelayAgentInfo(Uint8Array.of(1, 5, 0))).toThrow(dhcp4.DecodeError);
    try {
      dhcp4.decodeRelayAgentInfo(Uint8Array.of(1, 1, 9, 2));
    } catch (e) {
      expect(e).toMatchObject({ code: 'DHCP4_BAD_RELAY_AGENT_INFO', offset: 3 });
    }
    const onlyRemote = dhcp4.decodeRelayAgentInfo(Uint8Array.of(2, 1, 7));
    expect(onlyRemote.circuitId).toBeUndefined();
    expect(onlyRemote.remoteId).toEqual(Uint8Array.of(7));
  });
  it('refuses an option value over 255 octets or with no sub-option', () => {
    encodeErrorOf(() => dhcp4.relayAgentInfoOption({ circuitId: new Uint8Array(200), remoteId: new Uint8Array(60) }));
    encodeErrorOf(() => dhcp4.relayAgentInfoOption({}));
  });
});

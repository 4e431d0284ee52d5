import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesToHex, bytesToMac, ipToU32, isIpv4, u32ToIp } from '../src/net.js';

describe('dotted quads', () => {
  it('parses valid addresses to host-order u32', () => {
    expect(ipToU32('0.0.0.0')).toBe(0);
    expect(ipToU32('1.2.3.4')).toBe(0x01020304);
    expect(ipToU32('255.255.255.255')).toBe(0xffffffff);
    expect(ipToU32('10.0.0.010')).toBe(0x0a00000a); // leading zeros are decimal, as inet_pton's digits
  });

  it('refuses everything that is not four decimal parts of at most 255', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '256.1.1.1', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.a', '1.2.3.1000', '0x1.2.3.4', '1,2,3,4', '-1.2.3.4']) {
      expect(isIpv4(bad), bad).toBe(false);
      expect(() => ipToU32(bad), bad).toThrow(/not an IPv4 address/);
    }
    expect(() => ipToU32(undefined as unknown as string)).toThrow(/not an IPv4 address/);
  });

  it('round-trips every u32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        const text = u32ToIp(v);
        expect(isIpv4(text)).toBe(true);
        expect(ipToU32(text)).toBe(v);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('hex', () => {
  it('agrees with Buffer hex for any octets, with and without a separator', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        const plain = Buffer.from(b).toString('hex');
        expect(bytesToHex(b)).toBe(plain);
        expect(bytesToMac(b)).toBe(plain.match(/../g)?.join(':') ?? '');
      }),
      { numRuns: 2000 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dhcp4 } from '@bng/protocols';
import { capturedFrames } from './fixtures/dhcp4-captures.js';

// Fixed seeds keep the runs reproducible (never flaky); a failure prints the seed and the path.
const runs = { numRuns: 3000, seed: 0x5eed2131 };

function decodeOrDecodeError(bytes: Uint8Array): dhcp4.Dhcp4Message | undefined {
  try {
    return dhcp4.decodeDhcp4(bytes);
  } catch (e) {
    if (!(e instanceof dhcp4.DecodeError)) throw e;
    expect(Object.values(dhcp4.Dhcp4DecodeErrorCode)).toContain(e.code);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(bytes.length);
    return undefined;
  }
}

/** Decoded messages must re-encode without error, and the pair must be a fixed point. */
function checkStable(msg: dhcp4.Dhcp4Message): void {
  const once = dhcp4.encodeDhcp4(msg);
  const again = dhcp4.decodeDhcp4(once);
  expect(again).toEqual(msg);
  expect(Buffer.from(dhcp4.encodeDhcp4(again)).equals(Buffer.from(once))).toBe(true);
  // interpreting accessors on a decoded message only ever raise DecodeError
  for (const read of [dhcp4.messageType, dhcp4.requestedIp, dhcp4.serverId, dhcp4.leaseTime, dhcp4.maxMessageSize]) {
    read(again);
  }
  try {
    dhcp4.relayAgentInfo(again);
  } catch (e) {
    expect(e).toBeInstanceOf(dhcp4.DecodeError);
  }
}

const seeds: Uint8Array[] = capturedFrames.map((f) => {
  const frame = Buffer.from(f.hex, 'hex');
  return Uint8Array.from(frame.subarray(42)); // untagged, 20-octet IP header, 8-octet UDP header
});

/** A valid message followed by random splices, byte flips and truncation. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    fc.option(fc.nat(), { nil: undefined }),
    fc.uint8Array({ maxLength: 40 }),
  )
  .map(([seed, flips, cut, tail]) => {
    const b = new Uint8Array(seed.length + tail.length);
    b.set(seed);
    b.set(tail, seed.length);
    for (const [at, v] of flips) {
      // aim most flips at the option area, where the lengths are
      const pos = at % 2 === 0 ? 240 + (at % (b.length - 240)) : at % b.length;
      b[pos] = v;
    }
    return cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
  });

/** A random header over a random option area: exercises the walker beyond the seeds. */
const headerPlusOptions = fc
  .tuple(
    fc.uint8Array({ minLength: 236, maxLength: 236 }),
    fc.uint8Array({ maxLength: 400 }),
    fc.boolean(),
    fc.integer({ min: 0, max: 3 }),
  )
  .map(([header, options, tidy, overload]) => {
    const b = new Uint8Array(240 + options.length);
    b.set(header);
    if (tidy) {
      b[0] = 1 + (header[0]! % 2);
      b[2] = header[2]! % 17;
    }
    b.set([99, 130, 83, 99], 236);
    b.set(options, 240);
    // make sname/file carry options (RFC 2132 §9.3) so their walks are exercised too
    if (overload > 0 && options.length >= 3) b.set([52, 1, overload], 240);
    return b;
  });

const option: fc.Arbitrary<dhcp4.Dhcp4Option> = fc.oneof(
  fc
    .tuple(
      fc.integer({ min: 1, max: 254 }).filter((c) => ![1, 3, 6, 12, 15, 28, 50, 51, 52, 53, 54, 55, 57, 58, 59, 60, 61, 82].includes(c)),
      fc.uint8Array({ maxLength: 255 }),
    )
    .map(([code, data]) => ({ code, data })),
  fc.ipV4().map((ip) => dhcp4.ipOption(dhcp4.OptionCode.REQUESTED_IP, ip)),
  fc.array(fc.ipV4(), { minLength: 1, maxLength: 8 }).map((ips) => dhcp4.ipListOption(dhcp4.OptionCode.DNS, ips)),
  fc.nat().map((v) => dhcp4.u32Option(dhcp4.OptionCode.LEASE_TIME, v >>> 0)),
  fc.uint8Array({ minLength: 2, maxLength: 40 }).map((d) => dhcp4.bytesOption(dhcp4.OptionCode.CLIENT_ID, d)),
  fc
    .array(fc.record({ code: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 30 }) }), {
      minLength: 1,
      maxLength: 6,
    })
    .map((subs) => ({ code: 82, data: dhcp4.encodeRelayAgentInfo(subs) })),
);

const message: fc.Arbitrary<dhcp4.Dhcp4Message> = fc.record({
  op: fc.constantFrom(1, 2),
  htype: fc.integer({ min: 0, max: 255 }),
  hlen: fc.integer({ min: 0, max: 16 }),
  hops: fc.integer({ min: 0, max: 255 }),
  xid: fc.integer({ min: 0, max: 0xffffffff }),
  secs: fc.integer({ min: 0, max: 0xffff }),
  flags: fc.integer({ min: 0, max: 0xffff }),
  ciaddr: fc.ipV4(),
  yiaddr: fc.ipV4(),
  siaddr: fc.ipV4(),
  giaddr: fc.ipV4(),
  chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  sname: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  file: fc.uint8Array({ minLength: 128, maxLength: 128 }),
  // fixed-length options (50, 51) may appear once: their concatenation must stay 4 octets
  options: fc
    .array(option, { maxLength: 12 })
    .map((opts) => opts.filter((o, k) => ![50, 51].includes(o.code) || opts.findIndex((p) => p.code === o.code) === k)),
});

describe('decodeDhcp4 properties', () => {
  it('random bytes: returns a message or throws DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        const msg = decodeOrDecodeError(bytes);
        if (msg !== undefined) checkStable(msg);
      }),
      runs,
    );
  });

  it('random header and option area: DecodeError or a stable message', () => {
    fc.assert(
      fc.property(headerPlusOptions, (bytes) => {
        const msg = decodeOrDecodeError(bytes);
        if (msg !== undefined) checkStable(msg);
      }),
      runs,
    );
  });

  it('mutated and truncated real packets: DecodeError or a stable message', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        const msg = decodeOrDecodeError(bytes);
        if (msg !== undefined) checkStable(msg);
      }),
      runs,
    );
  });

  it('every prefix of every capture decodes or throws DecodeError', () => {
    for (const seed of seeds) {
      for (let n = 0; n <= seed.length; n++) decodeOrDecodeError(seed.subarray(0, n));
    }
  });

  it('decode(encode(m)) equals m for valid messages, padded or not', () => {
    fc.assert(
      fc.property(message, fc.boolean(), (msg, pad) => {
        const bytes = dhcp4.encodeDhcp4(msg, { pad });
        expect(bytes.length).toBeGreaterThanOrEqual(pad ? 300 : 241);
        expect(dhcp4.decodeDhcp4(bytes)).toEqual(msg);
      }),
      { numRuns: 1000, seed: 0x3046 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dhcp4 } from '@bng/protocols';
import type { Dhcp4Action, Dhcp4ServerConfig } from '../src/dhcp/index.js';
import { MessageType, clientMessage, harness, meta, requested, server } from './dhcp-helpers.js';

const config: Dhcp4ServerConfig = {
  serverId: '10.0.1.1',
  offerHoldMs: 5_000,
  declineQuarantineMs: 20_000,
  authoritative: true,
  pools: [
    {
      name: 'tiny',
      network: '10.0.1.0/24',
      gateway: '10.0.1.1',
      rangeStart: '10.0.1.10',
      rangeEnd: '10.0.1.12',
      leaseTime: 60,
      reservations: [{ mac: '02:00:00:00:00:05', ip: '10.0.1.50' }],
    },
  ],
};

const macs = [1, 2, 3, 4, 5, 6].map((i) => `02:00:00:00:00:0${i}`);
const addresses = ['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.13', '10.0.1.50', '10.0.1.99', '10.0.2.10'];

type Step =
  | { kind: 'discover'; c: number; want?: number }
  | { kind: 'select'; c: number; other: boolean; ip?: number }
  | { kind: 'reboot'; c: number; ip?: number }
  | { kind: 'renew'; c: number; ip?: number }
  | { kind: 'release'; c: number; ip?: number }
  | { kind: 'decline'; c: number; ip?: number }
  | { kind: 'wait'; ms: number }
  | { kind: 'expire' };

const client = fc.integer({ min: 0, max: macs.length - 1 });
const addr = fc.integer({ min: 0, max: addresses.length - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('discover' as const), c: client, want: fc.option(addr, { nil: undefined }) }, { requiredKeys: ['kind', 'c'] }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('select' as const), c: client, other: fc.boolean(), ip: fc.option(addr, { nil: undefined }) }, { requiredKeys: ['kind', 'c', 'other'] }),
  },
  fc.record({ kind: fc.constant('reboot' as const), c: client, ip: fc.option(addr, { nil: undefined }) }, { requiredKeys: ['kind', 'c'] }),
  fc.record({ kind: fc.constant('renew' as const), c: client, ip: fc.option(addr, { nil: undefined }) }, { requiredKeys: ['kind', 'c'] }),
  fc.record({ kind: fc.constant('release' as const), c: client, ip: fc.option(addr, { nil: undefined }) }, { requiredKeys: ['kind', 'c'] }),
  fc.record({ kind: fc.constant('decline' as const), c: client, ip: fc.option(addr, { nil: undefined }) }, { requiredKeys: ['kind', 'c'] }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 30_000 }) }),
  fc.constant({ kind: 'expire' as const }),
);

describe('DHCPv4 server invariants under random client behaviour', () => {
  it('never ACKs an address another client still holds; replies are well formed', () => {
    const seen = { ACK: 0, NAK: 0, OFFER: 0, POOL_EXHAUSTED: 0, DECLINED: 0, RELEASED: 0 };
    fc.assert(
      fc.property(fc.array(step, { minLength: 30, maxLength: 80 }), (steps) => {
        const h = harness(config);
        const lastOffer = new Map<number, string>();
        const lastAck = new Map<number, string>();
        // an explicit address, else the one the client was last given (what a real client uses)
        const pick = (c: number, ip: number | undefined): string | undefined => (ip === undefined ? lastAck.get(c) : addresses[ip]);
        // our model of who holds what: ip -> holder and lease end
        const held = new Map<string, { c: number; until: number }>();
        const quarantined = new Map<string, number>();

        const check = (c: number, actions: Dhcp4Action[]): void => {
          for (const a of actions) {
            if (a.type === 'drop') continue;
            if (a.type === 'unbind') continue;
            if (a.type === 'bind') continue;
            expect(dhcp4.decodeDhcp4(a.payload)).toEqual(a.message);
            expect(a.message.op).toBe(2);
            const type = dhcp4.messageType(a.message);
            const ip = a.message.yiaddr;
            if (type === MessageType.DHCPOFFER) lastOffer.set(c, ip);
            if (type === MessageType.DHCPOFFER || type === MessageType.DHCPACK) {
              expect(['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.50']).toContain(ip);
              if (ip === '10.0.1.50') expect(c).toBe(4);
              const h0 = held.get(ip);
              if (h0 !== undefined && h0.until > h.now.ms) expect(h0.c).toBe(c);
              const q = quarantined.get(ip);
              if (q !== undefined) expect(q).toBeLessThanOrEqual(h.now.ms);
            }
            if (type === MessageType.DHCPACK) {
              lastAck.set(c, ip);
              for (const [k, v] of held) if (v.c === c && k !== ip) held.delete(k); // one binding per client
              held.set(ip, { c, until: h.now.ms + 60_000 });
            }
            if (type === MessageType.DHCPNAK) {
              expect(a.message.yiaddr).toBe('0.0.0.0');
            }
          }
        };

        for (const s of steps) {
          if (s.kind === 'wait') {
            h.now.ms += s.ms;
            continue;
          }
          if (s.kind === 'expire') {
            h.server.expire(h.now.ms);
            continue;
          }
          const mac = macs[s.c]!;
          let actions: Dhcp4Action[];
          switch (s.kind) {
            case 'discover':
              actions = h.server.handle(
                clientMessage(MessageType.DHCPDISCOVER, { mac, options: s.want === undefined ? [] : [requested(addresses[s.want]!)] }),
                meta(),
                h.now.ms,
              );
              break;
            case 'select': {
              const ip = s.ip === undefined ? lastOffer.get(s.c) : addresses[s.ip];
              if (ip === undefined) continue;
              actions = h.server.handle(
                clientMessage(MessageType.DHCPREQUEST, { mac, options: [requested(ip), server(s.other ? '10.0.1.254' : '10.0.1.1')] }),
                meta(),
                h.now.ms,
              );
              break;
            }
            case 'reboot': {
              const ip = pick(s.c, s.ip);
              if (ip === undefined) continue;
              actions = h.server.handle(clientMessage(MessageType.DHCPREQUEST, { mac, options: [requested(ip)] }), meta(), h.now.ms);
              break;
            }
            case 'renew': {
              const ip = pick(s.c, s.ip);
              if (ip === undefined) continue;
              actions = h.server.handle(clientMessage(MessageType.DHCPREQUEST, { mac, ciaddr: ip }), meta({ dstIp: '10.0.1.1' }), h.now.ms);
              break;
            }
            case 'release': {
              const ip = pick(s.c, s.ip);
              if (ip === undefined) continue;
              actions = h.server.handle(clientMessage(MessageType.DHCPRELEASE, { mac, ciaddr: ip }), meta(), h.now.ms);
              if (actions.some((a) => a.type === 'unbind')) held.delete(ip);
              break;
            }
            case 'decline': {
              const ip = pick(s.c, s.ip);
              if (ip === undefined) continue;
              actions = h.server.handle(clientMessage(MessageType.DHCPDECLINE, { mac, options: [requested(ip)] }), meta(), h.now.ms);
              if (actions.some((a) => a.type === 'drop')) break;
              held.delete(ip);
              quarantined.set(ip, h.now.ms + 20_000);
              break;
            }
          }
          check(s.c, actions);
        }
        const counters = h.server.counters();
        for (const k of Object.keys(seen) as Array<keyof typeof seen>) seen[k] += counters[k];
      }),
      { numRuns: 150, seed: 2131 },
    );
    // the generator reaches every outcome the invariant is about
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThanOrEqual(5);
  });
});

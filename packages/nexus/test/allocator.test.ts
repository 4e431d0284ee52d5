import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { blockOwners, conflictWinner, pickUnit, poolGeometry, subscriberOwner } from '../src/allocator.js';
import { formatIpv6, parseIpv6 } from '../src/ip.js';
import { isBngError } from '@bng/api';

const v4 = poolGeometry({ id: 'p4', type: 'ipv4', cidr: '100.64.0.0/22', gateway: '100.64.0.1' }, 64);

describe('pool geometry', () => {
  it('ipv4 excludes network, broadcast and gateway', () => {
    expect(v4.units).toBe(1024);
    expect(v4.blocks).toBe(16);
    expect([...v4.unusable].sort((a, b) => a - b)).toEqual([0, 1, 1023]);
    expect(v4.format(5)).toBe('100.64.0.5');
    expect(v4.parse('100.64.3.255')).toBe(1023);
    expect(v4.parse('100.65.0.0')).toBeUndefined();
  });
  it('ipv6 delegates prefixes of the configured length', () => {
    const g = poolGeometry({ id: 'p6', type: 'ipv6', prefix: '2001:db8::/48', delegated_length: 56 }, 64);
    expect(g.units).toBe(256);
    expect(g.format(1)).toBe('2001:db8:0:100::/56');
    expect(g.parse('2001:db8:0:100::/56')).toBe(1);
    expect(g.parse('2001:db8:0:101::/56')).toBeUndefined();
  });
  it('vlan pairs', () => {
    const g = poolGeometry({ id: 'v', type: 'vlan', s_tag: { from: 200, to: 201 }, c_tag: { from: 100, to: 199 } }, 64);
    expect(g.units).toBe(200);
    expect(g.format(0)).toBe('200:100');
    expect(g.format(100)).toBe('201:100');
    expect(g.parse('201:150')).toBe(150);
  });
  it('names the bad field', () => {
    const err = (() => { try { poolGeometry({ id: 'x', type: 'ipv4', cidr: '10.0.0.1/24' }, 64); } catch (e) { return e; } })();
    expect(isBngError(err, 'BNG_ERR_BAD_REQUEST') && err.details?.field).toBe('cidr');
    const err2 = (() => { try { poolGeometry({ id: 'x', type: 'ipv6', prefix: '2001:db8::/48', delegated_length: 40 }, 64); } catch (e) { return e; } })();
    expect(isBngError(err2) && err2.details?.field).toBe('delegated_length');
  });
  it('caps the number of blocks', () => {
    const g = poolGeometry({ id: 'big', type: 'ipv4', cidr: '10.0.0.0/8' }, 64);
    expect(g.blocks).toBeLessThanOrEqual(4096);
  });
  it('ipv6 text round-trips canonically', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => parseIpv6(formatIpv6(v)) === v));
    expect(formatIpv6(parseIpv6('2001:DB8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
  });
});

describe('rendezvous ownership', () => {
  it('moves only the dead allocator\'s blocks', () => {
    const all = blockOwners(v4, ['a', 'b', 'c']);
    const without = blockOwners(v4, ['a', 'c']);
    for (let b = 0; b < all.length; b++) if (all[b] !== 'b') expect(without[b]).toBe(all[b]);
    expect(without.includes('b')).toBe(false);
  });
  it('the same subscriber gets the same unit, in its owner\'s blocks', () => {
    const live = ['a', 'b', 'c'];
    const owners = blockOwners(v4, live);
    const pick = (sub: string) => pickUnit({ geom: v4, owners, live, subscriberId: sub, isFree: () => true });
    const u = pick('sub-1');
    expect(pick('sub-1')).toBe(u);
    expect(owners[Math.floor(u! / v4.blockSize)]).toBe(subscriberOwner('sub-1', live));
  });
  it('never hands out a taken unit and fills the pool exactly', () => {
    const small = poolGeometry({ id: 's', type: 'ipv4', cidr: '10.0.0.0/27' }, 8);
    const live = ['n1', 'n2'];
    const owners = blockOwners(small, live);
    const taken = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const u = pickUnit({ geom: small, owners, live, subscriberId: `s${i}`, isFree: (x) => !taken.has(x) });
      expect(u).toBeDefined();
      expect(taken.has(u!)).toBe(false);
      taken.add(u!);
    }
    expect(pickUnit({ geom: small, owners, live, subscriberId: 'one-too-many', isFree: (x) => !taken.has(x) })).toBeUndefined();
  });
  it('conflict winner is a total order independent of argument order', () => {
    fc.assert(fc.property(
      fc.record({ subscriberId: fc.string(), at: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ subscriberId: fc.string(), at: fc.integer({ min: 0, max: 5 }) }),
      (a, b) => {
        fc.pre(a.subscriberId !== b.subscriberId);
        return conflictWinner(a, b) === conflictWinner(b, a);
      },
    ));
    expect(conflictWinner({ subscriberId: 'z', at: 1 }, { subscriberId: 'a', at: 2 }).subscriberId).toBe('z');
    expect(conflictWinner({ subscriberId: 'z', at: 1, reservedFor: 'a' }, { subscriberId: 'a', at: 2, reservedFor: 'a' }).subscriberId).toBe('a');
  });
});

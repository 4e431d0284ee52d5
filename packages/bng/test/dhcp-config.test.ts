import { describe, expect, it } from 'vitest';
import { isBngError } from '@bng/api';
import { resolveDhcp4Config, type Dhcp4PoolConfig, type Dhcp4ServerConfig } from '../src/dhcp/index.js';

const pool: Dhcp4PoolConfig = { name: 'a', network: '10.0.0.0/24', gateway: '10.0.0.1' };

function invalid(config: Dhcp4ServerConfig): string {
  try {
    resolveDhcp4Config(config);
  } catch (e) {
    expect(isBngError(e, 'BNG_ERR_CONFIG_INVALID')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('config was accepted');
}

describe('DHCPv4 server config', () => {
  it('defaults: whole subnet, server id from the gateway, T1/T2 at 0.5/0.875, 30 s offers, silent', () => {
    const c = resolveDhcp4Config({ pools: [pool] });
    const p = c.pools[0]!;
    expect(p.rangeStart).toBe(0x0a000001);
    expect(p.rangeEnd).toBe(0x0a0000fe);
    expect(p.serverId).toBe(0x0a000001);
    expect(p.unavailable.has(0x0a000001)).toBe(true);
    expect([p.leaseTime, p.renewalTime, p.rebindingTime, p.minLeaseTime]).toEqual([3600, 1800, 3150, 60]);
    expect(c.offerHoldMs).toBe(30_000);
    expect(c.authoritative).toBe(false);
    expect(p.hasCriteria).toBe(false);
  });

  it('normalises reservation MACs and client ids', () => {
    const c = resolveDhcp4Config({
      pools: [{ ...pool, reservations: [{ mac: 'AA-BB-CC-DD-EE-FF', ip: '10.0.0.5' }, { clientId: '01AABB', ip: '10.0.0.6' }] }],
    });
    expect(c.pools[0]!.reservations).toEqual([
      { mac: 'aa:bb:cc:dd:ee:ff', ip: 0x0a000005 },
      { clientId: '01aabb', ip: 0x0a000006 },
    ]);
  });

  it.each<[string, Dhcp4ServerConfig, string]>([
    ['no pools', { pools: [] }, 'pools'],
    ['bad network', { pools: [{ ...pool, network: '10.0.0.1/24' }] }, 'network'],
    ['/31', { pools: [{ ...pool, network: '10.0.0.0/31', gateway: undefined }] }, 'network'],
    ['gateway outside', { pools: [{ ...pool, gateway: '10.0.1.1' }] }, 'gateway'],
    ['no server id', { pools: [{ name: 'x', network: '10.0.0.0/24' }] }, 'serverId'],
    ['range reversed', { pools: [{ ...pool, rangeStart: '10.0.0.9', rangeEnd: '10.0.0.8' }] }, 'rangeStart'],
    ['range is broadcast', { pools: [{ ...pool, rangeEnd: '10.0.0.255' }] }, 'rangeEnd'],
    ['T1 > T2', { pools: [{ ...pool, renewalTime: 3000, rebindingTime: 2000 }] }, 'renewalTime'],
    ['zero lease', { pools: [{ ...pool, leaseTime: 0 }] }, 'leaseTime'],
    ['duplicate names', { pools: [pool, { ...pool, network: '10.0.1.0/24', gateway: '10.0.1.1' }] }, 'duplicate'],
    ['overlapping ranges', { pools: [pool, { ...pool, name: 'b' }] }, 'overlaps'],
    ['reservation both keys', { pools: [{ ...pool, reservations: [{ mac: '02:00:00:00:00:01', clientId: '0102', ip: '10.0.0.5' }] }] }, 'exactly one'],
    ['reservation outside', { pools: [{ ...pool, reservations: [{ mac: '02:00:00:00:00:01', ip: '10.0.1.5' }] }] }, 'ip'],
    ['reservation on gateway', { pools: [{ ...pool, reservations: [{ mac: '02:00:00:00:00:01', ip: '10.0.0.1' }] }] }, 'gateway'],
    ['bad mac', { pools: [{ ...pool, reservations: [{ mac: 'zz', ip: '10.0.0.5' }] }] }, 'mac'],
    ['bad vlan', { pools: [{ ...pool, match: { vlans: [{ outer: 4096 }] } }] }, 'vlans'],
    ['bad dns', { pools: [{ ...pool, dns: ['8.8.8'] }] }, 'dns'],
    ['bad offer hold', { pools: [pool], offerHoldMs: -1 }, 'offerHoldMs'],
  ])('%s', (_name, config, fragment) => {
    expect(invalid(config)).toContain(fragment);
  });
});

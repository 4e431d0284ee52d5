import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envName, isBngError } from '@bng/api';
import { u32ToIp } from '@bng/protocols';
import { loadBngConfig } from '../src/config.js';
import { reexecArgv, v8ThreadsInEffect } from '../src/daemon/runtime.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bng-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const file = (text: string): string => {
  const p = join(dir, 'bng.yaml');
  writeFileSync(p, text);
  return p;
};

/** The field a BNG_ERR_CONFIG_INVALID names, or the error itself when it is something else. */
function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isBngError(e, 'BNG_ERR_CONFIG_INVALID')) return String(e.details?.field);
    throw e;
  }
  throw new Error('no error');
}

describe('bng run configuration', () => {
  it("the seeds' flags alone make a working standalone config", () => {
    const c = loadBngConfig({ flags: { interface: 'eth1', 'pool.network': '10.0.1.0/24', 'pool.gateway': '10.0.1.1' } });
    expect(c.raw.interface).toBe('eth1');
    expect(c.raw.fastpath).toEqual({ enabled: true, mode: 'auto' });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 9090 });
    const pool = c.dhcp.pools[0]!;
    expect(pool.name).toBe('default');
    expect(u32ToIp(pool.serverId)).toBe('10.0.1.1');
    expect(u32ToIp(pool.rangeStart)).toBe('10.0.1.1'); // the gateway inside the range is never handed out
    expect(u32ToIp(pool.rangeEnd)).toBe('10.0.1.254');
  });

  it('layers defaults < file < environment < flags', () => {
    const f = file(
      [
        'interface: eth9',
        'logLevel: warn',
        'metricsAddr: 127.0.0.1:9191',
        'fastpath: { mode: generic }',
        'dhcp:',
        '  pools:',
        '    - name: res',
        '      network: 100.64.0.0/22',
        '      gateway: 100.64.0.1',
        '      dns: [100.64.0.53]',
        '      leaseTime: 600',
        '      match: { vlans: [{ outer: 100, inner: [1, 99] }] }',
      ].join('\n'),
    );
    const c = loadBngConfig({
      file: f,
      env: { BNG_LOG_LEVEL: 'debug', BNG_FASTPATH_ENABLED: 'false', BNG_POOL_NETWORK: '10.1.0.0/24', BNG_POOL_LEASE_TIME: '120' },
      flags: { logLevel: 'error', 'pool.gateway': '10.1.0.1' },
    });
    expect(c.raw.interface).toBe('eth9');
    expect(c.raw.dhcp.journalFsync).toBe(true); // leases fdatasynced before their ACK unless said otherwise
    expect(c.raw.runtime.v8Threads).toBe('auto');
    expect(c.raw.logLevel).toBe('error');
    expect(c.raw.fastpath).toEqual({ enabled: false, mode: 'generic' });
    expect(c.http).toEqual({ host: '127.0.0.1', port: 9191 });
    expect(c.dhcp.pools.map((p) => [p.name, p.leaseTime])).toEqual([
      ['res', 600],
      ['default', 120],
    ]);
    expect(c.dhcp.pools[0]!.match.vlans).toEqual([{ outer: [100, 100], inner: [1, 99] }]);
  });

  it('environment names follow the dotted path in upper snake case', () => {
    expect(envName('BNG', 'pool.leaseTime')).toBe('BNG_POOL_LEASE_TIME');
    expect(envName('BNG', 'fastpath.pinDir')).toBe('BNG_FASTPATH_PIN_DIR');
    expect(envName('NEXUS', 'listen.port')).toBe('NEXUS_LISTEN_PORT');
  });

  it('a bad value names its field and the reason', () => {
    const base = { 'pool.network': '10.0.1.0/24', 'pool.gateway': '10.0.1.1' };
    expect(fieldOf(() => loadBngConfig({ flags: { ...base, 'pool.network': '10.0.1.0' } }))).toBe('pool.network');
    expect(fieldOf(() => loadBngConfig({ flags: { ...base, 'pool.gateway': '10.0.2.1' } }))).toBe('pool.gateway');
    expect(fieldOf(() => loadBngConfig({ flags: base, env: { BNG_FASTPATH_MODE: 'turbo' } }))).toBe('fastpath.mode');
    expect(() => loadBngConfig({ flags: base, env: { BNG_FASTPATH_MODE: 'turbo' } })).toThrow('fastpath.mode: "turbo" is not one of "auto", "native", "generic"');
    expect(fieldOf(() => loadBngConfig({ flags: base, env: { BNG_RELAY_PORT: 'x' } }))).toBe('relay.port');
    expect(loadBngConfig({ flags: base, env: { BNG_DHCP_JOURNAL_FSYNC: 'false' } }).raw.dhcp.journalFsync).toBe(false);
    expect(fieldOf(() => loadBngConfig({ flags: base, env: { BNG_DHCP_JOURNAL_FSYNC: 'sometimes' } }))).toBe('dhcp.journalFsync');
    expect(fieldOf(() => loadBngConfig({ flags: { ...base, metricsAddr: 'nine' } }))).toBe('metricsAddr');
    expect(fieldOf(() => loadBngConfig({ file: file('interface: eth1\nfastpth: {}\n'), flags: base }))).toBe('fastpth');
    expect(fieldOf(() => loadBngConfig({ file: file('dhcp:\n  pools:\n    - { name: a, network: 10.9.0.0/24, gateway: 10.9.0.1, rangeEnd: 10.8.0.9 }\n') }))).toBe('dhcp.pools[0].rangeEnd');
    expect(fieldOf(() => loadBngConfig({ file: file('dhcp:\n  pools:\n    - { name: a, network: 10.9.0.0/24, colour: red }\n') }))).toBe('dhcp.pools.0.colour');
    expect(fieldOf(() => loadBngConfig({}))).toBe('dhcp.pools');
    expect(fieldOf(() => loadBngConfig({ flags: { 'pool.gateway': '10.0.1.1' } }))).toBe('pool.gateway');
    expect(fieldOf(() => loadBngConfig({ file: file('[1, 2]\n') }))).toBe('config');
    expect(fieldOf(() => loadBngConfig({ file: join(dir, 'missing.yaml') }))).toBe('config');
    try {
      loadBngConfig({ flags: { ...base, 'pool.gateway': '10.0.2.1' } });
    } catch (e) {
      expect((e as Error).message).toMatch(/^pool\.gateway: 10\.0\.2\.1 is not a host address of 10\.0\.1\.0\/24/);
    }
  });
});

describe('bng run configuration: RADIUS AAA', () => {
  const base = { interface: 'eth1', 'pool.network': '10.0.1.0/24', 'pool.gateway': '10.0.1.1' };

  it("is off by default; the seeds' --radius-* flags make one realm with accounting on port+1", () => {
    expect(loadBngConfig({ flags: base }).aaa).toBeUndefined();
    const c = loadBngConfig({ flags: { ...base, 'aaa.enabled': true, 'aaa.radiusServers': '10.10.0.1,10.10.0.2:1645', 'aaa.radiusSecret': 's3cret', 'aaa.realm': 'ispa' } });
    expect(c.aaa!.realm).toBe('ispa');
    expect(c.aaa!.service.realms['ispa']!.servers).toEqual([
      { host: '10.10.0.1', authPort: 1812, acctPort: 1813, secret: 's3cret' },
      { host: '10.10.0.2', authPort: 1645, acctPort: 1646, secret: 's3cret' },
    ]);
    expect(c.aaa!.accounting).toMatchObject({ defaultInterimIntervalSec: 300, window: 64 });
    expect(c.aaa!.coa).toBeUndefined();
    // the secret from the environment, as an operator should pass it
    const e = loadBngConfig({ flags: { ...base, 'aaa.enabled': true, 'aaa.radiusServers': '10.10.0.1' }, env: { BNG_AAA_RADIUS_SECRET: 'from-env' } });
    expect(e.aaa!.service.realms['default']!.servers[0]!.secret).toBe('from-env');
  });

  it('names the field of every mistake', () => {
    const on = { ...base, 'aaa.enabled': true };
    expect(fieldOf(() => loadBngConfig({ flags: on }))).toBe('aaa.realms');
    expect(fieldOf(() => loadBngConfig({ flags: { ...on, 'aaa.radiusServers': '10.10.0.1' } }))).toBe('aaa.radiusSecret');
    expect(fieldOf(() => loadBngConfig({ flags: { ...on, 'aaa.radiusServers': 'radius.isp.example', 'aaa.radiusSecret': 'x' } }))).toBe('aaa.radiusServers');
    expect(fieldOf(() => loadBngConfig({ flags: { ...on, 'aaa.radiusServers': '10.0.0.1:99999', 'aaa.radiusSecret': 'x' } }))).toBe('aaa.radiusServers');
    const realm = `aaa:\n  enabled: true\n  realms:\n    default:\n      servers: [{ host: 10.10.0.1, secret: x }]\n`;
    expect(loadBngConfig({ file: file(realm), flags: base }).aaa!.service.realms['default']!.servers[0]).toMatchObject({ authPort: 1812, acctPort: 1813 });
    expect(fieldOf(() => loadBngConfig({ file: file(`${realm}  walledGarden: { pool: nope }\n`), flags: base }))).toBe('aaa.walledGarden.pool');
    expect(fieldOf(() => loadBngConfig({ file: file(`${realm}  walledGarden: { allow: [10.0.0.300/24] }\n`), flags: base }))).toBe('aaa.walledGarden.allow[0]');
    expect(fieldOf(() => loadBngConfig({ file: file(`${realm}  coa: { enabled: true }\n`), flags: base }))).toBe('aaa.coa.clients');
    expect(fieldOf(() => loadBngConfig({ file: file(`${realm}  onReject: drop\n`), flags: base }))).toMatch(/^aaa\.onReject/);
    expect(fieldOf(() => loadBngConfig({ file: file(`aaa:\n  enabled: true\n  realms:\n    default:\n      servers: [{ host: radius.example, secret: x }]\n`), flags: base }))).toMatch(/^aaa\.realms/);
  });
});

describe('runtime.v8Threads: the command line a restart would use', () => {
  const argv = ['/usr/bin/node', '/opt/bng/bin/bng.js', 'run', '-i', 'eth1'];
  it('adds --single-threaded before the script, keeps the other node flags, and never loops', () => {
    expect(reexecArgv('auto', 1, '/usr/bin/node', ['--max-old-space-size=512'], argv)).toEqual([
      '/usr/bin/node', '--single-threaded', '--max-old-space-size=512', '/opt/bng/bin/bng.js', 'run', '-i', 'eth1',
    ]);
    expect(reexecArgv('auto', 2, '/usr/bin/node', [], argv)).toBeUndefined(); // more CPUs: V8's threads help
    expect(reexecArgv('pool', 1, '/usr/bin/node', [], argv)).toBeUndefined();
    expect(reexecArgv('single', 8, '/usr/bin/node', [], argv)?.[1]).toBe('--single-threaded');
    // already restarted, or the operator chose on node's command line: no restart
    expect(reexecArgv('auto', 1, '/usr/bin/node', ['--single-threaded'], argv)).toBeUndefined();
    expect(reexecArgv('single', 1, '/usr/bin/node', ['--no-single-threaded'], argv)).toBeUndefined();
  });

  it('says how V8 runs and whether the setting was followed', () => {
    expect(v8ThreadsInEffect('auto', 1, ['--single-threaded'])).toEqual({ v8Threads: 'single', asConfigured: true });
    expect(v8ThreadsInEffect('auto', 1, [])).toEqual({ v8Threads: 'pool', asConfigured: false }); // not started through bng run
    expect(v8ThreadsInEffect('auto', 4, [])).toEqual({ v8Threads: 'pool', asConfigured: true });
    expect(v8ThreadsInEffect('single', 4, ['--no-single-threaded'])).toEqual({ v8Threads: 'pool', asConfigured: true });
  });
});

// The `bng` CLI as an operator uses it (the built bin/bng, so `make build` first): attach the
// fast path, provision a pool and a subscriber, a real udhcpc gets its address from the kernel,
// list/stats/load/detach, and bad input named clearly.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, addressesOf, repoRoot } from '@bng/testkit';

const lab = new Lab('cli');
const BNG = join(repoRoot(), 'bin', 'bng');

function bng(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(BNG, args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

afterAll(() => {
  bng('fastpath', 'detach', '-i', `${lab.id}s`, '--unpin');
  lab.destroy();
});

describe('bng CLI and the fast path', () => {
  it('attach, provision, a real client binds, list, stats, bulk load, detach', () => {
    expect(existsSync(join(repoRoot(), 'packages', 'bng', 'dist', 'cli.js')), 'run make build first').toBe(true);
    const ns = lab.addNs('c');
    const [srv, cli] = lab.veth('s', undefined, 'c', ns);
    lab.ip(undefined, 'addr', 'add', '198.18.41.1/24', 'dev', srv);
    lab.ip(undefined, 'link', 'set', srv, 'up');
    lab.ip(ns, 'link', 'set', cli, 'up');
    lab.xdpPass(ns, cli);
    const mac = (JSON.parse(lab.ip(ns, '-j', 'link', 'show', cli)) as Array<{ address: string }>)[0]!.address;

    let r = bng('fastpath', 'attach', '-i', srv, '--server-ip', '198.18.41.1');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`attached to ${srv} \\(program id \\d+\\), maps pinned in /sys/fs/bpf/bng/${srv}`));
    r = bng('pool', 'set', '-i', srv, '--id', '1', '--netmask', '255.255.255.0', '--gateway', '198.18.41.1', '--dns', '198.18.41.53', '--domain', 'cli.test', '--lease-time', '600');
    expect(r.code, r.out).toBe(0);
    r = bng('subscriber', 'add', '-i', srv, '--mac', mac, '--ip', '198.18.41.60', '--pool', '1');
    expect(r.code, r.out).toBe(0);

    const hook = join(lab.dir, 'hook');
    writeFileSync(hook, '#!/bin/sh\ncase "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; esac\n');
    chmodSync(hook, 0o755);
    lab.exec(ns, 'udhcpc', ['-q', '-n', '-f', '-i', cli, '-s', hook, '-t', '5', '-T', '1'], { timeoutMs: 20_000 });
    expect(addressesOf(lab, ns, cli)).toContain('198.18.41.60');

    r = bng('subscriber', 'list', '-i', srv);
    expect(r.out).toMatch(new RegExp(`mac ${mac}\\s+198\\.18\\.41\\.60\\s+pool 1\\s+bound \\d+s left`));
    r = bng('fastpath', 'stats', '-i', srv, '--json');
    const stats = JSON.parse(r.out) as Record<string, string>;
    expect(Number(stats.tx_offer)).toBeGreaterThanOrEqual(1);
    expect(Number(stats.tx_ack)).toBeGreaterThanOrEqual(1);
    r = bng('pool', 'list', '-i', srv);
    expect(r.out).toContain('pool 1: mask 255.255.255.0 gw 198.18.41.1 dns 198.18.41.53 domain cli.test lease 600s');

    const csv = join(lab.dir, 'subs.csv');
    writeFileSync(csv, '# match,ip,pool\n02:aa:00:00:00:01,198.18.41.70,1\n200:300,198.18.41.71,1\ncircuit:olt1/pon0/ont7,198.18.41.72,1\n');
    r = bng('subscriber', 'load', '-i', srv, csv);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/loaded 3 subscriber\(s\)/);
    r = bng('subscriber', 'list', '-i', srv);
    expect(r.out).toContain('vlan 200:300');
    expect(r.out).toContain('circuit-id olt1/pon0/ont7');
    expect(r.out).toContain('4 subscriber(s)');

    r = bng('subscriber', 'del', '-i', srv, '--vlan', '200:300');
    expect(r.code, r.out).toBe(0);
    r = bng('subscriber', 'del', '-i', srv, '--vlan', '200:300');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('BNG_ERR_NOT_FOUND');

    r = bng('fastpath', 'detach', '-i', srv, '--unpin');
    expect(r.code, r.out).toBe(0);
    expect(existsSync(`/sys/fs/bpf/bng/${srv}`)).toBe(false);
  }, 60_000);

  it('names the field and the reason for bad input', () => {
    let r = bng('subscriber', 'add', '-i', 'eth9', '--mac', '02:00:00:00:00:01', '--ip', '999.1.1.1', '--pool', '1');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("--ip: '999.1.1.1' is not an IPv4 address");
    r = bng('subscriber', 'add', '-i', 'eth9', '--vlan', '5000', '--ip', '10.0.0.1', '--pool', '1');
    expect(r.out).toContain("'5000': VLAN ids are 1..4095");
    r = bng('subscriber', 'add', '-i', 'eth9', '--mac', '02:00:00:00:00:01', '--vlan', '5', '--ip', '10.0.0.1', '--pool', '1');
    expect(r.out).toContain('give exactly one of --mac, --vlan, --circuit-id, --remote-id');
    r = bng('fastpath', 'attach', '-i', 'nosuch0', '--server-ip', '10.0.0.1');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('BNG_ERR_INTERFACE: interface nosuch0 does not exist');
  });
});

// Real DHCP clients against the XDP fast path, in network namespaces: dhclient, udhcpc and
// dhcpcd each get their provisioned address from the kernel and renew it there; perfdhcp, as a
// relay, gets offers and acks. The program's counters prove the kernel answered.
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DhcpFastPath, type FastPathEvent } from '@bng/datapath';
import { Lab, addressesOf, waitFor } from '@bng/testkit';

const LEASE_S = 20; // dhcpcd will not take less; T1 = 10 s
const labs: Lab[] = [];
const paths: DhcpFastPath[] = [];

afterAll(() => {
  for (const fp of paths) {
    try {
      fp.close({ detach: true });
    } catch {
      // interface already gone
    }
  }
  for (const lab of labs) {
    try {
      DhcpFastPath.detach(`${lab.id}s`, { pinDir: `/sys/fs/bpf/bng-test/${lab.id}`, unpin: true });
    } catch {
      // gone with the lab
    }
    lab.destroy();
    // dhcpcd keeps its lease by interface name; the names were this lab's
    for (const f of existsSync('/var/lib/dhcpcd') ? readdirSync('/var/lib/dhcpcd') : []) {
      if (f.startsWith(`${lab.id}c`)) rmSync(join('/var/lib/dhcpcd', f), { force: true });
    }
  }
});

interface Setup {
  lab: Lab;
  ns: string;
  serverIf: string;
  clientIf: string;
  clientMac: string;
  net: string;
  fp: DhcpFastPath;
  events: FastPathEvent[];
}

function setup(subnet: number): Setup {
  const lab = new Lab('fp');
  labs.push(lab);
  const ns = lab.addNs('c');
  const [serverIf, clientIf] = lab.veth('s', undefined, 'c', ns);
  const net = `198.18.${subnet}`;
  lab.ip(undefined, 'addr', 'add', `${net}.1/24`, 'dev', serverIf);
  lab.ip(undefined, 'link', 'set', serverIf, 'up');
  lab.ip(ns, 'link', 'set', clientIf, 'up');
  lab.xdpPass(ns, clientIf);
  const clientMac = lab.ip(ns, '-j', 'link', 'show', clientIf).match(/"address":"([0-9a-f:]{17})"/)![1]!;
  const fp = DhcpFastPath.attach({
    ifname: serverIf,
    serverIp: `${net}.1`,
    mode: 'native',
    pinDir: `/sys/fs/bpf/bng-test/${lab.id}`,
    detachOnExit: true,
  });
  paths.push(fp);
  fp.setPool(1, { netmask: '255.255.255.0', gateway: `${net}.1`, dns: [`${net}.53`], leaseTimeS: LEASE_S, domain: 'lab.example' });
  fp.setSubscriber({ mac: clientMac }, { ip: `${net}.50`, poolId: 1 });
  const events: FastPathEvent[] = [];
  fp.onEvents((e) => events.push(...e));
  return { lab, ns, serverIf, clientIf, clientMac, net, fp, events };
}

/** A client hook script that configures the address and logs each reason, nothing else. */
function hookScript(lab: Lab, name: string, body: string): string {
  const p = join(lab.dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

async function boundThenRenewed(s: Setup): Promise<void> {
  await waitFor(`${s.net}.50 on ${s.clientIf}`, () => addressesOf(s.lab, s.ns, s.clientIf).includes(`${s.net}.50`), 20_000);
  const first = s.fp.readCounters();
  expect(first.tx_offer).toBeGreaterThanOrEqual(1n);
  expect(first.tx_ack).toBeGreaterThanOrEqual(1n);
  // T1 = LEASE_S / 2: the renewal (unicast REQUEST with ciaddr) is answered by the kernel too
  await waitFor('a renewal ACK from the kernel', () => s.fp.readCounters().tx_ack! > first.tx_ack!, (LEASE_S / 2 + 8) * 1000, 250);
  expect(addressesOf(s.lab, s.ns, s.clientIf)).toContain(`${s.net}.50`);
  const c = s.fp.readCounters();
  expect(c.tx_nak).toBe(0n);
  s.fp.pollEvents();
  expect(s.events.filter((e) => e.type === 'ack' && e.ip === `${s.net}.50` && e.mac === s.clientMac).length).toBeGreaterThanOrEqual(2);
  // the binding's expiry moved forward with the renewal
  const b = s.fp.getSubscriber({ mac: s.clientMac })!;
  expect(b.leaseExpiresNs! > 0n).toBe(true);
}

describe('real clients against the XDP fast path', () => {
  it('dhclient, udhcpc and dhcpcd obtain and renew their provisioned addresses from the kernel', async () => {
    const a = setup(31);
    const b = setup(32);
    const c = setup(33);

    const dhScript = hookScript(
      a.lab,
      'dhclient-hook',
      `case "$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface";; esac\necho "$reason" >> ${a.lab.dir}/reasons`,
    );
    a.lab.spawn(a.ns, 'dhclient', ['-4', '-d', '-v', '-sf', dhScript, '-lf', join(a.lab.dir, 'lease'), '-pf', join(a.lab.dir, 'pid'), a.clientIf]);

    const udScript = hookScript(
      b.lab,
      'udhcpc-hook',
      `case "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; esac\necho "$1" >> ${b.lab.dir}/reasons`,
    );
    b.lab.spawn(b.ns, 'udhcpc', ['-f', '-i', b.clientIf, '-s', udScript, '-t', '10', '-T', '1']);

    const dcScript = hookScript(c.lab, 'dhcpcd-hook', `echo "$reason" >> ${c.lab.dir}/reasons`);
    const dc = c.lab.spawn(c.ns, 'dhcpcd', ['-4', '-B', '-d', '--noarp', '--noipv4ll', '-f', '/dev/null', '-c', dcScript, c.clientIf]);

    const results = await Promise.allSettled([boundThenRenewed(a), boundThenRenewed(b), boundThenRenewed(c)]);
    const failures = results.map((r, i) => (r.status === 'rejected' ? `${['dhclient', 'udhcpc', 'dhcpcd'][i]}: ${r.reason}` : '')).filter(Boolean);
    if (failures.length) console.error(dc.output().slice(-3000));
    expect(failures).toEqual([]);
  }, 90_000);

  it('perfdhcp as a relay gets offers and acks from the kernel', async () => {
    const s = setup(34);
    s.lab.ip(s.ns, 'addr', 'add', `${s.net}.2/24`, 'dev', s.clientIf);
    // perfdhcp derives each simulated client's MAC by adding a number below -R to the base
    // MAC; provision all of them (and a margin) by MAC.
    const clients = 200;
    const entries: Array<[{ mac: string }, { ip: string; poolId: number }]> = [];
    for (let i = 0; i < 256; i++) {
      entries.push([{ mac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}` }, { ip: `${s.net}.${(i % 200) + 20}`, poolId: 1 }]);
    }
    s.fp.setSubscribers(entries);
    const p = s.lab.spawn(s.ns, 'perfdhcp', ['-4', '-l', `${s.net}.2`, '-r', '200', '-R', String(clients), '-b', 'mac=02:00:00:00:00:00', '-p', '4', '-W', '1000000', `${s.net}.1`]);
    await p.exited;
    const out = p.output();
    const sentAll = [...out.matchAll(/sent packets: (\d+)/g)].map((m) => Number(m[1]));
    const received = [...out.matchAll(/received packets: (\d+)/g)].map((m) => Number(m[1]));
    const counters = s.fp.readCounters();
    const nz = JSON.stringify(Object.entries(counters).filter(([, v]) => v > 0n), (_, v) => (typeof v === 'bigint' ? Number(v) : v));
    // perfdhcp exits non-zero on any drop; what is checked is the loss, under 1% each way
    expect(sentAll.length, out).toBe(2); // DISCOVER-OFFER and REQUEST-ACK exchanges
    expect(received.length, out).toBe(2);
    expect(sentAll[0]).toBeGreaterThan(100);
    expect(received[0]! / sentAll[0]!, out + nz).toBeGreaterThanOrEqual(0.99);
    expect(received[1]! / sentAll[1]!, out + nz).toBeGreaterThanOrEqual(0.99);
    expect(counters.tx_offer).toBeGreaterThanOrEqual(BigInt(received[0]!));
    expect(counters.tx_ack).toBeGreaterThanOrEqual(BigInt(received[1]!));
    expect(counters.pass_unknown_subscriber).toBe(0n);
  }, 60_000);
});

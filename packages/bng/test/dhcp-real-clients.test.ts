// Real DHCP clients against the sans-IO server core, in network namespaces: frames come in
// and go out through an AF_PACKET socket on the server end of each veth, exactly as the daemon
// will run it. dhclient, udhcpc and dhcpcd each get an address (classified by interface into
// their own pool) and configure it; udhcpc renews at T1 and releases on exit; dhclient
// restarted with its lease file goes through INIT-REBOOT.
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PacketSocket } from '@bng/datapath';
import { dhcp4 } from '@bng/protocols';
import { Lab, addressesOf, buildUdpFrame, parseFrame, waitFor } from '@bng/testkit';
import { createDhcp4Server, createMemoryLeaseStore, silentDhcp4Logger, type Dhcp4Action, type Dhcp4PoolConfig } from '../src/dhcp/index.js';

const LEASE_S = 20; // dhcpcd will not take less; T1 = 10 s

const labs: Lab[] = [];
const sockets: PacketSocket[] = [];
/** files clients write outside the lab directory (dhcpcd keeps leases per interface name) */
const strayFiles: string[] = [];
afterAll(() => {
  for (const s of sockets) s.close();
  for (const l of labs) l.destroy();
  for (const f of strayFiles) rmSync(f, { force: true });
});

interface Link {
  ns: string;
  serverIf: string;
  clientIf: string;
  clientMac: string;
  net: string;
}

function hook(lab: Lab, name: string, body: string): string {
  const p = join(lab.dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

describe('real clients against the DHCPv4 server core over AF_PACKET', () => {
  it('dhclient, udhcpc and dhcpcd: DORA, renewal, release, INIT-REBOOT', async () => {
    const lab = new Lab('dsv');
    labs.push(lab);
    const links: Link[] = [41, 42, 43].map((n, i) => {
      const ns = lab.addNs(`c${i}`);
      const [serverIf, clientIf] = lab.veth(`s${i}`, undefined, `c${i}`, ns);
      const net = `198.19.${n}`;
      lab.ip(undefined, 'addr', 'add', `${net}.1/24`, 'dev', serverIf);
      lab.ip(undefined, 'link', 'set', serverIf, 'up');
      lab.ip(ns, 'link', 'set', clientIf, 'up');
      const clientMac = lab.ip(ns, '-j', 'link', 'show', clientIf).match(/"address":"([0-9a-f:]{17})"/)![1]!;
      return { ns, serverIf, clientIf, clientMac, net };
    });

    const pools: Dhcp4PoolConfig[] = links.map((l, i) => ({
      name: `link${i}`,
      network: `${l.net}.0/24`,
      gateway: `${l.net}.1`,
      rangeStart: `${l.net}.100`,
      rangeEnd: `${l.net}.150`,
      dns: [`${l.net}.53`],
      domain: 'lab.example',
      leaseTime: LEASE_S,
      match: { interfaces: [l.serverIf] },
    }));
    const actions: Dhcp4Action[] = [];
    const server = createDhcp4Server({ pools }, { leases: createMemoryLeaseStore(), clock: { now: () => Date.now() }, log: silentDhcp4Logger });

    for (const l of links) {
      const sock = new PacketSocket(l.serverIf);
      sockets.push(sock);
      const serverMac = lab.ip(undefined, '-j', 'link', 'show', l.serverIf).match(/"address":"([0-9a-f:]{17})"/)![1]!;
      sock.onFrames((frames) => {
        for (const f of frames) {
          let parsed;
          try {
            parsed = parseFrame(f.frame);
          } catch {
            continue;
          }
          if (parsed.udp?.dstPort !== dhcp4.Port.SERVER || parsed.srcMac === serverMac) continue;
          const out = server.handlePacket(
            parsed.payload,
            { ifname: l.serverIf, vlans: parsed.vlans.map((v) => v.vid), srcMac: parsed.srcMac, dstIp: parsed.ipv4!.dst },
            Date.now(),
          );
          actions.push(...out);
          const replies = out.flatMap((a) =>
            a.type === 'send'
              ? [
                  Buffer.from(
                    buildUdpFrame({
                      dstMac: a.dst.mac,
                      srcMac: serverMac,
                      srcIp: a.src.ip,
                      dstIp: a.dst.ip,
                      srcPort: a.src.port,
                      dstPort: a.dst.port,
                      payload: a.payload,
                    }),
                  ),
                ]
              : [],
          );
          if (replies.length > 0) sock.send(replies);
        }
      });
    }

    const [a, b, c] = links as [Link, Link, Link];
    const acksFor = (mac: string): number =>
      actions.filter((x) => x.type === 'send' && dhcp4.messageType(x.message) === dhcp4.MessageType.DHCPACK && dhcp4.macOf(x.message) === mac).length;
    const offersFor = (mac: string): number =>
      actions.filter((x) => x.type === 'send' && dhcp4.messageType(x.message) === dhcp4.MessageType.DHCPOFFER && dhcp4.macOf(x.message) === mac).length;

    const dhScript = hook(lab, 'dhclient-hook', 'case "$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface";; esac');
    const dhArgs = ['-4', '-d', '-sf', dhScript, '-lf', join(lab.dir, 'dhclient.lease'), '-pf', join(lab.dir, 'dhclient.pid'), a.clientIf];
    const dh = lab.spawn(a.ns, 'dhclient', dhArgs);
    const udScript = hook(lab, 'udhcpc-hook', 'case "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; esac');
    const ud = lab.spawn(b.ns, 'udhcpc', ['-f', '-R', '-i', b.clientIf, '-s', udScript, '-t', '10', '-T', '1']);
    const dcScript = hook(lab, 'dhcpcd-hook', 'true');
    strayFiles.push(`/var/lib/dhcpcd/${c.clientIf}.lease`);
    const dc = lab.spawn(c.ns, 'dhcpcd', ['-4', '-B', '--noarp', '--noipv4ll', '-f', '/dev/null', '-c', dcScript, c.clientIf]);
    const diag = (): string => `${dh.output().slice(-1500)}\n${ud.output().slice(-1500)}\n${dc.output().slice(-1500)}\n${JSON.stringify(server.counters())}`;

    try {
      // DORA: each client configures the address its interface's pool handed out
      await waitFor('dhclient bound', () => addressesOf(lab, a.ns, a.clientIf).includes(`${a.net}.100`), 20_000);
      await waitFor('udhcpc bound', () => addressesOf(lab, b.ns, b.clientIf).includes(`${b.net}.100`), 20_000);
      await waitFor('dhcpcd acked', () => acksFor(c.clientMac) >= 1, 20_000);
      // classified by interface: each client's address comes from its own link's pool
      const dcLease = actions.find((x) => x.type === 'bind' && x.lease.mac === c.clientMac);
      expect(dcLease?.type === 'bind' && dcLease.lease.pool).toBe('link2');
      expect(offersFor(a.clientMac)).toBeGreaterThanOrEqual(1);
      expect(offersFor(b.clientMac)).toBeGreaterThanOrEqual(1);

      // RENEWING at T1 (unicast from the client's own address)
      const before = acksFor(b.clientMac);
      await waitFor('udhcpc renewal ACK', () => acksFor(b.clientMac) > before, (LEASE_S / 2 + 8) * 1000, 200);
      const renewal = actions.filter((x) => x.type === 'send' && dhcp4.macOf(x.message) === b.clientMac).at(-1)!;
      expect(renewal.type === 'send' && renewal.message.ciaddr).toBe(`${b.net}.100`);
      expect(renewal.type === 'send' && renewal.dst.ip).toBe(`${b.net}.100`);

      // RELEASE: udhcpc -R gives the address back on SIGTERM
      ud.child.kill('SIGTERM');
      await ud.exited;
      await waitFor('release', () => server.counters().RELEASED >= 1, 5_000);

      // INIT-REBOOT: dhclient restarted with its lease file asks for its address, no DISCOVER
      dh.child.kill('SIGKILL');
      await dh.exited;
      const offersBefore = offersFor(a.clientMac);
      const acksBefore = acksFor(a.clientMac);
      lab.spawn(a.ns, 'dhclient', dhArgs);
      await waitFor('INIT-REBOOT ACK', () => acksFor(a.clientMac) > acksBefore, 15_000);
      expect(offersFor(a.clientMac)).toBe(offersBefore);
      expect(server.counters().NAK).toBe(0);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${diag()}`);
    }
  }, 60_000);
});

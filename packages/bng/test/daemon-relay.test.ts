// `bng run` behind a real relay agent: ISC dhcrelay in a namespace between two client links and
// the daemon appends Option 82 (circuit-id = the interface the request came in on) and sets
// giaddr. The daemon classifies one client by circuit-id (a pool from the YAML file with
// match.circuitIds) and the other by giaddr (the pool whose network holds it), answers the relay
// on port 67 from its UDP socket, and echoes Option 82 verbatim as the last option; the relay
// strips it and the clients configure their addresses.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dhcp4 } from '@bng/protocols';
import { addressesOf, waitFor } from '@bng/testkit';
import { Daemon, DhcpCapture, Testbed, macOf, startDhclient, startUdhcpc, type LeaseRow, type RealClient } from './daemon-helpers.js';

const UP = '10.201.50'; // daemon .1, relay .2
const NET_A = '10.201.51'; // relay .1 = giaddr of link A
const NET_B = '10.201.52'; // relay .1 = giaddr of link B
const beds: Testbed[] = [];
afterAll(() => {
  for (const tb of beds) tb.destroy();
});

const hex = (s: string): string => Buffer.from(s).toString('hex');

describe('bng run behind ISC dhcrelay (Option 82)', () => {
  it('pools by circuit-id and by giaddr; the reply to the relay carries Option 82 echoed', async () => {
    const tb = new Testbed('drl');
    beds.push(tb);
    const { lab } = tb;
    const relayNs = lab.addNs('r');
    const nsA = lab.addNs('a');
    const nsB = lab.addNs('b');
    const [serverIf, relayUp] = lab.veth('s', undefined, 'ru', relayNs);
    const [relayA, clientA] = lab.veth('ra', relayNs, 'ca', nsA);
    const [relayB, clientB] = lab.veth('rb', relayNs, 'cb', nsB);
    lab.ip(undefined, 'addr', 'add', `${UP}.1/24`, 'dev', serverIf);
    lab.ip(undefined, 'link', 'set', serverIf, 'up');
    // the relay's subnets are reached through it; the replies leave from the daemon's UDP
    // socket, so they must carry full checksums (dhcrelay reads them off a packet socket)
    lab.ip(undefined, 'route', 'add', `${NET_A}.0/24`, 'via', `${UP}.2`, 'dev', serverIf);
    lab.ip(undefined, 'route', 'add', `${NET_B}.0/24`, 'via', `${UP}.2`, 'dev', serverIf);
    lab.noTxChecksum(undefined, serverIf);
    for (const [ifname, addr] of [
      [relayUp, `${UP}.2/24`],
      [relayA, `${NET_A}.1/24`],
      [relayB, `${NET_B}.1/24`],
    ] as const) {
      lab.ip(relayNs, 'addr', 'add', addr, 'dev', ifname);
      lab.ip(relayNs, 'link', 'set', ifname, 'up');
      lab.noTxChecksum(relayNs, ifname);
    }
    // XDP_TX answers (for subscribers the kernel knows) only arrive with a program on the peer
    lab.xdpPass(relayNs, relayUp);
    lab.ip(nsA, 'link', 'set', clientA, 'up');
    lab.ip(nsB, 'link', 'set', clientB, 'up');

    const config = join(lab.dir, 'bng.yaml');
    writeFileSync(
      config,
      [
        'dhcp:',
        `  serverId: ${UP}.1`,
        '  pools:',
        '    - name: by-circuit',
        `      network: ${NET_A}.0/24`,
        `      gateway: ${NET_A}.1`,
        `      rangeStart: ${NET_A}.100`,
        `      rangeEnd: ${NET_A}.120`,
        '      leaseTime: 30',
        '      match:',
        `        circuitIds: ["${relayA}"]`,
        '    - name: by-giaddr',
        `      network: ${NET_B}.0/24`,
        `      gateway: ${NET_B}.1`,
        `      rangeStart: ${NET_B}.100`,
        `      rangeEnd: ${NET_B}.120`,
        '      leaseTime: 30',
        '',
      ].join('\n'),
    );
    const capture = new DhcpCapture(serverIf);
    tb.onDestroy(() => capture.close());
    const daemon = await Daemon.start(tb, { ifname: serverIf, stateDir: join(lab.dir, 'state'), pinDir: tb.pinDir(), args: ['--config', config] });
    const relay = lab.spawn(relayNs, 'dhcrelay', ['-4', '-d', '-a', '-pf', join(lab.dir, 'dhcrelay.pid'), '-id', relayA, '-id', relayB, '-iu', relayUp, `${UP}.1`]);
    await waitFor('dhcrelay listening', () => /Sending on\s+Socket\/fallback/.test(relay.output()), 15_000);

    const a = startUdhcpc(tb, { ns: nsA, ifname: clientA, mac: macOf(lab, nsA, clientA) });
    const b = startDhclient(tb, { ns: nsB, ifname: clientB, mac: macOf(lab, nsB, clientB) });
    const leaseOf = (rows: LeaseRow[], c: RealClient) => rows.find((r) => r.mac === c.port.mac && r.state === 'bound');
    const diag = async (): Promise<string> =>
      [
        `--- dhcrelay\n${relay.output().slice(-2500)}`,
        `--- udhcpc ${JSON.stringify(a.events())}\n${a.proc.output().slice(-1000)}`,
        `--- dhclient ${JSON.stringify(b.events())}\n${b.proc.output().slice(-1000)}`,
        `--- daemon\n${daemon.proc.output().slice(-3000)}`,
        `--- stats ${JSON.stringify(await daemon.stats().catch(() => 'n/a'))}`,
      ].join('\n');

    try {
      const [la, lb] = await waitFor(
        'both relayed clients bound and configured',
        async () => {
          const rows = await daemon.leases();
          const la = leaseOf(rows, a);
          const lb = leaseOf(rows, b);
          if (!la || !lb) return undefined;
          const up = addressesOf(lab, nsA, clientA).includes(la.ip) && addressesOf(lab, nsB, clientB).includes(lb.ip);
          return up ? ([la, lb] as const) : undefined;
        },
        40_000,
        250,
      );
      // classified by circuit-id (A) and by the giaddr's subnet (B); the record keeps Option 82
      expect(la.pool).toBe('by-circuit');
      expect(la.ip.startsWith(`${NET_A}.`)).toBe(true);
      expect(la.circuitId).toBe(hex(relayA));
      expect(lb.pool).toBe('by-giaddr');
      expect(lb.ip.startsWith(`${NET_B}.`)).toBe(true);
      expect(lb.circuitId).toBe(hex(relayB));

      // on the wire between the relay and the daemon
      capture.drain();
      for (const [c, giaddr, circuit] of [
        [a, `${NET_A}.1`, relayA],
        [b, `${NET_B}.1`, relayB],
      ] as const) {
        const requests = capture.seen.filter((x) => !x.outgoing && x.msg.op === dhcp4.Op.BOOTREQUEST && x.mac === c.port.mac);
        expect(requests.length).toBeGreaterThanOrEqual(2);
        for (const r of requests) {
          expect(r.msg.giaddr).toBe(giaddr);
          expect(r.dstIp).toBe(`${UP}.1`);
        }
        const acks = capture.sent(dhcp4.MessageType.DHCPACK, c.port.mac);
        expect(acks.length).toBeGreaterThanOrEqual(1);
        for (const ack of [...capture.sent(dhcp4.MessageType.DHCPOFFER, c.port.mac), ...acks]) {
          // to the relay's server port at giaddr, from the daemon's address
          expect([ack.srcIp, ack.dstIp, ack.dstPort]).toEqual([`${UP}.1`, giaddr, 67]);
          expect(ack.msg.giaddr).toBe(giaddr);
          const info = dhcp4.relayAgentInfo(ack.msg);
          expect(Buffer.from(info!.circuitId!).toString()).toBe(circuit);
          // RFC 3046 §2.2: copied verbatim, as the last option
          expect(ack.msg.options.at(-1)?.code).toBe(dhcp4.OptionCode.RELAY_AGENT_INFO);
          const asked = requests.find((r) => r.msg.xid === ack.msg.xid);
          expect(Buffer.from(dhcp4.getOptionConcatenated(ack.msg, 82)!)).toEqual(Buffer.from(dhcp4.getOptionConcatenated(asked!.msg, 82)!));
        }
      }
      for (const c of [a, b]) expect(capture.sent(dhcp4.MessageType.DHCPNAK, c.port.mac)).toEqual([]);
      // (the UDP socket listens on every interface of this namespace, so the counters may also
      // hold relayed broadcasts of other labs running at the same time: only ours are checked)
      const stats = await daemon.stats();
      expect(stats.slowPath.rxDatagrams).toBeGreaterThanOrEqual(4);
      expect(stats.pools.map((p) => [p.pool, p.active])).toEqual([
        ['by-circuit', 1],
        ['by-giaddr', 1],
      ]);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await diag()}`);
    }
    expect(await daemon.stop()).toBe(0);
  }, 90_000);
});

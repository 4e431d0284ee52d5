// `bng run` end to end with real clients: dhclient, udhcpc and dhcpcd, each in a namespace of its
// own on one bridged segment, get their leases from the daemon's slow path (AF_PACKET), then
// renew at T1 and are answered by the XDP fast path the daemon filled on the ACK: the kernel's
// ACK counter rises, no further slow-path ACK goes to any of them, and the kernel's ACK events
// move each stored lease's expiry forward. /readyz tells the truth about the XDP program.
import { afterAll, describe, expect, it } from 'vitest';
import { dhcp4 } from '@bng/protocols';
import { addressesOf, waitFor } from '@bng/testkit';
import {
  Daemon,
  DhcpCapture,
  bng,
  Testbed,
  addClientNs,
  buildSegment,
  startDhclient,
  startDhcpcd,
  startUdhcpc,
  type HealthBody,
  type LeaseRow,
  type RealClient,
} from './daemon-helpers.js';

const LEASE_S = 30; // T1 = 15 s; dhcpcd takes nothing under 20 s
const NET = '10.201.7';
const beds: Testbed[] = [];
afterAll(() => {
  for (const tb of beds) tb.destroy();
});

describe('bng run with real clients: slow path binds, fast path renews', () => {
  it('dhclient, udhcpc and dhcpcd bind through userspace and renew in the kernel; readiness follows the XDP program', async () => {
    const tb = new Testbed('dcl');
    beds.push(tb);
    const { lab } = tb;
    const seg = buildSegment(lab, NET, { fastPath: true });
    const capture = new DhcpCapture(seg.serverIf);
    tb.onDestroy(() => capture.close());
    const daemon = await Daemon.start(tb, {
      ifname: seg.serverIf,
      stateDir: `${lab.dir}/state`,
      pinDir: tb.pinDir(),
      args: ['--pool-network', `${NET}.0/24`, '--pool-gateway', `${NET}.1`, '--pool-range', `${NET}.100-${NET}.199`, '--pool-lease-time', String(LEASE_S), '--no-relay'],
    });

    const ready = await daemon.get<HealthBody>('/readyz');
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    expect(ready.body.checks.fastPath?.ok).toBe(true);

    const clients: RealClient[] = [
      startDhclient(tb, addClientNs(lab, seg, 'dh')),
      startUdhcpc(tb, addClientNs(lab, seg, 'ud')),
      startDhcpcd(tb, addClientNs(lab, seg, 'dc')),
    ];
    const leaseOf = (rows: LeaseRow[], c: RealClient) => rows.find((r) => r.mac === c.port.mac && r.state === 'bound');
    const diag = async (): Promise<string> =>
      [
        ...clients.map((c) => `--- ${c.kind}: ${JSON.stringify(c.events())}\n${c.proc.output().slice(-1500)}`),
        `--- daemon\n${daemon.proc.output().slice(-3000)}`,
        `--- stats ${JSON.stringify(await daemon.stats().catch(() => 'n/a'))}`,
        // where the replies went: a client that never hears its OFFER shows whether one left, to which MAC and address
        ...clients.map((c) => {
          capture.drain();
          const mine = capture.seen.filter((x) => x.mac === c.port.mac);
          const link = (() => {
            try {
              return lab.ip(c.port.ns, '-br', 'link', 'show', 'dev', c.port.ifname).trim();
            } catch (e) {
              return (e as Error).message;
            }
          })();
          return `--- frames of ${c.kind} (${c.port.mac}; now ${link}): ${JSON.stringify(mine.slice(-6).map((x) => ({ out: x.outgoing, type: x.type, dstMac: x.dstMac, dstIp: x.dstIp, yiaddr: x.msg.yiaddr, flags: x.msg.flags })))} of ${mine.length}`;
        }),
      ].join('\n');

    try {
      // DORA through the slow path: every client configured an address of the pool
      const bound = await waitFor(
        'all three clients bound',
        async () => {
          const rows = await daemon.leases();
          const got = clients.map((c) => leaseOf(rows, c));
          if (got.some((l) => l === undefined)) return undefined;
          return clients.every((c, i) => addressesOf(lab, c.port.ns, c.port.ifname).includes(got[i]!.ip)) ? (got as LeaseRow[]) : undefined;
        },
        40_000,
        250,
      );
      for (const l of bound) expect(l.pool).toBe('default');
      expect(new Set(bound.map((l) => l.ip)).size).toBe(3);

      capture.drain();
      const slowAcks = clients.map((c) => capture.sent(dhcp4.MessageType.DHCPACK, c.port.mac).length);
      for (const n of slowAcks) expect(n).toBeGreaterThanOrEqual(1);
      const m0 = await daemon.metrics();
      expect(m0.get('bng_dhcp_replies_total', { path: 'slow', type: 'ACK' })).toBeGreaterThanOrEqual(3);
      const s0 = await daemon.stats();
      expect(s0.slowPath.replies.ACK).toBeGreaterThanOrEqual(3);
      const txAck0 = Number(s0.fastPath!.counters.tx_ack);
      const extended0 = s0.fastPath!.sync.extended ?? 0;
      // the daemon put every binding into the kernel's map
      const subs = await daemon.subscribers();
      for (const l of bound) expect(subs.find((s) => s.match.mac === l.mac)?.ip).toBe(l.ip);
      // the operator's view of the same through the CLI
      const json = bng(['leases', '--api', daemon.api, '--json']);
      expect(json.code, json.stderr).toBe(0);
      const listed = JSON.parse(json.stdout) as LeaseRow[];
      for (const l of bound) expect(listed.find((r) => r.mac === l.mac)?.ip).toBe(l.ip);
      const table = bng(['leases', '--api', daemon.api, '--state', 'bound']);
      expect(table.stdout).toContain('3 lease(s)');
      for (const l of bound) expect(table.stdout).toMatch(new RegExp(`^${l.ip.replace(/\./g, '\\.')}\\s+${l.mac}\\s+bound\\s+default`, 'm'));
      const text = bng(['stats', '--api', daemon.api]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/^slow path replies\s+.*ACK=\d+/m);
      expect(text.stdout).toMatch(new RegExp(`^fast path \\(prog ${s0.fastPath!.programId}\\)`, 'm'));

      // RENEWING at T1: answered by XDP, and the kernel's ACK events extend the stored leases
      await waitFor(
        'every client renewed by the kernel, its stored lease extended',
        async () => {
          const rows = await daemon.leases();
          return clients.every((c, i) => {
            const now = leaseOf(rows, c);
            const renewed = c.events().some((e) => e.reason === 'renew' && e.ip === bound[i]!.ip);
            return renewed && now !== undefined && now.ip === bound[i]!.ip && now.expiresAtMs > bound[i]!.expiresAtMs + 5_000;
          });
        },
        (LEASE_S / 2 + 30) * 1000,
        500,
      );

      const s1 = await daemon.stats();
      const m1 = await daemon.metrics();
      expect(Number(s1.fastPath!.counters.tx_ack)).toBeGreaterThanOrEqual(txAck0 + 3);
      expect(m1.get('bng_dhcp_replies_total', { path: 'fast', type: 'ACK' })).toBeGreaterThanOrEqual(3);
      // the same kernel counter in both views (read a moment apart: a late retransmission may land between)
      expect(m1.get('bng_fastpath_packets_total', { reason: 'tx_ack' })).toBeGreaterThanOrEqual(Number(s1.fastPath!.counters.tx_ack));
      expect(s1.fastPath!.sync.extended).toBeGreaterThanOrEqual(extended0 + 3);
      expect(Number(s1.fastPath!.counters.tx_nak)).toBe(0);
      expect(s1.outcomes.NAK).toBe(0);
      // no renewal reached userspace: the slow path sent none of them another ACK
      capture.drain();
      expect(clients.map((c) => capture.sent(dhcp4.MessageType.DHCPACK, c.port.mac).length)).toEqual(slowAcks);
      expect(m1.get('bng_dhcp_replies_total', { path: 'slow', type: 'ACK' })).toBe(m0.get('bng_dhcp_replies_total', { path: 'slow', type: 'ACK' }));
      // and nobody's address changed
      for (const [i, c] of clients.entries()) expect(addressesOf(lab, c.port.ns, c.port.ifname)).toContain(bound[i]!.ip);

      // readiness: the program is gone, so the daemon is not ready (but alive)
      lab.ip(undefined, 'link', 'set', 'dev', seg.serverIf, 'xdp', 'off');
      const notReady = await daemon.get<HealthBody>('/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body.ok).toBe(false);
      expect(notReady.body.checks.fastPath?.ok).toBe(false);
      expect(notReady.body.checks.fastPath?.detail).toMatch(/no XDP program/);
      expect((await daemon.get('/healthz')).status).toBe(200);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await diag()}`);
    }
    expect(await daemon.stop()).toBe(0);
  }, 120_000);
});

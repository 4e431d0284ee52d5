// `bng run` end to end with scripted clients on an AF_PACKET socket (both veth ends stay in this
// namespace): a DECLINE takes the address out of service for the quarantine, so the next client
// is offered another one; a pool of three addresses serves three clients, leaves the fourth
// without an OFFER (counted as POOL_EXHAUSTED), and serves again after a RELEASE.
import { afterAll, describe, expect, it } from 'vitest';
import { dhcp4 } from '@bng/protocols';
import { waitFor } from '@bng/testkit';
import { Daemon, ScriptedClient, ScriptedPort, Testbed, macOf, type HealthBody } from './daemon-helpers.js';

const beds: Testbed[] = [];
afterAll(() => {
  for (const tb of beds) tb.destroy();
});

interface Rig {
  tb: Testbed;
  daemon: Daemon;
  port: ScriptedPort;
  serverMac: string;
  client(n: number): ScriptedClient;
}

/** A veth pair in this namespace: the daemon on one end, scripted clients on the other. */
async function rig(tag: string, net: string, range: [number, number], extra: string[] = []): Promise<Rig> {
  const tb = new Testbed(tag);
  beds.push(tb);
  const { lab } = tb;
  const [serverIf, clientIf] = lab.veth('s', undefined, 'c', undefined);
  lab.ip(undefined, 'addr', 'add', `${net}.1/24`, 'dev', serverIf);
  lab.ip(undefined, 'link', 'set', serverIf, 'up');
  lab.ip(undefined, 'link', 'set', clientIf, 'up');
  // the fast path answers with XDP_TX, which the peer only receives with a program of its own
  lab.xdpPass(undefined, clientIf);
  const port = new ScriptedPort(clientIf);
  tb.onDestroy(() => port.close());
  const daemon = await Daemon.start(tb, {
    ifname: serverIf,
    stateDir: `${lab.dir}/state`,
    pinDir: tb.pinDir(),
    args: ['--pool-network', `${net}.0/24`, '--pool-gateway', `${net}.1`, '--pool-range', `${net}.${range[0]}-${net}.${range[1]}`, '--pool-lease-time', '30', '--no-relay', ...extra],
  });
  const idByte = (parseInt(lab.id.slice(-3), 36) & 0xff).toString(16).padStart(2, '0');
  return {
    tb,
    daemon,
    port,
    serverMac: macOf(lab, undefined, serverIf),
    client: (n: number) => new ScriptedClient(port, `02:5e:${idByte}:00:00:${n.toString(16).padStart(2, '0')}`),
  };
}

describe('bng run: DECLINE quarantine and pool exhaustion', () => {
  it('a declined address is not offered to the next client during the quarantine', async () => {
    const net = '10.201.21';
    const r = await rig('ddq', net, [100, 102]);
    try {
      const a = r.client(1);
      const first = await a.dora();
      expect(first.ip).toBe(`${net}.100`);
      expect(first.serverId).toBe(`${net}.1`);

      a.decline(first.ip, first.serverId);
      await waitFor('the DECLINE counted', async () => (await r.daemon.stats()).outcomes.DECLINED >= 1, 10_000);
      const rec = (await r.daemon.leases()).find((l) => l.ip === first.ip);
      expect(rec?.state).toBe('declined');
      // quarantined for an hour by default (dhcp.declineQuarantineSeconds)
      expect(rec!.expiresInS).toBeGreaterThan(3000);
      const m = await r.daemon.metrics();
      expect(m.get('bng_dhcp_pool_addresses', { pool: 'default', state: 'declined' })).toBe(1);
      // the binding left the kernel with it
      expect((await r.daemon.subscribers()).some((s) => s.ip === first.ip)).toBe(false);

      // the next clients get the other addresses, never the declined one
      const b = r.client(2);
      const offerB = await b.discover();
      expect(offerB?.yiaddr).toBe(`${net}.101`);
      const ackB = await b.request(offerB!);
      expect(dhcp4.messageType(ackB!)).toBe(dhcp4.MessageType.DHCPACK);
      const c = r.client(3);
      expect((await c.dora()).ip).toBe(`${net}.102`);
      // the decliner itself is not handed its declined address back either: the pool is spent
      const again = await a.discover(2_000);
      expect(again).toBeUndefined();
      expect((await r.daemon.stats()).outcomes.POOL_EXHAUSTED).toBeGreaterThanOrEqual(1);
      expect((await r.daemon.leases()).find((l) => l.ip === first.ip)?.state).toBe('declined');
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${r.daemon.proc.output().slice(-3000)}`);
    }
    expect(await r.daemon.stop()).toBe(0);
  }, 60_000);

  it('three addresses, four clients: the fourth gets no OFFER, the daemon stays up and serves after a RELEASE', async () => {
    const net = '10.201.22';
    const r = await rig('dex', net, [50, 52]);
    try {
      const leases: Array<{ ip: string; serverId: string }> = [];
      for (let n = 1; n <= 3; n++) leases.push(await r.client(n).dora());
      expect(leases.map((l) => l.ip).sort()).toEqual([`${net}.50`, `${net}.51`, `${net}.52`]);
      const m0 = await r.daemon.metrics();
      expect(m0.get('bng_dhcp_slowpath_outcomes_total', { reason: 'POOL_EXHAUSTED' })).toBe(0);
      expect(m0.get('bng_dhcp_pool_utilization_ratio', { pool: 'default' })).toBe(1);

      // the fourth: DISCOVERs go unanswered, each one counted
      const fourth = r.client(4);
      expect(await fourth.discover(2_000)).toBeUndefined();
      expect(await fourth.discover(2_000)).toBeUndefined();
      const m1 = await r.daemon.metrics();
      expect(m1.get('bng_dhcp_slowpath_outcomes_total', { reason: 'POOL_EXHAUSTED' })).toBeGreaterThanOrEqual(2);
      expect(r.daemon.running).toBe(true);
      expect((await r.daemon.get<HealthBody>('/healthz')).status).toBe(200);
      expect((await r.daemon.get<HealthBody>('/readyz')).status).toBe(200);

      // client 2 gives its address back; the fourth (and only it) gets that one
      const two = r.client(2);
      two.release(leases[1]!.ip, leases[1]!.serverId, r.serverMac);
      await waitFor('the RELEASE counted', async () => (await r.daemon.stats()).outcomes.RELEASED >= 1, 10_000);
      expect((await r.daemon.leases()).find((l) => l.ip === leases[1]!.ip)?.state).toBe('released');
      const got = await fourth.dora();
      expect(got.ip).toBe(leases[1]!.ip);
      const rows = await r.daemon.leases();
      expect(rows.filter((l) => l.state === 'bound').map((l) => l.mac).sort()).toEqual([r.client(1).mac, r.client(3).mac, fourth.mac].sort());
      // the pool is full again
      expect(await r.client(5).discover(2_000)).toBeUndefined();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${r.daemon.proc.output().slice(-3000)}`);
    }
    expect(await r.daemon.stop()).toBe(0);
  }, 60_000);
});

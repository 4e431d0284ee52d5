// `bng run` with RADIUS end to end: real DHCP clients in namespaces, FreeRADIUS from Debian on
// loopback deciding who gets what, radclient sending CoA and Disconnect to the daemon. Checked:
// the first DISCOVER of an unknown subscriber waits for the Access-Request; the address comes
// from Framed-IP-Address, Framed-Pool or the local pool; a reject gets nothing; accounting
// Start/Stop (with Class, kernel counters and the terminate cause) land in FreeRADIUS's detail
// file exactly once, across a daemon restart; Session-Timeout and Idle-Timeout end sessions; CoA
// changes the rate and the walled garden in the kernel; Disconnect ends the session.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startFreeRadius, waitFor, type DetailRecord, type FreeRadiusInstance } from '@bng/testkit';
import { Daemon, Testbed, addClientNs, buildSegment, sleep, startDhclient, startUdhcpc, type ClientPort, type RealClient, type Segment } from './daemon-helpers.js';

const NET = '10.201.9';
const NET2 = '10.201.10';
const MAC = { alice: '02:00:5e:10:00:01', bob: '02:00:5e:10:00:02', carol: '02:00:5e:10:00:03', dave: '02:00:5e:10:00:04', erin: '02:00:5e:10:00:05' };
const USERS = `
${MAC.alice} Cleartext-Password := "${MAC.alice}"
	Framed-IP-Address = ${NET}.77, Class = 0x616c696365, WISPr-Bandwidth-Max-Up = 20000000, WISPr-Bandwidth-Max-Down = 30000000
${MAC.bob} Cleartext-Password := "${MAC.bob}"
	Framed-Pool = "second"
${MAC.carol} Cleartext-Password := "${MAC.carol}", Auth-Type := Reject
	Reply-Message = "no service"
${MAC.dave} Cleartext-Password := "${MAC.dave}"
	Session-Timeout = 12
${MAC.erin} Cleartext-Password := "${MAC.erin}"
	Idle-Timeout = 8
`;

interface SessionRow {
  sessionId: string;
  userName: string;
  ip: string;
  mac: string;
  upKbps?: number;
  downKbps?: number;
  walled: boolean;
  accounting: string;
  usage?: { rxPackets: string; rxBytes: string; txPackets: string; txBytes: string };
}

const beds: Testbed[] = [];
let fr: FreeRadiusInstance | undefined;
afterAll(async () => {
  for (const tb of beds) tb.destroy();
  await fr?.dispose();
});

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  s.close();
  return port;
}

function radclient(port: number, kind: 'coa' | 'disconnect', attrs: string): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn('radclient', ['-x', '-t', '2', '-r', '2', `127.0.0.1:${port}`, kind, 'coa-secret'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', () => resolve(out));
    c.stdin.end(attrs);
  });
}

function client(tb: Testbed, seg: Segment, name: keyof typeof MAC): ClientPort {
  const port = addClientNs(tb.lab, seg, name);
  tb.lab.ip(port.ns, 'link', 'set', port.ifname, 'address', MAC[name]);
  return { ...port, mac: MAC[name] };
}

const records = (f: FreeRadiusInstance, pred: (r: DetailRecord) => boolean): DetailRecord[] => f.readDetail().filter(pred);
const ofSession = (id: string) => (r: DetailRecord) => r.attrs['Acct-Session-Id'] === id;
const status = (s: string) => (r: DetailRecord) => r.attrs['Acct-Status-Type'] === s;

describe('bng run with RADIUS: IPoE authorization, accounting, timeouts, CoA and Disconnect', () => {
  it('serves subscribers as FreeRADIUS decides and accounts for them with kernel counters', async () => {
    const tb = new Testbed('aaa');
    beds.push(tb);
    const { lab } = tb;
    fr = await startFreeRadius({ users: USERS, threads: 2 });
    const seg = buildSegment(lab, NET, { fastPath: true });
    // a second local address: reachable normally, not from the walled garden
    lab.ip(undefined, 'addr', 'add', `${NET}.2/24`, 'dev', seg.serverIf);
    const coaPort = await freeUdpPort();
    const cfgFile = join(lab.dir, 'bng.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        dhcp: {
          serverId: `${NET}.1`,
          pools: [
            { name: 'main', network: `${NET}.0/24`, gateway: `${NET}.1`, rangeStart: `${NET}.100`, rangeEnd: `${NET}.150`, leaseTime: 60 },
            { name: 'second', network: `${NET2}.0/24`, gateway: `${NET2}.1`, rangeStart: `${NET2}.100`, rangeEnd: `${NET2}.150`, leaseTime: 60, match: { interfaces: ['none'] } },
          ],
        },
        aaa: {
          enabled: true,
          nasIdentifier: 'olt-test',
          realm: 'ispa',
          realms: { ispa: { servers: [{ host: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: fr.secret }], timeoutMs: 1000, tries: 2 } },
          rejectHoldSeconds: 5,
          rateLimit: { up: { attribute: 'WISPr-Bandwidth-Max-Up', unit: 'bps' }, down: { attribute: 'WISPr-Bandwidth-Max-Down', unit: 'bps' } },
          walledGarden: { allow: [`${NET}.1/32`] },
          accounting: { defaultInterimIntervalSec: 0, retryDelayMs: 200 },
          coa: { enabled: true, listenAddress: '127.0.0.1', port: coaPort, clients: [{ address: '127.0.0.1', secret: 'coa-secret' }] },
        },
      }),
    );
    const pinDir = tb.pinDir();
    const spec = { ifname: seg.serverIf, stateDir: `${lab.dir}/state`, pinDir, args: ['--config', cfgFile, '--no-relay'] };
    let daemon = await Daemon.start(tb, spec);
    const sessions = async (): Promise<SessionRow[]> => (await daemon.get<SessionRow[]>('/api/sessions')).body;
    const diag = async (clients: RealClient[] = []): Promise<string> =>
      [
        ...clients.map((c) => `--- ${c.kind} ${c.port.mac}: ${JSON.stringify(c.events())}\n${c.proc.output().slice(-800)}`),
        `--- daemon\n${daemon.proc.output().slice(-4000)}`,
        `--- radius\n${fr!.log().slice(-1500)}`,
      ].join('\n');

    const alice = startDhclient(tb, client(tb, seg, 'alice'));
    const bob = startUdhcpc(tb, client(tb, seg, 'bob'), ['-R']);
    const carol = startUdhcpc(tb, client(tb, seg, 'carol'));
    const dave = startUdhcpc(tb, client(tb, seg, 'dave'));
    const erin = startUdhcpc(tb, client(tb, seg, 'erin'));
    const all = [alice, bob, carol, dave, erin];
    const boundIp = (c: RealClient) => c.events().find((e) => e.reason === 'bound')?.ip;

    // Framed-IP-Address (outside the dynamic range), Framed-Pool, and the local pool
    await waitFor('alice, bob, dave and erin to bind', () => [alice, bob, dave, erin].every((c) => boundIp(c)), 30_000, 200).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await diag(all)}`);
    });
    expect(boundIp(alice)).toBe(`${NET}.77`);
    expect(boundIp(bob)).toMatch(new RegExp(`^${NET2.replace(/\./g, '\\.')}\\.`));
    expect(boundIp(dave)).toMatch(new RegExp(`^${NET.replace(/\./g, '\\.')}\\.1[0-5]\\d$`));
    const startedAt = Date.now();
    let rows = await sessions();
    const sid = (mac: string) => rows.find((r) => r.mac === mac)!.sessionId;
    expect(rows.map((r) => r.mac).sort()).toEqual([MAC.alice, MAC.bob, MAC.dave, MAC.erin]);
    expect(rows.find((r) => r.mac === MAC.alice)).toMatchObject({ userName: MAC.alice, ip: `${NET}.77`, upKbps: 20_000, downKbps: 30_000, walled: false });
    const aliceId = sid(MAC.alice);
    const bobId = sid(MAC.bob);
    const daveId = sid(MAC.dave);
    const erinId = sid(MAC.erin);

    // the reject: carol never gets an address, and is not asked about on every retransmission
    expect(carol.events().some((e) => e.reason === 'bound')).toBe(false);
    expect((await daemon.leases()).some((l) => l.mac === MAC.carol)).toBe(false);
    const m = await daemon.metrics();
    expect(m.get('bng_aaa_decisions_total', { outcome: 'rejected' })).toBeGreaterThanOrEqual(1);
    expect(m.get('bng_aaa_decisions_total', { outcome: 'accepted' })).toBe(4);

    // Accounting-On once (cold start) and a Start per accepted session, with Class and address
    await waitFor('four Starts in the detail file', () => records(fr!, status('Start')).length >= 4, 10_000, 100);
    expect(records(fr!, status('Accounting-On'))).toHaveLength(1);
    const aliceStart = records(fr!, ofSession(aliceId));
    expect(aliceStart.map((r) => r.attrs['Acct-Status-Type'])).toEqual(['Start']);
    expect(aliceStart[0]!.attrs).toMatchObject({ 'User-Name': MAC.alice, 'Framed-IP-Address': `${NET}.77`, Class: '0x616c696365', 'NAS-Identifier': 'olt-test' });

    // traffic from alice is counted by the kernel, both ways
    lab.exec(alice.port.ns, 'ping', ['-c', '5', '-i', '0.2', '-W', '1', `${NET}.1`]);
    rows = await sessions();
    const u = rows.find((r) => r.sessionId === aliceId)!.usage!;
    expect(Number(u.rxPackets)).toBeGreaterThanOrEqual(5);
    expect(Number(u.txPackets)).toBeGreaterThanOrEqual(5);
    // octets are IP octets (header included, link layer not): 84 per echo request of ping's default size
    expect(Number(u.rxBytes)).toBeGreaterThanOrEqual(5 * 84);

    // a restart keeps every session: same ids, no second Start, no second Accounting-On
    expect(await daemon.stop()).toBe(0);
    daemon = await Daemon.start(tb, spec);
    rows = await sessions();
    expect(rows.map((r) => r.sessionId).sort()).toEqual([aliceId, bobId, daveId, erinId].sort());

    // CoA: a new down rate, then the walled garden (only the portal address answers), then out again
    const coaAck = await radclient(coaPort, 'coa', `Acct-Session-Id = "${aliceId}"\nWISPr-Bandwidth-Max-Down = 5000000\n`);
    expect(coaAck).toMatch(/CoA-ACK/);
    expect((await sessions()).find((r) => r.sessionId === aliceId)).toMatchObject({ downKbps: 5000, upKbps: 20_000 });
    expect(await radclient(coaPort, 'coa', `User-Name = "${MAC.alice}"\nFilter-Id = "walled-garden"\n`)).toMatch(/CoA-ACK/);
    const pings = (dst: string): boolean => {
      try {
        lab.exec(alice.port.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', dst]);
        return true;
      } catch {
        return false;
      }
    };
    expect(pings(`${NET}.1`)).toBe(true);
    expect(pings(`${NET}.2`)).toBe(false);
    expect(await radclient(coaPort, 'coa', `Acct-Session-Id = "${aliceId}"\nFilter-Id = "open"\n`)).toMatch(/CoA-ACK/);
    expect(pings(`${NET}.2`)).toBe(true);
    const before = (await sessions()).find((r) => r.sessionId === aliceId)!.usage!;

    // Disconnect by address: the session ends with Admin-Reset and its counters
    expect(await radclient(coaPort, 'disconnect', `Framed-IP-Address = ${NET}.77\n`)).toMatch(/Disconnect-ACK/);
    await waitFor('alice\'s Stop', () => records(fr!, (r) => ofSession(aliceId)(r) && status('Stop')(r))[0], 10_000, 100);
    const stop = records(fr!, (r) => ofSession(aliceId)(r) && status('Stop')(r))[0]!;
    expect(stop.attrs).toMatchObject({ 'Acct-Terminate-Cause': 'Admin-Reset', Class: '0x616c696365', 'Framed-IP-Address': `${NET}.77` });
    expect(Number(stop.attrs['Acct-Input-Packets'])).toBeGreaterThanOrEqual(Number(before.rxPackets));
    expect(Number(stop.attrs['Acct-Input-Octets'])).toBeGreaterThanOrEqual(Number(before.rxBytes));
    expect(Number(stop.attrs['Acct-Output-Octets'])).toBeGreaterThan(0);
    expect((await sessions()).some((r) => r.sessionId === aliceId)).toBe(false);

    // bob releases (udhcpc -R on SIGTERM): User-Request
    bob.proc.child.kill('SIGTERM');
    await waitFor('bob\'s Stop', () => records(fr!, (r) => ofSession(bobId)(r) && status('Stop')(r))[0], 10_000, 100);
    expect(records(fr!, (r) => ofSession(bobId)(r) && status('Stop')(r))[0]!.attrs['Acct-Terminate-Cause']).toBe('User-Request');

    // Session-Timeout = 12 s (dave) and Idle-Timeout = 8 s (erin sends nothing after binding)
    await waitFor('dave\'s and erin\'s Stops', () => records(fr!, status('Stop')).filter((r) => [daveId, erinId].includes(r.attrs['Acct-Session-Id'] ?? '')).length === 2, 30_000, 200).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await diag([dave, erin])}`);
    });
    const causeOf = (id: string) => records(fr!, (r) => ofSession(id)(r) && status('Stop')(r))[0]!.attrs['Acct-Terminate-Cause'];
    expect(causeOf(daveId)).toBe('Session-Timeout');
    expect(causeOf(erinId)).toBe('Idle-Timeout');
    const daveStop = records(fr!, (r) => ofSession(daveId)(r) && status('Stop')(r))[0]!;
    expect(Number(daveStop.attrs['Acct-Session-Time'])).toBeGreaterThanOrEqual(12);
    expect(Number(daveStop.attrs['Acct-Session-Time'])).toBeLessThanOrEqual(12 + 10);

    // every session's records exactly once: Start then Stop
    for (const id of [aliceId, bobId, daveId, erinId]) expect(records(fr!, ofSession(id)).map((r) => r.attrs['Acct-Status-Type'])).toEqual(['Start', 'Stop']);
    expect(records(fr!, status('Accounting-On'))).toHaveLength(1);
    expect(Date.now() - startedAt).toBeLessThan(90_000);
    await sleep(0);
    expect(await daemon.stop()).toBe(0);
  }, 150_000);
});

/**
 * End to end with real peers: subscribers authorized by the AAA service against FreeRADIUS,
 * accounted, then changed and ended by CoA / Disconnect requests sent with radclient.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreeRadius, type FreeRadiusInstance } from '@bng/testkit';
import {
  createAaaService, createAccountingManager, createCoaServer, dgramSocketFactory, silentLogger, systemClock,
  type AaaService, type AccountingManager, type CoaServer, type CoaSessionRef, type RateLimit, type SessionAuthorization,
} from '../src/aaa/index.js';

const USERS = `
aa:bb:cc:00:01:01 Cleartext-Password := "aa:bb:cc:00:01:01"
	Framed-IP-Address = 100.64.1.1, Filter-Id = "default", Acct-Interim-Interval = 600, WISPr-Bandwidth-Max-Up = 10000000, WISPr-Bandwidth-Max-Down = 50000000, Class = 0x73756231
aa:bb:cc:00:01:02 Cleartext-Password := "aa:bb:cc:00:01:02"
	Framed-Pool = "ispa-pool", Mikrotik-Rate-Limit = "2M/8M"
DEFAULT Auth-Type := Reject
	Reply-Message = "go away"
`;

interface Sub { ref: CoaSessionRef; auth: SessionAuthorization; rate?: RateLimit; walledGarden: boolean }

let fr: FreeRadiusInstance;
let dir: string;
let aaa: AaaService;
let acct: AccountingManager;
let coa: CoaServer;
const subs = new Map<string, Sub>();

beforeAll(async () => {
  fr = await startFreeRadius({ users: USERS, threads: 2 });
  dir = mkdtempSync(join(tmpdir(), 'bng-coa-'));
  const group = { name: 'ispa', servers: [{ host: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: fr.secret }], timeoutMs: 500, tries: 2 };
  aaa = createAaaService(
    {
      nasIdentifier: 'olt-7', userName: '{mac}', password: '{mac}', nasPortId: '{interface}:{svlan}.{cvlan}',
      realms: { ispa: group }, onReject: 'walled-garden', onTimeout: 'refuse',
      rateLimit: { up: { attribute: 'WISPr-Bandwidth-Max-Up', unit: 'bps' }, down: { attribute: 'WISPr-Bandwidth-Max-Down', unit: 'bps' }, combined: { attribute: 'Mikrotik-Rate-Limit' } },
    },
    { clock: systemClock, log: silentLogger, socketFactory: dgramSocketFactory },
  );
  acct = await createAccountingManager(
    { journalPath: join(dir, 'acct.journal'), nasIdentifier: 'olt-7' },
    { clock: systemClock, log: silentLogger, clientFor: (r) => aaa.clientFor(r), readCounters: () => ({ inputOctets: 1000n, outputOctets: 2000n, inputPackets: 10n, outputPackets: 20n }) },
  );
  coa = await createCoaServer(
    {
      listenAddress: '127.0.0.1', port: 0, clients: [{ address: '127.0.0.1', secret: 'coa-secret' }], nasIdentifier: 'olt-7',
      walledGardenFilterId: 'walled-garden', rateLimit: { up: { attribute: 'WISPr-Bandwidth-Max-Up', unit: 'bps' }, down: { attribute: 'WISPr-Bandwidth-Max-Down', unit: 'bps' } },
    },
    {
      clock: systemClock, log: silentLogger, socketFactory: dgramSocketFactory,
      sessions: {
        find: (q) => [...subs.values()].map((s) => s.ref).filter((r) => (q.acctSessionId === undefined || q.acctSessionId === r.sessionId) && (q.userName === undefined || q.userName === r.userName) && (q.framedIp === undefined || q.framedIp === r.framedIp)),
      },
      actions: {
        changeRate: async (s, rate) => { subs.get(s.sessionId)!.rate = rate; },
        setWalledGarden: async (s, on) => { subs.get(s.sessionId)!.walledGarden = on; },
        disconnect: async (s) => { await acct.stop(s.sessionId, 'AdminReset'); subs.delete(s.sessionId); },
      },
    },
  );
});
afterAll(async () => {
  coa?.close();
  await acct?.close();
  aaa?.close();
  await fr?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** radclient runs asynchronously: the CoA server answering it lives in this process. */
function radclient(kind: 'coa' | 'disconnect', attrs: string, secret = 'coa-secret'): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn('radclient', ['-x', '-t', '1', '-r', '1', `127.0.0.1:${coa.port}`, kind, secret], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('close', () => resolve(out));
    c.stdin.end(attrs);
  });
}

async function connect(mac: string): Promise<Sub> {
  const d = await aaa.authorize({ mac, realm: 'ispa', interfaceName: 'eth1', svlan: 200, cvlan: 101, circuitId: 'olt-7 pon 0/1/1:1' });
  if (d.kind !== 'accept') throw new Error(`not accepted: ${d.kind}`);
  const sessionId = acct.newSessionId();
  const ref = { sessionId, userName: d.authorization.userName, ...(d.authorization.framedIp ? { framedIp: d.authorization.framedIp } : {}) };
  await acct.start({ sessionId, realm: 'ispa', userName: ref.userName, mac, ...(ref.framedIp ? { framedIp: ref.framedIp } : {}), classes: d.authorization.classes, nasPortId: 'eth1:200.101' });
  const sub: Sub = { ref, auth: d.authorization, ...(d.authorization.rateLimit ? { rate: d.authorization.rateLimit } : {}), walledGarden: false };
  subs.set(sessionId, sub);
  return sub;
}

describe('AAA service against FreeRADIUS', () => {
  it('maps an Access-Accept to a typed session authorization', async () => {
    const s = await connect('AA-BB-CC-00-01-01');
    expect(s.auth).toMatchObject({ userName: 'aa:bb:cc:00:01:01', realm: 'ispa', framedIp: '100.64.1.1', filterIds: ['default'], interimIntervalSec: 600, rateLimit: { upKbps: 10_000, downKbps: 50_000 } });
    expect(Buffer.from(s.auth.classes[0]!).toString()).toBe('sub1');
    const d = await aaa.authorize({ mac: 'aa:bb:cc:00:01:02', realm: 'ispa' });
    expect(d).toMatchObject({ kind: 'accept', authorization: { framedPool: 'ispa-pool', rateLimit: { upKbps: 2000, downKbps: 8000 } } });
  });

  it('puts a rejected subscriber in the walled garden per config, and shares one request between repeated DISCOVERs', async () => {
    const id = { mac: 'aa:bb:cc:00:09:09', realm: 'ispa' };
    const [a, b] = await Promise.all([aaa.authorize(id), aaa.authorize(id)]);
    expect(a).toBe(b);
    expect(a).toMatchObject({ kind: 'walled-garden', reason: 'rejected', replyMessages: ['go away'] });
    await expect(aaa.authorize({ mac: 'aa:bb:cc:00:09:09', realm: 'nobody' })).rejects.toThrow(/no RADIUS server group/);
  });
});

describe('CoA and Disconnect from radclient', () => {
  it('changes the rate of a live session (CoA-ACK) without ending it', async () => {
    const s = await connect('aa:bb:cc:00:01:01');
    const out = await radclient('coa', `Acct-Session-Id = "${s.ref.sessionId}", WISPr-Bandwidth-Max-Down = 30000000, Event-Timestamp = ${Math.floor(Date.now() / 1000)}\n`);
    expect(out).toMatch(/Received CoA-ACK/);
    expect(subs.get(s.ref.sessionId)?.rate).toEqual({ downKbps: 30_000 });
    expect(acct.isActive(s.ref.sessionId)).toBe(true);
  });

  it('moves a subscriber into the walled garden by User-Name, with Message-Authenticator', async () => {
    const s = [...subs.values()].find((x) => x.ref.userName === 'aa:bb:cc:00:01:01')!;
    const out = await radclient('coa', `User-Name = "aa:bb:cc:00:01:01", Filter-Id = "walled-garden", Message-Authenticator = 0x00\n`);
    expect(out).toMatch(/Received CoA-ACK/);
    expect(out).toMatch(/Message-Authenticator/);
    expect(subs.get(s.ref.sessionId)?.walledGarden).toBe(true);
  });

  it('NAKs with the right Error-Cause', async () => {
    expect(await radclient('coa', `Acct-Session-Id = "no-such-session", Filter-Id = "x"\n`)).toMatch(/CoA-NAK[\s\S]*Error-Cause = Session-Context-Not-Found/);
    expect(await radclient('coa', `Filter-Id = "x"\n`)).toMatch(/Error-Cause = Missing-Attribute/);
    expect(await radclient('coa', `User-Name = "aa:bb:cc:00:01:01", Framed-MTU = 1400\n`)).toMatch(/Error-Cause = Unsupported-Attribute/);
    expect(await radclient('coa', `User-Name = "aa:bb:cc:00:01:01", NAS-Identifier = "other-nas", Filter-Id = "x"\n`)).toMatch(/Error-Cause = NAS-Identification-Mismatch/);
    expect(await radclient('disconnect', `User-Name = "nobody"\n`)).toMatch(/Disconnect-NAK[\s\S]*Session-Context-Not-Found/);
  });

  it('drops requests with a wrong secret or an Event-Timestamp outside the window', async () => {
    const before = coa.stats();
    expect(await radclient('coa', `User-Name = "aa:bb:cc:00:01:01", Filter-Id = "x"\n`, 'wrong-secret')).not.toMatch(/Received/);
    expect(await radclient('coa', `User-Name = "aa:bb:cc:00:01:01", Filter-Id = "x", Event-Timestamp = ${Math.floor(Date.now() / 1000) - 3600}\n`)).not.toMatch(/Received/);
    const after = coa.stats();
    expect(after.badAuthenticator).toBeGreaterThan(before.badAuthenticator);
    expect(after.replayed).toBeGreaterThan(before.replayed);
    expect([...subs.values()].find((x) => x.ref.userName === 'aa:bb:cc:00:01:01')?.walledGarden).toBe(true);
  });

  it('ends a session with Disconnect-Request by Framed-IP-Address, which sends the Accounting-Stop', async () => {
    const ids = [...subs.values()].filter((x) => x.ref.framedIp === '100.64.1.1').map((x) => x.ref.sessionId);
    expect(ids.length).toBeGreaterThan(0);
    const out = await radclient('disconnect', `Framed-IP-Address = 100.64.1.1\n`);
    expect(out).toMatch(/Received Disconnect-ACK/);
    for (const id of ids) expect(acct.isActive(id)).toBe(false);
    await acct.drain(10_000);
    const stops = fr.readDetail().filter((r) => ids.includes(r.attrs['Acct-Session-Id'] ?? '') && r.attrs['Acct-Status-Type'] === 'Stop');
    expect(stops.length).toBe(ids.length);
    expect(stops.every((r) => r.attrs['Acct-Terminate-Cause'] === 'Admin-Reset' && r.attrs['Class'] === '0x73756231')).toBe(true);
  });
});

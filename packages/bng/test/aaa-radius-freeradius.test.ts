/**
 * The RADIUS client against real FreeRADIUS 3 (Debian) on 127.0.0.1: Accept, Reject, wrong
 * secret, forged responses, failover to the secondary and Status-Server recovery.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { radius } from '@bng/protocols';
import { isBngError } from '@bng/api';
import { startFreeRadius, type FreeRadiusInstance } from '@bng/testkit';
import { createRadiusClient, dgramSocketFactory, silentLogger, systemClock } from '../src/aaa/index.js';

const { RadiusCode, encodeAttribute, findAttribute, findAllAttributes } = radius;
const dict = radius.createDictionary();

const USERS = `
aa:bb:cc:00:00:01 Cleartext-Password := "aa:bb:cc:00:00:01"
	Framed-IP-Address = 100.64.0.10, Session-Timeout = 3600, Idle-Timeout = 600, Filter-Id = "gold", Class = 0x636c6173732d31, Acct-Interim-Interval = 60, WISPr-Bandwidth-Max-Up = 10000000, WISPr-Bandwidth-Max-Down = 50000000
chap-user Cleartext-Password := "chap-secret"
	Framed-Pool = "ispa-cgnat"
DEFAULT Auth-Type := Reject
	Reply-Message = "unknown subscriber"
`;

const pap = (user: string, pw: string) => ({
  kind: 'auth' as const,
  code: RadiusCode.AccessRequest,
  attributes: [encodeAttribute(dict, 'User-Name', user), { ...encodeAttribute(dict, 'User-Password', pw), hide: 'user-password' as const }, encodeAttribute(dict, 'NAS-Identifier', 'olt-test')],
});

let a: FreeRadiusInstance;
let b: FreeRadiusInstance;
beforeAll(async () => {
  [a, b] = await Promise.all([startFreeRadius({ users: USERS, threads: 2 }), startFreeRadius({ users: USERS, threads: 2, secret: 'second-secret' })]);
});
afterAll(async () => {
  await Promise.all([a?.dispose(), b?.dispose()]);
});

function client(servers: Array<{ host: string; authPort: number; acctPort: number; secret: string }>, extra: object = {}) {
  return createRadiusClient({ name: 'ispa', servers, timeoutMs: 300, tries: 2, statusIntervalMs: 300, ...extra }, { clock: systemClock, log: silentLogger, socketFactory: dgramSocketFactory, dictionary: dict });
}
const srv = (f: FreeRadiusInstance, secret = f.secret) => ({ host: '127.0.0.1', authPort: f.authPort, acctPort: f.acctPort, secret });

describe('radius client against FreeRADIUS', () => {
  it('gets an Access-Accept with its attributes (PAP) and verifies its Message-Authenticator', async () => {
    const c = client([srv(a)]);
    const r = await c.request(pap('aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:01'));
    expect(r.packet.code).toBe(RadiusCode.AccessAccept);
    expect(r.packet.messageAuthenticatorOffset).toBeDefined();
    expect(findAttribute(r.attributes, 'Framed-IP-Address')?.value).toBe('100.64.0.10');
    expect(findAttribute(r.attributes, 'WISPr-Bandwidth-Max-Down')?.value).toBe(50_000_000);
    expect(Buffer.from(findAttribute(r.attributes, 'Class')!.value as Uint8Array).toString()).toBe('class-1');
    c.close();
  });

  it('authenticates with CHAP (ready for PPPoE)', async () => {
    const c = client([srv(a)]);
    const challenge = Buffer.from('0123456789abcdef');
    const r = await c.request({
      kind: 'auth', code: RadiusCode.AccessRequest,
      attributes: [encodeAttribute(dict, 'User-Name', 'chap-user'), encodeAttribute(dict, 'CHAP-Password', radius.chapPassword(5, Buffer.from('chap-secret'), challenge)), encodeAttribute(dict, 'CHAP-Challenge', challenge)],
    });
    expect(r.packet.code).toBe(RadiusCode.AccessAccept);
    expect(findAttribute(r.attributes, 'Framed-Pool')?.value).toBe('ispa-cgnat');
    c.close();
  });

  it('gets an Access-Reject with its Reply-Message', async () => {
    const c = client([srv(a)]);
    const r = await c.request(pap('aa:bb:cc:99:99:99', 'x'));
    expect(r.packet.code).toBe(RadiusCode.AccessReject);
    expect(findAllAttributes(r.attributes, 'Reply-Message').map((x) => x.value)).toEqual(['unknown subscriber']);
    c.close();
  });

  it('treats a wrong shared secret as no answer (never as an Accept)', async () => {
    const c = client([srv(a, 'not-the-secret')]);
    const e = await c.request(pap('aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:01')).catch((x: unknown) => x);
    expect(isBngError(e, 'BNG_ERR_RADIUS_TIMEOUT')).toBe(true);
    const s = c.stats();
    // FreeRADIUS drops the request (bad Message-Authenticator) or answers with a signature we cannot verify.
    expect(s.responses).toBe(0);
    c.close();
  });

  it('drops forged Accepts injected ahead of the real Reject', async () => {
    // A man in the middle on loopback: forwards to FreeRADIUS, but first answers with forged
    // Access-Accepts (one with a wrong authenticator, one correctly keyed but without
    // Message-Authenticator, which is what a Blast-RADIUS collision produces).
    const mitm: Socket = createSocket('udp4');
    await new Promise<void>((r) => mitm.bind(0, '127.0.0.1', () => r()));
    const upstream: Socket = createSocket('udp4');
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
    let clientAddr = { address: '', port: 0 };
    mitm.on('message', (m, rinfo) => {
      clientAddr = rinfo;
      const req = radius.decodePacket(m);
      for (const [secret, ma] of [[Buffer.from('guess'), true], [Buffer.from(a.secret), false]] as const) {
        const forged = radius.encodeResponse({ code: RadiusCode.AccessAccept, identifier: req.identifier, attributes: [encodeAttribute(dict, 'Framed-IP-Address', '6.6.6.6')], secret, requestAuthenticator: req.authenticator, messageAuthenticator: ma });
        mitm.send(forged, rinfo.port, rinfo.address);
      }
      upstream.send(m, a.authPort, '127.0.0.1');
    });
    upstream.on('message', (m) => mitm.send(m, clientAddr.port, clientAddr.address));
    const c = client([{ host: '127.0.0.1', authPort: mitm.address().port, acctPort: 9, secret: a.secret }], { timeoutMs: 2000 });
    const r = await c.request(pap('aa:bb:cc:99:99:98', 'x'));
    expect(r.packet.code).toBe(RadiusCode.AccessReject);
    expect(c.stats()).toMatchObject({ badAuthenticator: 1, missingMessageAuthenticator: 1 });
    c.close();
    mitm.close();
    upstream.close();
  });

  it('fails over to the secondary, stays there while the primary is dead, and returns when Status-Server sees it back', async () => {
    const c = client([srv(a), srv(b)]);
    expect((await c.request(pap('aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:01'))).server).toBe(`127.0.0.1:${a.authPort}`);
    await a.stop();
    const t0 = Date.now();
    const r1 = await c.request(pap('aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:01'));
    expect(r1.server).toBe(`127.0.0.1:${b.authPort}`);
    expect(r1.packet.code).toBe(RadiusCode.AccessAccept);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550); // two tries of 300 ms on the primary
    const t1 = Date.now();
    const r2 = await c.request(pap('aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:01'));
    expect(r2.server).toBe(`127.0.0.1:${b.authPort}`);
    expect(Date.now() - t1).toBeLessThan(500); // primary known dead: straight to the secondary (a retry alone takes 600 ms)
    expect(c.servers().find((s) => s.endpoint === `127.0.0.1:${a.authPort}`)?.alive).toBe(false);
    await a.start();
    const deadline = Date.now() + 10_000;
    while (!c.servers().find((s) => s.endpoint === `127.0.0.1:${a.authPort}`)?.alive && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(c.stats().statusProbes).toBeGreaterThan(0);
    expect((await c.request(pap('aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:01'))).server).toBe(`127.0.0.1:${a.authPort}`);
    c.close();
  });
});

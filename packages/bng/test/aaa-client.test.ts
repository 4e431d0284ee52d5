import { describe, expect, it } from 'vitest';
import { radius } from '@bng/protocols';
import { isBngError } from '@bng/api';
import { createRadiusClient, silentLogger } from '../src/aaa/index.js';
import { fakeNet, flush, manualClock } from './aaa-helpers.js';

const { RadiusCode, encodeAttribute, decodePacket, encodeResponse, verifyRequest, unhidePassword, findAttribute, decodeAttributes } = radius;
const dict = radius.createDictionary();
const s1 = Buffer.from('secret-one');
const s2 = Buffer.from('secret-two');

function accessRequest() {
  return {
    kind: 'auth' as const,
    code: RadiusCode.AccessRequest,
    attributes: [encodeAttribute(dict, 'User-Name', 'aa:bb:cc:00:00:01'), { ...encodeAttribute(dict, 'User-Password', 'pw'), hide: 'user-password' as const }],
  };
}

function setup(extra: Partial<Parameters<typeof createRadiusClient>[0]> = {}) {
  const clock = manualClock();
  const net = fakeNet();
  const client = createRadiusClient(
    { name: 'ispa', servers: [{ host: '127.0.0.2', secret: 'secret-one' }, { host: '127.0.0.3', secret: 'secret-two' }], timeoutMs: 1000, tries: 3, statusIntervalMs: 5000, ...extra },
    { clock, log: silentLogger, socketFactory: net.factory, dictionary: dict },
  );
  return { clock, net, client };
}

function answer(net: ReturnType<typeof fakeNet>, i: number, code: number, secret: Uint8Array, attrs: radius.RawAttribute[] = [], ma = true) {
  const out = net.sent[i]!;
  const req = decodePacket(out.data);
  const [host, port] = out.to.split(':');
  const resp = encodeResponse({ code, identifier: req.identifier, attributes: attrs, secret, requestAuthenticator: req.authenticator, messageAuthenticator: ma });
  net.deliver(out.from, resp, { address: host!, port: Number(port) });
}

describe('radius client (sans network)', () => {
  it('retransmits with the same Identifier and authenticator, then fails over re-signed with the next secret', async () => {
    const { clock, net, client } = setup();
    const p = client.request(accessRequest());
    await flush();
    await clock.advance(1000);
    await clock.advance(1000);
    expect(net.sent.length).toBe(3);
    expect(new Set(net.sent.map((s) => Buffer.from(s.data).toString('hex'))).size).toBe(1); // byte-identical retransmissions
    await clock.advance(1000);
    expect(net.sent.length).toBe(4);
    const second = decodePacket(net.sent[3]!.data);
    expect(net.sent[3]!.to).toBe('127.0.0.3:1812');
    expect(verifyRequest(second, s2, true).ok).toBe(true);
    expect(verifyRequest(second, s1, true).ok).toBe(false);
    const pw = unhidePassword(findAttribute(decodeAttributes(second.attributes, dict), 'User-Password')!.raw, s2, second.authenticator);
    expect(Buffer.from(pw!).toString()).toBe('pw');
    answer(net, 3, RadiusCode.AccessAccept, s2, [encodeAttribute(dict, 'Framed-IP-Address', '100.64.0.9')]);
    const r = await p;
    expect(r.server).toBe('127.0.0.3:1812');
    expect(findAttribute(r.attributes, 'Framed-IP-Address')?.value).toBe('100.64.0.9');
    expect(client.stats()).toMatchObject({ retransmissions: 2, failovers: 1, serverDown: 1 });
    // The dead primary is skipped for the next request and probed with Status-Server.
    const p2 = client.request(accessRequest());
    await flush();
    expect(net.sent[4]!.to).toBe('127.0.0.3:1812');
    answer(net, 4, RadiusCode.AccessReject, s2);
    expect((await p2).packet.code).toBe(RadiusCode.AccessReject);
    await clock.advance(5000);
    const probe = net.sent[5]!;
    expect(decodePacket(probe.data).code).toBe(RadiusCode.StatusServer);
    expect(probe.to).toBe('127.0.0.2:1812');
    answer(net, 5, RadiusCode.AccessAccept, s1);
    await flush();
    expect(client.servers().find((s) => s.endpoint === '127.0.0.2:1812')?.alive).toBe(true);
    client.close();
  });

  it('drops forged, unsigned and malformed responses and keeps waiting for the real one', async () => {
    const { net, client } = setup();
    const p = client.request(accessRequest());
    await flush();
    answer(net, 0, RadiusCode.AccessAccept, Buffer.from('attacker')); // wrong secret
    answer(net, 0, RadiusCode.AccessAccept, s1, [], false); // Blast-RADIUS: no Message-Authenticator
    net.deliver(net.sent[0]!.from, new Uint8Array([2, 0, 0, 99]), { address: '127.0.0.2', port: 1812 });
    answer(net, 0, RadiusCode.AccountingResponse, s1); // wrong code for the request
    answer(net, 0, RadiusCode.AccessReject, s1);
    const r = await p;
    expect(r.packet.code).toBe(RadiusCode.AccessReject);
    expect(client.stats()).toMatchObject({ badAuthenticator: 1, missingMessageAuthenticator: 1, malformed: 1, unexpectedCode: 1, responses: 1 });
    client.close();
  });

  it('keeps more than 256 requests in flight to one server, each with a unique (port, Identifier)', async () => {
    const { net, client } = setup();
    const ps = Array.from({ length: 700 }, () => client.request(accessRequest()));
    await flush();
    expect(net.sent.length).toBe(700);
    expect(net.sockets()).toBe(3);
    const keys = new Set(net.sent.map((s) => `${s.from}/${decodePacket(s.data).identifier}`));
    expect(keys.size).toBe(700);
    for (let i = 0; i < 700; i++) answer(net, i, RadiusCode.AccessAccept, s1);
    const rs = await Promise.all(ps);
    expect(rs.every((r) => r.packet.code === RadiusCode.AccessAccept)).toBe(true);
    client.close();
  });

  it('fails with BNG_ERR_RADIUS_TIMEOUT when no server answers, and rebuilds attributes per attempt', async () => {
    const { clock, net, client } = setup({ tries: 1 });
    const seen: number[] = [];
    const p = client.request({ kind: 'acct', code: RadiusCode.AccountingRequest, attributes: (now) => { seen.push(now); return [encodeAttribute(dict, 'Acct-Session-Id', 'x')]; } });
    const caught = p.catch((e: unknown) => e);
    await clock.advance(2000);
    const e = await caught;
    expect(isBngError(e, 'BNG_ERR_RADIUS_TIMEOUT')).toBe(true);
    expect(seen.length).toBe(2);
    expect(net.sent.map((s) => s.to)).toEqual(['127.0.0.2:1813', '127.0.0.3:1813']);
    client.close();
  });

  it('shares one retransmission timer per clock millisecond, keeps each deadline, and ignores timers of finished requests', async () => {
    const { clock, net, client } = setup({ tries: 2 });
    const early = Array.from({ length: 100 }, () => client.request(accessRequest()));
    await flush();
    expect(net.sent.length).toBe(100);
    expect(clock.pending()).toBe(1); // one timer for the 100 sent in the same millisecond
    await clock.advance(400);
    const late = client.request(accessRequest());
    await flush();
    expect(clock.pending()).toBe(2);
    for (let i = 0; i < 50; i++) answer(net, i, RadiusCode.AccessAccept, s1); // half answered in time
    await clock.advance(600); // t = 1000: only the 50 unanswered early ones are resent
    expect(net.sent.length).toBe(151);
    expect(net.sent.slice(101).every((s, k) => Buffer.from(s.data).equals(Buffer.from(net.sent[50 + k]!.data)))).toBe(true);
    await clock.advance(400); // t = 1400: the late one is resent at its own deadline
    expect(net.sent.length).toBe(152);
    expect(Buffer.from(net.sent[151]!.data).equals(Buffer.from(net.sent[100]!.data))).toBe(true);
    for (let i = 50; i < 101; i++) answer(net, i, RadiusCode.AccessAccept, s1);
    expect((await Promise.all([...early, late])).every((r) => r.packet.code === RadiusCode.AccessAccept)).toBe(true);
    expect(client.stats()).toMatchObject({ retransmissions: 51, timeouts: 0, failovers: 0, responses: 101 });
    expect(clock.pending()).toBe(0); // a timer whose requests were all answered is cancelled
    await clock.advance(5000);
    expect(net.sent.length).toBe(152);
    client.request(accessRequest()).catch(() => undefined);
    await flush();
    client.close();
    expect(clock.pending()).toBe(0);
  });

  it('a late answer to a timed-out request does not finish the request that reuses its Identifier', async () => {
    const { clock, net, client } = setup({ tries: 1, servers: [{ host: '127.0.0.2', secret: 'secret-one' }] });
    // Fill all 256 Identifiers of the first socket, let them time out, then reuse them.
    const first = Array.from({ length: 256 }, () => client.request(accessRequest()).catch((e: unknown) => e));
    await flush();
    await clock.advance(1000);
    expect((await Promise.all(first)).every((e) => isBngError(e, 'BNG_ERR_RADIUS_TIMEOUT'))).toBe(true);
    const p = client.request(accessRequest());
    await flush();
    const reused = decodePacket(net.sent[256]!.data).identifier;
    const old = net.sent.findIndex((s) => decodePacket(s.data).identifier === reused);
    expect(old).toBeLessThan(256);
    answer(net, old, RadiusCode.AccessAccept, s1); // signed for the old authenticator: fails verification
    expect(client.stats().badAuthenticator).toBe(1);
    answer(net, 256, RadiusCode.AccessReject, s1);
    expect((await p).packet.code).toBe(RadiusCode.AccessReject);
    client.close();
  });

  it('refuses host names and empty secrets', () => {
    expect(() => createRadiusClient({ name: 'x', servers: [{ host: 'radius.example', secret: 'a' }] }, { clock: manualClock(), log: silentLogger, socketFactory: fakeNet().factory })).toThrow(/IP address/);
    expect(() => createRadiusClient({ name: 'x', servers: [{ host: '10.0.0.1', secret: '' }] }, { clock: manualClock(), log: silentLogger, socketFactory: fakeNet().factory })).toThrow(/secret/);
  });
});

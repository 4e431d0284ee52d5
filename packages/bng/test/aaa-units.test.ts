/** AAA service and CoA processor decisions without sockets (fake client, manual clock). */
import { describe, expect, it } from 'vitest';
import { radius } from '@bng/protocols';
import { BngError } from '@bng/api';
import { Registry } from 'prom-client';
import {
  addressSource, registerAaaMetrics, authorizationFromAccept, createAaaService, createCoaProcessor, expandTemplate, extractRateLimit, silentLogger,
  type CoaSessionRef, type RadiusClient, type RadiusRequest,
} from '../src/aaa/index.js';
import { fakeNet, manualClock } from './aaa-helpers.js';

const { encodeAttribute, decodeAttributes, RadiusCode, decodePacket, encodeRequest, verifyResponse } = radius;
const dict = radius.createDictionary();
const attrs = (pairs: Array<[string, radius.AttrValue]>) => decodeAttributes(pairs.map(([n, v]) => encodeAttribute(dict, n, v)), dict);

describe('AAA service mapping', () => {
  it('expands User-Name templates from MAC, Option 82 ids, VLANs and realm', () => {
    const id = { mac: 'AABB.CC00.0001', realm: 'ispa.example', circuitId: 'pon 0/1/2', remoteId: Uint8Array.from([1, 2, 0xff]), svlan: 200, cvlan: 7, interfaceName: 'eth1' };
    expect(expandTemplate('{mac}@{realm}', id)).toBe('aa:bb:cc:00:00:01@ispa.example');
    expect(expandTemplate('{MAC}|{mac-dash}|{mac-plain}', id)).toBe('AA:BB:CC:00:00:01|aa-bb-cc-00-00-01|aabbcc000001');
    expect(expandTemplate('{circuit-id}/{remote-id}@{realm}', id)).toBe('pon 0/1/2/0102ff@ispa.example');
    expect(expandTemplate('{interface}:{svlan}.{cvlan}', id)).toBe('eth1:200.7');
    expect(() => expandTemplate('{nope}', id)).toThrow(/placeholder/);
    expect(() => expandTemplate('{mac}', { ...id, mac: 'zz' })).toThrow(BngError);
  });

  it('types an Accept into the authorization, with rate limits from the configured mapping', () => {
    const a = authorizationFromAccept(attrs([
      ['Framed-IP-Address', '255.255.255.254'], ['Framed-Pool', 'p1'], ['Session-Timeout', 7200], ['Idle-Timeout', 300], ['Filter-Id', 'a'], ['Filter-Id', 'b'],
      ['Class', Uint8Array.from([1])], ['Class', Uint8Array.from([2])], ['Acct-Interim-Interval', 10], ['Mikrotik-Rate-Limit', '512k/4M 1M/8M'],
    ]), 'u', 'ispa', { combined: { attribute: 'Mikrotik-Rate-Limit' } });
    expect(a.framedIp).toBeUndefined(); // RFC 2865 §5.8: NAS assigns
    expect(a).toMatchObject({ framedPool: 'p1', sessionTimeoutSec: 7200, idleTimeoutSec: 300, filterIds: ['a', 'b'], interimIntervalSec: 60, rateLimit: { upKbps: 512, downKbps: 4000 } });
    expect(a.classes.map((c) => c[0])).toEqual([1, 2]);
    expect(extractRateLimit(attrs([['WISPr-Bandwidth-Max-Down', 3]]), { down: { attribute: 'WISPr-Bandwidth-Max-Down', unit: 'mbps' } })).toEqual({ downKbps: 3000 });
    expect(extractRateLimit(attrs([]), { down: { attribute: 'WISPr-Bandwidth-Max-Down', unit: 'mbps' } })).toBeUndefined();
  });

  it('builds the IPoE Access-Request and applies the timeout policy', async () => {
    const seen: RadiusRequest[] = [];
    let answer: 'timeout' | number = RadiusCode.AccessAccept;
    const fake: RadiusClient = {
      name: 'ispa', dictionary: dict, stats: () => ({}) as never, servers: () => [], close: () => undefined,
      request: async (r) => {
        seen.push(r);
        if (answer === 'timeout') throw new BngError('BNG_ERR_RADIUS_TIMEOUT', 'x');
        const packet = decodePacket(radius.encodePacket(answer, 1, new Uint8Array(16), []));
        return { packet, attributes: [], server: 'x', rttMs: 1 };
      },
    };
    const svc = createAaaService(
      { nasIdentifier: 'olt-1', nasIpAddress: '192.0.2.1', userName: '{mac}@{realm}', realms: { ispa: { name: 'ispa', servers: [{ host: '127.0.0.1', secret: 's' }] } }, defaultRealm: 'ispa', onTimeout: 'walled-garden' },
      { clock: manualClock(), log: silentLogger, socketFactory: fakeNet().factory, dictionary: dict, createClient: () => fake },
    );
    const d = await svc.authorize({ mac: 'aa:bb:cc:dd:ee:ff', realm: 'ispb', circuitId: 'c1', remoteId: 'r1', svlan: 10, cvlan: 20, interfaceName: 'eth1', acctSessionId: 'abc' });
    expect(d.kind).toBe('accept');
    const sent = decodeAttributes(seen[0]!.attributes as radius.RawAttribute[], dict);
    const get = (n: string) => radius.findAttribute(sent, n)?.value;
    expect(get('User-Name')).toBe('aa:bb:cc:dd:ee:ff@ispb');
    expect(get('NAS-Identifier')).toBe('olt-1');
    expect(get('NAS-Port-Id')).toBe('eth1:10.20');
    expect(get('Calling-Station-Id')).toBe('aa:bb:cc:dd:ee:ff');
    expect(get('ADSL-Agent-Circuit-Id')).toBe('c1');
    expect(get('ADSL-Agent-Remote-Id')).toBe('r1');
    expect(get('Acct-Session-Id')).toBe('abc');
    expect(get('NAS-Port-Type')).toBe(15);
    answer = 'timeout';
    expect(await svc.authorize({ mac: 'aa:bb:cc:dd:ee:01', realm: 'ispa' })).toMatchObject({ kind: 'walled-garden', reason: 'timeout' });
    answer = RadiusCode.AccessChallenge;
    expect(await svc.authorize({ mac: 'aa:bb:cc:dd:ee:01', realm: 'ispa' })).toMatchObject({ kind: 'refuse', reason: 'challenge' });
    // PPPoE CHAP: CHAP-Password and CHAP-Challenge instead of User-Password.
    answer = RadiusCode.AccessAccept;
    await svc.authorize({ mac: 'aa:bb:cc:dd:ee:02', realm: 'ispa', chap: { username: 'joe@ispa', id: 9, challenge: new Uint8Array(16).fill(3), response: new Uint8Array(16).fill(4) } });
    const chap = decodeAttributes(seen[seen.length - 1]!.attributes as radius.RawAttribute[], dict);
    expect(radius.findAttribute(chap, 'User-Name')?.value).toBe('joe@ispa');
    expect((radius.findAttribute(chap, 'CHAP-Password')?.value as Uint8Array)[0]).toBe(9);
    expect(radius.findAttribute(chap, 'User-Password')).toBeUndefined();
  });

  it('refuses bad templates and unknown rate attributes at construction', () => {
    const deps = { clock: manualClock(), log: silentLogger, socketFactory: fakeNet().factory };
    expect(() => createAaaService({ nasIdentifier: 'x', userName: '{bogus}', realms: {} }, deps)).toThrow(/placeholder/);
    expect(() => createAaaService({ nasIdentifier: 'x', realms: {}, rateLimit: { up: { attribute: 'Nope', unit: 'bps' } } }, deps)).toThrow(/dictionary/);
  });
});

describe('CoA processor', () => {
  const secret = Buffer.from('k');
  const from = { address: '10.0.0.9', port: 5000 };
  function setup(extra = {}) {
    const clock = manualClock(1_700_000_000_000);
    const calls: string[] = [];
    const ref: CoaSessionRef = { sessionId: 's1', userName: 'u1', framedIp: '100.64.0.1' };
    const proc = createCoaProcessor({ clients: [{ address: '10.0.0.9', secret: 'k' }], rateLimit: { down: { attribute: 'WISPr-Bandwidth-Max-Down', unit: 'bps' } }, walledGardenFilterId: 'wg', ...extra }, {
      clock, log: silentLogger, dictionary: dict,
      sessions: { find: (q) => (q.userName === undefined || q.userName === 'u1') && (q.acctSessionId === undefined || q.acctSessionId === 's1') ? [ref] : [] },
      actions: {
        changeRate: async (_s, r) => { calls.push(`rate ${r.downKbps}`); },
        setWalledGarden: async (_s, on) => { calls.push(`wg ${on}`); },
        disconnect: async () => { calls.push('disconnect'); throw new Error('busy'); },
      },
    });
    return { clock, calls, proc };
  }
  const req = (code: number, pairs: Array<[string, radius.AttrValue]>, ma = false, id = 1) =>
    encodeRequest({ code, identifier: id, secret, messageAuthenticator: ma, attributes: pairs.map(([n, v]) => encodeAttribute(dict, n, v)) });
  const cause = (b: Uint8Array | undefined) => radius.findAttribute(decodeAttributes(decodePacket(b!).attributes, dict), 'Error-Cause')?.value;

  it('answers a retransmission from its cache without acting twice, echoing Proxy-State', async () => {
    const { calls, proc } = setup();
    const r = req(RadiusCode.CoaRequest, [['User-Name', 'u1'], ['WISPr-Bandwidth-Max-Down', 1_000_000], ['Proxy-State', Uint8Array.from([7, 7])]], true);
    const a1 = await proc.handle(r.bytes, from);
    const a2 = await proc.handle(r.bytes, from);
    expect(Buffer.from(a1!)).toEqual(Buffer.from(a2!));
    expect(calls).toEqual(['rate 1000']);
    const p = decodePacket(a1!);
    expect(p.code).toBe(RadiusCode.CoaAck);
    expect(verifyResponse(p, r.authenticator, secret, true).ok).toBe(true);
    expect(p.attributes.find((a) => a.type === 33)?.value).toEqual(Uint8Array.from([7, 7]));
    expect(proc.stats().duplicates).toBe(1);
  });

  it('NAKs: 504 when the disconnect fails, 405 for Authorize-Only, 402 when Event-Timestamp is required', async () => {
    const { proc } = setup();
    expect(cause(await proc.handle(req(RadiusCode.DisconnectRequest, [['Acct-Session-Id', 's1']]).bytes, from))).toBe(504);
    expect(cause(await proc.handle(req(RadiusCode.CoaRequest, [['User-Name', 'u1'], ['Service-Type', 'Authorize-Only']], false, 2).bytes, from))).toBe(405);
    expect(cause(await proc.handle(req(RadiusCode.DisconnectRequest, [['User-Name', 'u1'], ['Filter-Id', 'x']], false, 3).bytes, from))).toBe(401);
    const strict = setup({ requireEventTimestamp: true });
    expect(cause(await strict.proc.handle(req(RadiusCode.CoaRequest, [['User-Name', 'u1'], ['Filter-Id', 'wg']]).bytes, from))).toBe(402);
  });

  it('silently drops strangers, garbage, wrong codes and requests without a required Message-Authenticator', async () => {
    const { proc } = setup();
    expect(await proc.handle(req(RadiusCode.CoaRequest, [['User-Name', 'u1']]).bytes, { address: '10.0.0.66', port: 1 })).toBeUndefined();
    expect(await proc.handle(Uint8Array.from([43, 1, 0, 5]), from)).toBeUndefined();
    expect(await proc.handle(req(RadiusCode.AccountingRequest, [['User-Name', 'u1']]).bytes, from)).toBeUndefined();
    const strict = setup({ clients: [{ address: '10.0.0.9', secret: 'k', requireMessageAuthenticator: true }] });
    expect(await strict.proc.handle(req(RadiusCode.CoaRequest, [['User-Name', 'u1'], ['Filter-Id', 'wg']]).bytes, from)).toBeUndefined();
    expect(await strict.proc.handle(req(RadiusCode.CoaRequest, [['User-Name', 'u1'], ['Filter-Id', 'wg']], true, 9).bytes, from)).toBeDefined();
    expect(proc.stats()).toMatchObject({ unknownClient: 1, malformed: 1, badCode: 1 });
  });
});

describe('address source and metrics', () => {
  it('takes Framed-IP-Address, then Framed-Pool, then the local pool', () => {
    const base = authorizationFromAccept([], 'u', 'r');
    expect(addressSource({ ...base, framedIp: '100.64.0.1', framedPool: 'p' })).toEqual({ kind: 'fixed', ip: '100.64.0.1' });
    expect(addressSource({ ...base, framedPool: 'p' })).toEqual({ kind: 'pool', pool: 'p' });
    expect(addressSource(base)).toEqual({ kind: 'local' });
  });

  it('exposes client and CoA counters to Prometheus at scrape time', async () => {
    const registry = new Registry();
    const client = { name: 'ispa', stats: () => ({ requests: 3, timeouts: 1 }), servers: () => [{ endpoint: '10.0.0.1:1812', kind: 'auth', alive: false, lastResponseMs: 0 }] } as unknown as RadiusClient;
    registerAaaMetrics(registry, { clients: () => [client], coa: { port: 3799, stats: () => ({ received: 2, acks: 1 }) as never, close: () => undefined } });
    const text = await registry.metrics();
    expect(text).toContain('bng_radius_client_events_total{realm="ispa",event="requests"} 3');
    expect(text).toContain('bng_radius_server_up{realm="ispa",endpoint="10.0.0.1:1812",kind="auth"} 0');
    expect(text).toContain('bng_coa_events_total{event="acks"} 1');
  });
});

// The DHCPv4 server with an admission (RADIUS on): a new binding needs a grant, the address
// comes from Framed-IP-Address, else Framed-Pool, else the pools the client classifies into; the
// session rides in the lease record; renewals keep it; a revoked binding is not renewed.
import { describe, expect, it } from 'vitest';
import { dhcp4, ipToU32 } from '@bng/protocols';
import { createMemoryLeaseStore, LeaseState } from '../src/dhcp/index.js';
import { createDhcp4Server, type Dhcp4Grant } from '../src/dhcp/server.js';
import { silentDhcp4Logger } from '../src/dhcp/types.js';
import { MessageType, baseConfig, clientMessage, dora, dropped, meta, replyType, requested, sent, server, type Harness } from './dhcp-helpers.js';

const KEY = 'hw:1:02:00:00:00:00:01';

function aaaHarness(): Harness & { grants: Map<string, Dhcp4Grant> } {
  const now = { ms: 1_000_000 };
  const grants = new Map<string, Dhcp4Grant>();
  const leases = createMemoryLeaseStore();
  const s = createDhcp4Server(baseConfig, { leases, clock: { now: () => now.ms }, log: silentDhcp4Logger, admission: { grantFor: (k) => grants.get(k) } });
  return { server: s, leases, now, grants };
}

const session = (id = 'a1b2c3d4e5f60718') => ({ id, userName: 'alice@ispa', realm: 'ispa', accounting: true, upKbps: 10_000 });

describe('DHCPv4 server with RADIUS admission', () => {
  it('stays silent to a client without a grant (the service holds its DISCOVER for RADIUS)', () => {
    const h = aaaHarness();
    expect(dropped(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms))).toBe('NOT_AUTHORIZED');
    expect(h.leases.size).toBe(0);
  });

  it('binds the Framed-IP-Address even outside the dynamic range, with the session in the lease record', () => {
    const h = aaaHarness();
    h.grants.set(KEY, { ip: ipToU32('10.0.1.77'), session: session() });
    const ack = dora(h);
    expect(ack.message.yiaddr).toBe('10.0.1.77');
    const rec = h.leases.get('10.0.1.77')!;
    expect(rec.state).toBe(LeaseState.BOUND);
    expect(rec.session).toMatchObject({ id: 'a1b2c3d4e5f60718', userName: 'alice@ispa', framedIp: '10.0.1.77', startedAtMs: h.now.ms, upKbps: 10_000 });
    // the grant is consumed by the service; the renewal keeps the session of the record
    h.grants.clear();
    h.now.ms += 600_000;
    const renew = sent(h.server.handle(clientMessage(MessageType.DHCPREQUEST, { ciaddr: '10.0.1.77' }), meta({ dstIp: '10.0.1.1' }), h.now.ms));
    expect(replyType(renew)).toBe(MessageType.DHCPACK);
    expect(h.leases.get('10.0.1.77')!.session).toEqual(rec.session);
    // a DISCOVER of a client with a live session is answered without a new grant
    expect(replyType(sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms)))).toBe(MessageType.DHCPOFFER);
  });

  it('refuses a Framed-IP-Address that is another client\'s, the gateway, or on none of our networks', () => {
    const h = aaaHarness();
    h.grants.set('hw:1:02:00:00:00:00:02', { session: session('1') });
    const other = dora(h, { mac: '02:00:00:00:00:02' });
    for (const ip of [other.message.yiaddr, '10.0.1.1', '10.0.1.255', '192.0.2.9']) {
      h.grants.set(KEY, { ip: ipToU32(ip), session: session('2') });
      const why = dropped(h.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h.now.ms));
      expect([`FRAMED_IP_UNAVAILABLE`, 'NO_POOL']).toContain(why);
    }
  });

  it('takes the address from the pool Framed-Pool names, whatever the classification', () => {
    const h = aaaHarness();
    h.grants.set(KEY, { pool: 'relayed', session: session() });
    const ack = dora(h);
    expect(ack.message.yiaddr).toMatch(/^10\.9\.0\./);
    expect(h.leases.get(ack.message.yiaddr)!.session).toMatchObject({ framedPool: 'relayed' });
    const h2 = aaaHarness();
    h2.grants.set(KEY, { pool: 'no-such-pool', session: session('3') });
    expect(dropped(h2.server.handle(clientMessage(MessageType.DHCPDISCOVER), meta(), h2.now.ms))).toBe('NO_POOL');
  });

  it('NAKs a REQUEST for an address RADIUS did not assign, and a new binding without a grant', () => {
    const h = aaaHarness();
    h.grants.set(KEY, { ip: ipToU32('10.0.1.77'), session: session() });
    const nak = sent(h.server.handle(clientMessage(MessageType.DHCPREQUEST, { options: [requested('10.0.1.10'), server('10.0.1.1')] }), meta(), h.now.ms));
    expect(replyType(nak)).toBe(MessageType.DHCPNAK);
    h.grants.clear();
    // authoritative or not, an INIT-REBOOT of an unknown client is not bound without a grant
    const nak2 = h.server.handle(clientMessage(MessageType.DHCPREQUEST, { options: [requested('10.0.1.10'), server('10.0.1.1')] }), meta(), h.now.ms);
    expect(nak2.filter((a) => a.type === 'bind')).toHaveLength(0);
  });

  it('revoke ends the binding; its renewal is then NAKed, sending the client back to DISCOVER', () => {
    const h = aaaHarness();
    h.grants.set(KEY, { session: session() });
    const ack = dora(h);
    h.grants.clear();
    const ip = ack.message.yiaddr;
    const acts = h.server.revoke(ip, h.now.ms);
    expect(acts).toEqual([{ type: 'unbind', lease: expect.objectContaining({ ip, state: LeaseState.RELEASED }), reason: 'revoked' }]);
    expect(h.server.revoke(ip, h.now.ms)).toEqual([]);
    const renew = sent(h.server.handle(clientMessage(MessageType.DHCPREQUEST, { ciaddr: ip }), meta({ dstIp: '10.0.1.1' }), h.now.ms));
    expect(replyType(renew)).toBe(MessageType.DHCPNAK);
    expect(dhcp4.readStringOption(dhcp4.getOption(renew.message, dhcp4.OptionCode.MESSAGE)!)).toBe('not authorized');
    expect(h.server.counters().REVOKED).toBe(1);
  });
});

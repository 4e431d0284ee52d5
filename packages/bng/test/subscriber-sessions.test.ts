// SubscriberSessions with fakes around it: the decisions a clock and the kernel counters drive
// (Idle-Timeout, Session-Timeout), the refuse hold-down, and what a restart does with sessions
// whose Start did or did not reach the accounting journal.
import { describe, expect, it } from 'vitest';
import type { AaaService, AuthDecision } from '../src/aaa/aaa-service.js';
import type { AccountingManager, AccountingSession, TerminateCause } from '../src/aaa/accounting.js';
import { createMemoryLeaseStore, LeaseState, type LeaseRecord } from '../src/dhcp/index.js';
import { silentDhcp4Logger } from '../src/dhcp/types.js';
import { SubscriberSessions, type SessionDatapath } from '../src/daemon/subscriber-sessions.js';

function rig(decision: AuthDecision) {
  const now = { ms: 1_000_000 };
  const boot = { ns: 5_000_000_000n };
  const store = createMemoryLeaseStore();
  const usage = new Map<string, { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint; lastRxNs: bigint }>();
  const policies = new Map<string, unknown>();
  const datapath: SessionDatapath = {
    setSession: (ip, p) => {
      policies.set(ip, p);
      if (!usage.has(ip)) usage.set(ip, { rxPackets: 0n, rxBytes: 0n, txPackets: 0n, txBytes: 0n, lastRxNs: 0n });
    },
    deleteSession: (ip) => usage.delete(ip) && policies.delete(ip),
    sessionUsage: (ip) => usage.get(ip),
  };
  const calls: string[] = [];
  const accounting = {
    start: async (s: AccountingSession) => void calls.push(`start ${s.sessionId}`),
    resume: (s: AccountingSession) => void calls.push(`resume ${s.sessionId}`),
    stop: async (id: string, cause: TerminateCause) => void calls.push(`stop ${id} ${cause}`),
    isActive: () => true,
  } as unknown as AccountingManager;
  let asked = 0;
  const aaa = { authorize: async () => (asked++, decision) } as unknown as AaaService;
  const ended: Array<[string, TerminateCause]> = [];
  const sessions = new SubscriberSessions(
    { realm: 'ispa', rejectHoldMs: 30_000, grantTtlMs: 60_000, walledGardenFilterId: 'walled-garden', nasPortIdTemplate: '{interface}', maxPending: 4 },
    { aaa, accounting, datapath, store, log: silentDhcp4Logger, now: () => now.ms, boottimeNs: () => boot.ns, end: (ip, c) => void ended.push([ip, c]), persist: () => undefined, newSessionId: () => 'feedc0de00000001' },
  );
  return { now, boot, store, usage, policies, calls, sessions, ended, asked: () => asked };
}

const accept = (extra: Record<string, unknown> = {}): AuthDecision => ({
  kind: 'accept',
  authorization: { userName: 'u1', realm: 'ispa', filterIds: [], classes: [], replyMessages: [], attributes: [], ...extra },
});

function bind(r: ReturnType<typeof rig>, ip = '10.0.0.5'): LeaseRecord {
  const g = r.sessions.grantFor('hw:1:02:00:00:00:00:01')!;
  const lease: LeaseRecord = {
    ip, clientKey: 'hw:1:02:00:00:00:00:01', mac: '02:00:00:00:00:01', pool: 'p', state: LeaseState.BOUND,
    expiresAtMs: r.now.ms + 3_600_000, updatedAtMs: r.now.ms, session: { ...g.session, startedAtMs: r.now.ms },
  };
  r.store.put(lease);
  expect(r.sessions.bound(lease, r.now.ms)).toBe(true);
  return lease;
}

describe('subscriber sessions', () => {
  it('Idle-Timeout follows the kernel\'s last packet; Session-Timeout counts from the first ACK', async () => {
    const r = rig(accept({ idleTimeoutSec: 60, sessionTimeoutSec: 600, rateLimit: { upKbps: 1000, downKbps: 5000 } }));
    expect(await r.sessions.authorize('hw:1:02:00:00:00:00:01', { mac: '02:00:00:00:00:01' })).toBe(true);
    const lease = bind(r);
    expect(r.policies.get('10.0.0.5')).toEqual({ upKbps: 1000, downKbps: 5000, walled: false });
    r.sessions.ackSent(lease);
    await Promise.resolve();
    expect(r.calls).toEqual(['start feedc0de00000001']);
    // traffic 10 s before each check keeps it alive
    for (let i = 0; i < 5; i++) {
      r.now.ms += 50_000;
      r.boot.ns += 50_000_000_000n;
      r.usage.get('10.0.0.5')!.lastRxNs = r.boot.ns - 10_000_000_000n;
      r.sessions.tick(r.now.ms);
      expect(r.ended).toEqual([]);
    }
    // silence: ends once 60 s have passed since the last packet, not before
    r.now.ms += 45_000;
    r.boot.ns += 45_000_000_000n;
    r.sessions.tick(r.now.ms);
    expect(r.ended).toEqual([]);
    r.now.ms += 10_000;
    r.sessions.tick(r.now.ms);
    expect(r.ended).toEqual([['10.0.0.5', 'IdleTimeout']]);
  });

  it('Session-Timeout ends the session at its limit', async () => {
    const r = rig(accept({ sessionTimeoutSec: 120 }));
    await r.sessions.authorize('hw:1:02:00:00:00:00:01', { mac: '02:00:00:00:00:01' });
    bind(r);
    r.now.ms += 119_000;
    r.sessions.tick(r.now.ms);
    expect(r.ended).toEqual([]);
    r.now.ms += 1_000;
    r.sessions.tick(r.now.ms);
    expect(r.ended).toEqual([['10.0.0.5', 'SessionTimeout']]);
  });

  it('a refused client is not asked about again during the hold-down', async () => {
    const r = rig({ kind: 'refuse', reason: 'rejected', userName: 'u1', realm: 'ispa', replyMessages: [] });
    const key = 'hw:1:02:00:00:00:00:09';
    expect(r.sessions.check(key, r.now.ms)).toBe('authorize');
    expect(await r.sessions.authorize(key, { mac: '02:00:00:00:00:09' })).toBe(false);
    expect(r.sessions.check(key, r.now.ms + 29_000)).toBe('refused');
    expect(r.sessions.check(key, r.now.ms + 30_000)).toBe('authorize');
    expect(r.asked()).toBe(1);
  });

  it('a reject under onReject walled-garden binds with only the garden reachable and no accounting', async () => {
    const r = rig({ kind: 'walled-garden', reason: 'rejected', userName: 'u1', realm: 'ispa', replyMessages: [] });
    expect(await r.sessions.authorize('hw:1:02:00:00:00:00:01', { mac: '02:00:00:00:00:01' })).toBe(true);
    expect(r.sessions.grantFor('hw:1:02:00:00:00:00:01')!.session).toMatchObject({ walled: true, accounting: false });
    const lease = bind(r);
    expect(r.policies.get('10.0.0.5')).toEqual({ walled: true });
    r.sessions.ackSent(lease);
    await new Promise((res) => setImmediate(res));
    expect(r.calls).toEqual([]);
    r.sessions.ended(lease, 'UserRequest');
    expect(r.calls).toEqual([]);
    expect(r.usage.has('10.0.0.5')).toBe(false);
  });

  it('after a restart: a session whose Start is journaled resumes, one whose Start was lost sends it now', async () => {
    const r = rig(accept());
    await r.sessions.authorize('hw:1:02:00:00:00:00:01', { mac: '02:00:00:00:00:01' });
    const lease = bind(r);
    r.sessions.ackSent(lease);
    await new Promise((res) => setImmediate(res));
    expect(r.store.get('10.0.0.5')!.session!.acctStarted).toBe(true);
    // a second record as a crash right after its ACK would leave it: session without acctStarted
    r.store.put({ ...lease, ip: '10.0.0.6', clientKey: 'hw:1:02:00:00:00:00:02', mac: '02:00:00:00:00:02', session: { ...lease.session!, id: 'feedc0de00000002' } });
    const fresh = rig(accept());
    for (const rec of r.store.all()) fresh.store.put(rec);
    const restored = fresh.sessions.restore(fresh.now.ms);
    expect(restored.sessions).toBe(2);
    expect(restored.realms).toEqual(new Set(['ispa']));
    expect(fresh.calls.sort()).toEqual(['resume feedc0de00000001', 'start feedc0de00000002']);
    expect([...fresh.policies.keys()].sort()).toEqual(['10.0.0.5', '10.0.0.6']);
  });
});

/** Accounting manager decisions with a fake RADIUS client and a manual clock. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { radius } from '@bng/protocols';
import { BngError } from '@bng/api';
import { createAccountingManager, silentLogger, type RadiusClient, type RadiusRequest } from '../src/aaa/index.js';
import { flush, manualClock } from './aaa-helpers.js';

const dict = radius.createDictionary();
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function fakeClient(clock: { now(): number }) {
  const calls: Array<{ req: RadiusRequest; attrs: radius.DecodedAttribute[]; resolve: () => void; reject: () => void }> = [];
  const client: RadiusClient = {
    name: 'f', dictionary: dict, stats: () => ({}) as never, servers: () => [], close: () => undefined,
    request: (req) => new Promise((resolve, reject) => {
      const raw = typeof req.attributes === 'function' ? req.attributes(clock.now()) : req.attributes;
      calls.push({
        req, attrs: radius.decodeAttributes(raw, dict),
        resolve: () => resolve({ packet: radius.decodePacket(radius.encodePacket(5, 0, new Uint8Array(16), [])), attributes: [], server: 'x', rttMs: 0 }),
        reject: () => reject(new BngError('BNG_ERR_RADIUS_TIMEOUT', 'down')),
      });
    }),
  };
  return { client, calls };
}
/** Journal writes are real fsyncs: wait (in real time) until the condition holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}
const val = (attrs: radius.DecodedAttribute[], n: string) => radius.findAttribute(attrs, n)?.value;

describe('accounting manager', () => {
  it('keeps each session in order, pauses after a failure, and sends Acct-Delay-Time on the retry', async () => {
    const d = mkdtempSync(join(tmpdir(), 'bng-acct-u-'));
    dirs.push(d);
    const clock = manualClock();
    const { client, calls } = fakeClient(clock);
    const m = await createAccountingManager(
      { journalPath: join(d, 'j'), nasIdentifier: 'n', defaultInterimIntervalSec: 0, retryDelayMs: 5000 },
      { clock, log: silentLogger, clientFor: () => client, readCounters: () => ({ inputOctets: 5n, outputOctets: 6n, inputPackets: 1n, outputPackets: 2n }) },
    );
    await m.start({ sessionId: 'a', realm: 'r', userName: 'ua' });
    await m.start({ sessionId: 'b', realm: 'r', userName: 'ub' });
    await m.stop('a', 'IdleTimeout');
    await until(() => calls.length === 2);
    // Start(a) and Start(b) are in flight; Stop(a) waits for Start(a).
    expect(calls.map((c) => [val(c.attrs, 'Acct-Session-Id'), val(c.attrs, 'Acct-Status-Type')])).toEqual([['a', 1], ['b', 1]]);
    expect(val(calls[0]!.attrs, 'Acct-Delay-Time')).toBeUndefined();
    calls[0]!.reject(); // server unreachable
    calls[1]!.resolve();
    await until(() => m.stats().acknowledged === 1);
    expect(calls.length).toBe(2); // paused
    await clock.advance(5000);
    expect(calls.length).toBe(3);
    expect(val(calls[2]!.attrs, 'Acct-Status-Type')).toBe(1);
    expect(val(calls[2]!.attrs, 'Acct-Delay-Time')).toBe(5);
    calls[2]!.resolve();
    await until(() => calls.length === 4);
    const stop = calls[3]!;
    expect(val(stop.attrs, 'Acct-Status-Type')).toBe(2);
    expect(val(stop.attrs, 'Acct-Terminate-Cause')).toBe(4);
    expect(val(stop.attrs, 'Acct-Input-Octets')).toBe(5);
    stop.resolve();
    await until(() => m.stats().pending === 0);
    expect(m.stats()).toMatchObject({ journaled: 3, acknowledged: 3, pending: 0, inFlight: 0 });
    await m.drain(1000);
    await m.close();
  });

  it('refuses an unknown realm at start and keeps a record whose realm vanished without crashing', async () => {
    const d = mkdtempSync(join(tmpdir(), 'bng-acct-u-'));
    dirs.push(d);
    const clock = manualClock();
    const { client, calls } = fakeClient(clock);
    let known = true;
    const m = await createAccountingManager(
      { journalPath: join(d, 'j'), nasIdentifier: 'n', defaultInterimIntervalSec: 60 },
      { clock, log: silentLogger, clientFor: (r) => { if (r !== 'r' || !known) throw new BngError('BNG_ERR_RADIUS_REALM_UNKNOWN', r); return client; }, readCounters: () => { throw new Error('map entry gone'); } },
    );
    await expect(m.start({ sessionId: 'x', realm: 'other', userName: 'u' })).rejects.toThrow();
    await m.start({ sessionId: 'a', realm: 'r', userName: 'u' });
    await until(() => calls.length === 1);
    calls[0]!.resolve();
    await until(() => m.stats().acknowledged === 1);
    known = false;
    await clock.advance(60_000); // interim: counters unreadable (last values used), realm gone
    await until(() => m.stats().pending === 1);
    expect(calls.length).toBe(1);
    known = true;
    await clock.advance(1000);
    await until(() => calls.length === 2);
    expect(val(calls[1]!.attrs, 'Acct-Status-Type')).toBe(3);
    expect(val(calls[1]!.attrs, 'Acct-Session-Time')).toBe(60);
    calls[1]!.resolve();
    await flush();
    await m.close();
  });
});

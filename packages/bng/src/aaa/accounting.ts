/**
 * RADIUS accounting (RFC 2866, RFC 2869): Start after the lease is bound, Interim-Update at the
 * session's interval, Stop with a terminate cause. Every record goes through the durable journal
 * first and leaves it only when the server answered, so an outage, a partition or a restart
 * loses none; records of one session are sent strictly in order.
 */
import { randomBytes } from 'node:crypto';
import { BngError } from '@bng/api';
import { radius } from '@bng/protocols';
import { openAccountingJournal, type AccountingJournal, type JournalRecord, type StoredValue } from './accounting-journal.js';
import type { RadiusClient } from './radius-client.js';
import type { AaaClock, AaaLogger } from './types.js';

const { RadiusCode, AcctStatusType, AcctTerminateCause, encodeAttribute } = radius;

/** Counters of one subscriber as read from the eBPF maps; input = from the subscriber (RFC 2866 §5.3). */
export interface SessionCounters {
  readonly inputOctets: bigint;
  readonly outputOctets: bigint;
  readonly inputPackets: bigint;
  readonly outputPackets: bigint;
}

export interface AccountingSession {
  /** Acct-Session-Id: unique, identical in every record of the session (RFC 2866 §5.5). */
  readonly sessionId: string;
  readonly realm: string;
  readonly userName: string;
  readonly mac?: string;
  readonly framedIp?: string;
  readonly nasPortId?: string;
  readonly classes?: readonly Uint8Array[];
  /** Seconds between Interim-Updates; 0 or absent = the configured default. */
  readonly interimIntervalSec?: number;
}

export type TerminateCause = keyof typeof AcctTerminateCause;

export interface AccountingConfig {
  readonly journalPath: string;
  readonly nasIdentifier: string;
  readonly nasIpAddress?: string;
  /** Used when the session has none (default 300 s; 0 disables interims). */
  readonly defaultInterimIntervalSec?: number;
  /** Records in flight at once (default 64). */
  readonly window?: number;
  /** Pause after a record failed before sending again (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** close() waits this long for records in flight to be answered (default 5000 ms). */
  readonly closeTimeoutMs?: number;
}

export interface AccountingDeps {
  readonly clock: AaaClock;
  readonly log: AaaLogger;
  readonly clientFor: (realm: string) => RadiusClient;
  readonly readCounters: (sessionId: string) => SessionCounters | Promise<SessionCounters>;
  readonly dictionary?: radius.Dictionary;
}

export interface AccountingStats {
  journaled: number;
  acknowledged: number;
  failedAttempts: number;
  pending: number;
  inFlight: number;
  activeSessions: number;
}

export interface AccountingManager {
  /** A new unique Acct-Session-Id (random 64 bits, hex). */
  newSessionId(): string;
  /** Journals the Start (resolves when it is on disk) and arms Interim-Updates. */
  start(session: AccountingSession): Promise<void>;
  /** After a daemon restart: re-arms Interim-Updates of a session whose Start was already journaled. */
  resume(session: AccountingSession, startedAtMs: number): void;
  /** Journals an Interim-Update now (e.g. after a CoA changed the service). */
  interim(sessionId: string): Promise<void>;
  /** Journals the Stop with final counters and the cause, and forgets the session. */
  stop(sessionId: string, cause: TerminateCause): Promise<void>;
  /**
   * Accounting-On / Accounting-Off for a realm (RFC 2866 §5.1): at boot, before any Start, so
   * the ISP closes sessions left open by a crash; and at orderly shutdown.
   */
  accountingOn(realm: string): Promise<void>;
  accountingOff(realm: string): Promise<void>;
  isActive(sessionId: string): boolean;
  stats(): AccountingStats;
  /** Resolves when nothing is pending (or rejects after timeoutMs). */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

interface Live {
  readonly s: AccountingSession;
  readonly startMs: number;
  timer: unknown;
  last: SessionCounters;
}

const ZERO: SessionCounters = { inputOctets: 0n, outputOctets: 0n, inputPackets: 0n, outputPackets: 0n };
const U32 = 0xffffffffn;

function stored(v: radius.AttrValue): StoredValue {
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return Number(v);
  return v;
}
function unstored(v: StoredValue): radius.AttrValue {
  return typeof v === 'object' ? Uint8Array.from(Buffer.from(v.hex, 'hex')) : v;
}

export async function createAccountingManager(config: AccountingConfig, deps: AccountingDeps): Promise<AccountingManager> {
  const journal: AccountingJournal = await openAccountingJournal(config.journalPath);
  const dict = deps.dictionary ?? radius.createDictionary();
  const window = config.window ?? 64;
  const retryDelayMs = config.retryDelayMs ?? 1000;
  const defaultInterim = config.defaultInterimIntervalSec ?? 300;
  const { clock, log } = deps;

  const live = new Map<string, Live>();
  const queue: JournalRecord[] = journal.pending();
  const inFlight = new Set<number>();
  let pausedUntil = 0;
  let pumpTimer: unknown;
  let closed = false;
  let closing = false;
  const closeWaiters: Array<() => void> = [];
  const drainWaiters: Array<() => void> = [];
  const st = { journaled: 0, acknowledged: 0, failedAttempts: 0 };
  if (queue.length > 0) log.info({ pending: queue.length, torn: journal.torn }, 'accounting: resending records from the journal');

  function packetAttributes(rec: JournalRecord, nowMs: number): radius.OutgoingAttribute[] {
    const out: radius.OutgoingAttribute[] = [];
    for (const [name, v] of rec.attrs) out.push(encodeAttribute(dict, name, unstored(v)));
    // RFC 2866 §5.2: Acct-Delay-Time is how long the client has been trying to send this record;
    // it changes per attempt, which is why each attempt is a new packet with a new Identifier.
    const delay = Math.max(0, Math.floor((nowMs - rec.eventMs) / 1000));
    if (delay > 0) out.push(encodeAttribute(dict, 'Acct-Delay-Time', Math.min(delay, 0xffffffff)));
    return out;
  }

  function send(rec: JournalRecord): boolean {
    let client: RadiusClient;
    try {
      client = deps.clientFor(rec.realm);
    } catch (e) {
      // The realm lost its server group (configuration change): keep the record in the journal
      // and retry later, without holding up other realms.
      log.error({ realm: rec.realm, seq: rec.seq, err: (e as Error).message }, 'accounting: no server group for the record, kept in the journal');
      schedulePump(retryDelayMs);
      return false;
    }
    inFlight.add(rec.seq);
    client.request({ kind: 'acct', code: RadiusCode.AccountingRequest, attributes: (now) => packetAttributes(rec, now) }).then(
      async () => {
        try {
          await journal.ack(rec.seq);
        } catch (e) {
          // Not removed on disk: it will be sent again after a restart (at-least-once).
          log.error({ seq: rec.seq, err: (e as Error).message }, 'accounting: acknowledgement not journaled');
        }
        st.acknowledged++;
        inFlight.delete(rec.seq);
        const i = queue.findIndex((r) => r.seq === rec.seq);
        if (i >= 0) queue.splice(i, 1);
        pump();
      },
      (e: unknown) => {
        inFlight.delete(rec.seq);
        if (closed || closing) { pump(); return; }
        st.failedAttempts++;
        // The server group is unreachable: hold everything, then retry in journal order.
        pausedUntil = clock.now() + retryDelayMs;
        log.warn({ realm: rec.realm, sessionId: rec.sessionId, seq: rec.seq, err: (e as Error).message }, 'accounting: record not answered, kept in the journal');
        schedulePump(retryDelayMs);
      },
    );
    return true;
  }

  function schedulePump(ms: number): void {
    if (pumpTimer !== undefined || closed) return;
    pumpTimer = clock.setTimeout(() => {
      pumpTimer = undefined;
      pump();
    }, ms);
  }

  function pump(): void {
    if (closed) return;
    if (closing) {
      if (inFlight.size === 0) for (const w of closeWaiters.splice(0)) w();
      return;
    }
    if (queue.length === 0 && inFlight.size === 0) {
      for (const w of drainWaiters.splice(0)) w();
      return;
    }
    const now = clock.now();
    if (now < pausedUntil) {
      schedulePump(pausedUntil - now);
      return;
    }
    // Records of one session leave strictly in order: a record waits while an earlier one of
    // the same session is unanswered (a Stop never overtakes its Start).
    const blocked = new Set<string>();
    for (const rec of queue) {
      if (inFlight.size >= window) break;
      if (blocked.has(rec.sessionId)) continue;
      blocked.add(rec.sessionId);
      if (inFlight.has(rec.seq)) continue;
      send(rec);
    }
  }

  async function journalRecord(s: Pick<AccountingSession, 'sessionId' | 'realm'> & Partial<AccountingSession>, statusType: number, eventMs: number, extra: Array<[string, radius.AttrValue]>): Promise<void> {
    if (closed || closing) throw new BngError('BNG_ERR_CONFLICT', 'accounting manager is closed');
    const attrs: Array<[string, radius.AttrValue]> = [
      ['Acct-Status-Type', statusType],
      ['Acct-Session-Id', s.sessionId],
      ['NAS-Identifier', config.nasIdentifier],
    ];
    if (s.userName) attrs.push(['User-Name', s.userName]);
    if (config.nasIpAddress) attrs.push(['NAS-IP-Address', config.nasIpAddress]);
    if (s.nasPortId) attrs.push(['NAS-Port-Id', s.nasPortId]);
    if (s.mac) attrs.push(['Calling-Station-Id', s.mac]);
    if (s.framedIp) attrs.push(['Framed-IP-Address', s.framedIp]);
    // RFC 2865 §5.25: Class from the Access-Accept is sent unmodified in accounting.
    for (const c of s.classes ?? []) attrs.push(['Class', c]);
    if (s.userName) attrs.push(['Acct-Authentic', 'RADIUS']);
    // RFC 2869 §5.3: Event-Timestamp records when the event happened, not when it was sent.
    attrs.push(['Event-Timestamp', Math.floor(eventMs / 1000)]);
    attrs.push(...extra);
    for (const [name, v] of attrs) encodeAttribute(dict, name, v); // refuse bad values before they reach the disk
    const rec = await journal.append({ realm: s.realm, sessionId: s.sessionId, statusType, eventMs, attrs: attrs.map(([n, v]) => [n, stored(v)] as const) });
    st.journaled++;
    queue.push(rec);
    pump();
  }

  async function usage(l: Live, eventMs: number): Promise<Array<[string, radius.AttrValue]>> {
    try {
      l.last = await deps.readCounters(l.s.sessionId);
    } catch (e) {
      log.warn({ sessionId: l.s.sessionId, err: (e as Error).message }, 'accounting: counters unreadable, using the last values');
    }
    const c = l.last;
    const clamp = (v: bigint): bigint => (v < 0n ? 0n : v & 0xffffffffffffffffn);
    const io = clamp(c.inputOctets);
    const oo = clamp(c.outputOctets);
    return [
      ['Acct-Session-Time', Math.max(0, Math.floor((eventMs - l.startMs) / 1000))],
      // RFC 2869 §5.1/§5.2: Gigawords count how often the 32-bit octet counter wrapped.
      ['Acct-Input-Octets', Number(io & U32)],
      ['Acct-Output-Octets', Number(oo & U32)],
      ['Acct-Input-Gigawords', Number(io >> 32n)],
      ['Acct-Output-Gigawords', Number(oo >> 32n)],
      ['Acct-Input-Packets', Number(clamp(c.inputPackets) & U32)],
      ['Acct-Output-Packets', Number(clamp(c.outputPackets) & U32)],
    ];
  }

  function arm(l: Live): void {
    const sec = l.s.interimIntervalSec && l.s.interimIntervalSec > 0 ? l.s.interimIntervalSec : defaultInterim;
    if (sec <= 0 || closed) return;
    l.timer = clock.setTimeout(() => {
      l.timer = undefined;
      if (live.get(l.s.sessionId) !== l) return;
      void doInterim(l).catch((e: unknown) => log.error({ sessionId: l.s.sessionId, err: (e as Error).message }, 'accounting: interim not journaled'));
      arm(l);
    }, sec * 1000);
  }

  async function doInterim(l: Live): Promise<void> {
    const now = clock.now();
    await journalRecord(l.s, AcctStatusType.InterimUpdate, now, await usage(l, now));
  }

  return {
    newSessionId: () => randomBytes(8).toString('hex'),
    async start(s) {
      if (live.has(s.sessionId)) throw new BngError('BNG_ERR_CONFLICT', `accounting session ${s.sessionId} already started`);
      deps.clientFor(s.realm); // an unknown realm fails here, to the caller, not later in the queue
      const now = clock.now();
      const l: Live = { s, startMs: now, timer: undefined, last: ZERO };
      live.set(s.sessionId, l);
      await journalRecord(s, AcctStatusType.Start, now, []);
      arm(l);
    },
    resume(s, startedAtMs) {
      if (live.has(s.sessionId)) return;
      const l: Live = { s, startMs: startedAtMs, timer: undefined, last: ZERO };
      live.set(s.sessionId, l);
      arm(l);
    },
    async interim(sessionId) {
      const l = live.get(sessionId);
      if (!l) throw new BngError('BNG_ERR_NOT_FOUND', `no accounting session ${sessionId}`);
      await doInterim(l);
    },
    async stop(sessionId, cause) {
      const l = live.get(sessionId);
      if (!l) throw new BngError('BNG_ERR_NOT_FOUND', `no accounting session ${sessionId}`);
      live.delete(sessionId);
      clock.clearTimeout(l.timer);
      const now = clock.now();
      const u = await usage(l, now);
      // RFC 2866 §5.10: Acct-Terminate-Cause only in Stop records.
      await journalRecord(l.s, AcctStatusType.Stop, now, [...u, ['Acct-Terminate-Cause', AcctTerminateCause[cause]]]);
    },
    async accountingOn(realm) {
      deps.clientFor(realm);
      await journalRecord({ sessionId: `nas-${randomBytes(8).toString('hex')}`, realm }, AcctStatusType.AccountingOn, clock.now(), []);
    },
    async accountingOff(realm) {
      deps.clientFor(realm);
      await journalRecord({ sessionId: `nas-${randomBytes(8).toString('hex')}`, realm }, AcctStatusType.AccountingOff, clock.now(), [['Acct-Terminate-Cause', AcctTerminateCause.NasRequest]]);
    },
    isActive: (id) => live.has(id),
    stats: () => ({ ...st, pending: queue.length, inFlight: inFlight.size, activeSessions: live.size }),
    drain(timeoutMs) {
      if (queue.length === 0 && inFlight.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = clock.setTimeout(() => reject(new BngError('BNG_ERR_RADIUS_TIMEOUT', `accounting: ${queue.length} records still pending after ${timeoutMs} ms`)), timeoutMs);
        drainWaiters.push(() => { clock.clearTimeout(t); resolve(); });
      });
    },
    async close() {
      if (closed) return;
      // Stop sending, let what is in flight be answered and acknowledged on disk, so a clean
      // restart sends nothing twice; unanswered records stay in the journal.
      closing = true;
      clock.clearTimeout(pumpTimer);
      pumpTimer = undefined;
      for (const l of live.values()) clock.clearTimeout(l.timer);
      live.clear();
      if (inFlight.size > 0) {
        await new Promise<void>((resolve) => {
          const t = clock.setTimeout(resolve, config.closeTimeoutMs ?? 5000);
          closeWaiters.push(() => { clock.clearTimeout(t); resolve(); });
        });
      }
      closed = true;
      await journal.close();
    },
  };
}

/**
 * RADIUS client for one server group (one ISP realm): ordered failover over the group's servers,
 * retransmission, Status-Server liveness (RFC 5997), response verification (RFC 2865 §3,
 * RFC 3579 §3.2) and as many requests in flight as sockets allow (256 per socket and server).
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { BngError } from '@bng/api';
import { radius } from '@bng/protocols';
import type { AaaClock, AaaLogger, UdpRemote, UdpSocket, UdpSocketFactory } from './types.js';

type Dictionary = radius.Dictionary;
type RadiusPacket = radius.RadiusPacket;
type DecodedAttribute = radius.DecodedAttribute;
type OutgoingAttribute = radius.OutgoingAttribute;
const { RadiusCode } = radius;

export interface RadiusServerConfig {
  /** IP literal (resolving names per packet is slow and hides failures). */
  readonly host: string;
  readonly authPort?: number;
  readonly acctPort?: number;
  readonly secret: string;
}

export interface RadiusServerGroupConfig {
  /** The realm (ISP) this group serves, used in logs. */
  readonly name: string;
  /** In priority order: the first alive server gets every request. */
  readonly servers: readonly RadiusServerConfig[];
  /** Wait for an answer before retransmitting (default 3000 ms). */
  readonly timeoutMs?: number;
  /** Transmissions per server before failing over (default 3). */
  readonly tries?: number;
  /** Probe dead servers with Status-Server (default true); else revive after deadTimeMs. */
  readonly statusServer?: boolean;
  readonly statusIntervalMs?: number;
  readonly deadTimeMs?: number;
  /** Drop Access-Accept/Reject/Challenge without a valid Message-Authenticator (default true; CVE-2024-3596). */
  readonly requireMessageAuthenticator?: boolean;
  /** Local address to send from (default 127.0.0.1 for loopback servers, else 0.0.0.0). */
  readonly sourceAddress?: string;
  /** Upper bound on sockets per server (each adds 256 Identifiers; default 64). */
  readonly maxSockets?: number;
}

export type RequestKind = 'auth' | 'acct';

export interface RadiusRequest {
  readonly kind: RequestKind;
  readonly code: number;
  /** Attributes, or a function building them per attempt (Acct-Delay-Time changes between attempts). */
  readonly attributes: readonly OutgoingAttribute[] | ((nowMs: number) => readonly OutgoingAttribute[]);
}

export interface RadiusResponse {
  readonly packet: RadiusPacket;
  readonly attributes: DecodedAttribute[];
  /** host:port of the server that answered. */
  readonly server: string;
  readonly rttMs: number;
}

export interface RadiusClientStats {
  requests: number;
  responses: number;
  retransmissions: number;
  failovers: number;
  timeouts: number;
  malformed: number;
  unmatched: number;
  badAuthenticator: number;
  badMessageAuthenticator: number;
  missingMessageAuthenticator: number;
  unexpectedCode: number;
  statusProbes: number;
  serverDown: number;
  serverUp: number;
}

export interface ServerState {
  readonly endpoint: string;
  readonly kind: RequestKind | 'coa';
  readonly alive: boolean;
  readonly lastResponseMs: number;
}

export interface RadiusClient {
  request(req: RadiusRequest): Promise<RadiusResponse>;
  stats(): Readonly<RadiusClientStats>;
  servers(): ServerState[];
  readonly dictionary: Dictionary;
  readonly name: string;
  close(): void;
}

export interface RadiusClientDeps {
  readonly clock: AaaClock;
  readonly log: AaaLogger;
  readonly socketFactory: UdpSocketFactory;
  readonly dictionary?: Dictionary;
  readonly randomBytes?: (n: number) => Uint8Array;
}

interface Endpoint {
  readonly key: string; // host:port
  readonly host: string;
  readonly port: number;
  readonly secret: Uint8Array;
  readonly kind: RequestKind;
  alive: boolean;
  lastResponseMs: number;
  deadSinceMs: number;
  probeTimer: unknown;
  probing: boolean;
}

/** One transaction on one server: what a response must match and what a retransmission resends. */
interface Pending {
  readonly ep: Endpoint;
  readonly slot: SocketSlot;
  readonly id: number;
  readonly code: number;
  readonly authenticator: Uint8Array;
  readonly bytes: Uint8Array;
  readonly maxTries: number;
  /** Tells this transaction's timer entries from those of an earlier one with the same (socket, Identifier). */
  readonly seq: number;
  sent: number;
  /** The timer of its latest transmission. */
  bucket: TimerBucket | undefined;
  readonly resolve: (r: RadiusPacket | 'timeout') => void;
  readonly reject: (e: Error) => void;
}

/** The retransmission timer shared by the transmissions of one clock millisecond. */
interface TimerBucket {
  handle: unknown;
  /** Its transactions not yet answered or moved on to a later timer. */
  live: number;
  readonly entries: number[];
}

/** A socket connected to one server, with its 256 Identifiers (RFC 2865 §3: unique per source port and server). */
interface SocketSlot {
  readonly sock: UdpSocket;
  readonly ep: Endpoint;
  /** Position in the client's list of sockets (timer entries name the socket by it). */
  readonly index: number;
  /** The transaction holding each Identifier. */
  readonly pending: (Pending | undefined)[];
  count: number;
  next: number;
}

export function createRadiusClient(config: RadiusServerGroupConfig, deps: RadiusClientDeps): RadiusClient {
  if (config.servers.length === 0) throw new BngError('BNG_ERR_CONFIG_INVALID', `radius group ${config.name}: no servers`);
  for (const s of config.servers) {
    if (isIP(s.host) === 0) throw new BngError('BNG_ERR_CONFIG_INVALID', `radius group ${config.name}: server host ${s.host} is not an IP address`);
    if (s.secret.length === 0) throw new BngError('BNG_ERR_CONFIG_INVALID', `radius group ${config.name}: empty secret for ${s.host}`);
  }
  const timeoutMs = config.timeoutMs ?? 3000;
  const tries = config.tries ?? 3;
  const useStatusServer = config.statusServer ?? true;
  const statusIntervalMs = config.statusIntervalMs ?? 5000;
  const deadTimeMs = config.deadTimeMs ?? 30_000;
  const requireMa = config.requireMessageAuthenticator ?? true;
  const maxSockets = config.maxSockets ?? 64;
  const source = config.sourceAddress ?? (config.servers.every((s) => s.host.startsWith('127.')) ? '127.0.0.1' : '0.0.0.0');
  const dict = deps.dictionary ?? radius.createDictionary();
  const rnd = deps.randomBytes ?? pooledRandomBytes();
  const { clock, log } = deps;

  const endpoints: Record<RequestKind, Endpoint[]> = { auth: [], acct: [] };
  for (const s of config.servers) {
    for (const kind of ['auth', 'acct'] as const) {
      const port = kind === 'auth' ? s.authPort ?? 1812 : s.acctPort ?? 1813;
      endpoints[kind].push({ key: `${s.host}:${port}`, host: s.host, port, secret: Buffer.from(s.secret), kind, alive: true, lastResponseMs: 0, deadSinceMs: 0, probeTimer: undefined, probing: false });
    }
  }
  const byKey = new Map<string, Endpoint>();
  for (const e of [...endpoints.auth, ...endpoints.acct]) byKey.set(e.key, e);

  const st: RadiusClientStats = {
    requests: 0, responses: 0, retransmissions: 0, failovers: 0, timeouts: 0, malformed: 0, unmatched: 0, badAuthenticator: 0,
    badMessageAuthenticator: 0, missingMessageAuthenticator: 0, unexpectedCode: 0, statusProbes: 0, serverDown: 0, serverUp: 0,
  };
  // Sockets per server, each connected to it (the kernel keeps the route; 256 Identifiers each).
  const sockets = new Map<string, SocketSlot[]>();
  const allSlots: SocketSlot[] = [];
  const opening = new Map<string, Promise<SocketSlot>>();
  const waiters: Array<() => void> = [];
  let closed = false;
  let nextSeq = 0;

  const closedError = (): BngError => new BngError('BNG_ERR_RADIUS_TIMEOUT', `radius group ${config.name}: client closed`);

  function onMessage(slot: SocketSlot, data: Uint8Array, from: UdpRemote): void {
    let p: RadiusPacket;
    try {
      p = radius.decodePacket(data);
    } catch {
      st.malformed++; // RFC 2865 §3: malformed packets are silently discarded
      return;
    }
    const pend = slot.pending[p.identifier];
    if (pend === undefined || from.port !== slot.ep.port || from.address !== slot.ep.host) {
      st.unmatched++; // late answer to a finished request, or from a stranger
      return;
    }
    if (!codeAnswers(pend.code, p.code)) {
      st.unexpectedCode++;
      return;
    }
    // CVE-2024-3596: only a valid Message-Authenticator proves an Access-* response was not
    // forged via an MD5 collision on the Response Authenticator.
    const isAccess = p.code === RadiusCode.AccessAccept || p.code === RadiusCode.AccessReject || p.code === RadiusCode.AccessChallenge;
    // Status-Server answers only revive a server, so they are not held to the Access-Request rule.
    const v = radius.verifyResponse(p, pend.authenticator, pend.ep.secret, requireMa && isAccess && pend.code === RadiusCode.AccessRequest);
    if (!v.ok) {
      // RFC 2865 §3: a response with an invalid authenticator is silently discarded; keep
      // waiting, a forged packet must not end the transaction.
      if (v.reason === 'bad_authenticator') st.badAuthenticator++;
      else if (v.reason === 'bad_message_authenticator') st.badMessageAuthenticator++;
      else st.missingMessageAuthenticator++;
      log.warn({ group: config.name, server: pend.ep.key, reason: v.reason, id: p.identifier }, 'radius: response failed verification, dropped');
      return;
    }
    st.responses++;
    finish(pend, p);
  }

  async function openSocket(ep: Endpoint): Promise<SocketSlot> {
    const sock = await deps.socketFactory(source, 0, { address: ep.host, port: ep.port });
    const slot: SocketSlot = { sock, ep, index: allSlots.length, pending: new Array<Pending | undefined>(256).fill(undefined), count: 0, next: rnd(1)[0]! };
    allSlots.push(slot);
    sock.onMessage((d, r) => onMessage(slot, d, r));
    if (closed) sock.close();
    else socketsOf(ep).push(slot);
    return slot;
  }

  function socketsOf(ep: Endpoint): SocketSlot[] {
    let list = sockets.get(ep.key);
    if (!list) {
      list = [];
      sockets.set(ep.key, list);
    }
    return list;
  }

  /** A socket to `ep` with a free Identifier, if any. */
  function freeSlot(ep: Endpoint): SocketSlot | undefined {
    const list = sockets.get(ep.key);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) if (list[i]!.count < 256) return list[i];
    return undefined;
  }

  /** The next free Identifier of a socket with count < 256, in order from a random start. */
  function freeId(slot: SocketSlot): number {
    for (let i = 0; i < 256; i++) {
      const id = (slot.next + i) & 0xff;
      if (slot.pending[id] === undefined) {
        slot.next = (id + 1) & 0xff;
        return id;
      }
    }
    throw new Error('radius: no free Identifier on a socket counted as not full');
  }

  /** Resolves when a socket to `ep` may have a free Identifier: a new socket, or a released one. */
  async function waitForSlot(ep: Endpoint): Promise<void> {
    if (socketsOf(ep).length < maxSockets) {
      let o = opening.get(ep.key);
      if (!o) {
        o = openSocket(ep).finally(() => opening.delete(ep.key));
        opening.set(ep.key, o);
      }
      await o;
      return;
    }
    await new Promise<void>((resolve) => waiters.push(resolve));
  }

  // Retransmission timers: every transmission in the same clock millisecond shares one timer,
  // so a busy client arms about one timer per millisecond rather than one per packet, and the
  // timer is cancelled once all its transactions are answered. Entries are (socket index * 256 +
  // Identifier, seq) pairs of numbers, so a timer holds no transaction objects.
  let bucket: TimerBucket | undefined;
  let bucketAt = Number.NaN;
  const buckets = new Set<TimerBucket>();

  function armTimer(pend: Pending): void {
    const now = clock.now();
    let b = bucket;
    if (b === undefined || now !== bucketAt) {
      const nb: TimerBucket = { handle: undefined, live: 0, entries: [] };
      nb.handle = clock.setTimeout(() => {
        buckets.delete(nb);
        if (bucket === nb) bucket = undefined;
        expire(nb.entries);
      }, timeoutMs);
      buckets.add(nb);
      bucket = b = nb;
      bucketAt = now;
    }
    b.entries.push(pend.slot.index * 256 + pend.id, pend.seq);
    b.live++;
    pend.bucket = b;
  }

  /** A transaction of the bucket finished: with none left waiting, its timer is not needed. */
  function leaveBucket(b: TimerBucket): void {
    if (--b.live > 0 || !buckets.has(b)) return;
    clock.clearTimeout(b.handle);
    buckets.delete(b);
    if (bucket === b) bucket = undefined;
  }

  function expire(b: number[]): void {
    for (let i = 0; i < b.length; i += 2) {
      const ref = b[i]!;
      const pend = allSlots[ref >>> 8]?.pending[ref & 0xff];
      // A finished transaction's entry, or one whose Identifier went to a newer transaction.
      if (pend === undefined || pend.seq !== b[i + 1]) continue;
      // RFC 5080 §2.2.1: a retransmission reuses the Identifier and Request Authenticator.
      if (pend.sent < pend.maxTries) transmit(pend);
      else finish(pend, 'timeout');
    }
  }

  function transmit(pend: Pending): void {
    if (pend.sent > 0) st.retransmissions++;
    pend.sent++;
    try {
      pend.slot.sock.send(pend.bytes, pend.ep.port, pend.ep.host);
    } catch (e) {
      log.warn({ group: config.name, server: pend.ep.key, err: (e as Error).message }, 'radius: send failed');
    }
    armTimer(pend);
  }

  function finish(pend: Pending, r: RadiusPacket | 'timeout' | Error): void {
    const slot = pend.slot;
    if (slot.pending[pend.id] !== pend) return;
    slot.pending[pend.id] = undefined;
    slot.count--;
    if (pend.bucket !== undefined) leaveBucket(pend.bucket);
    const w = waiters.shift();
    if (w) w();
    if (r instanceof Error) pend.reject(r);
    else {
      if (r !== 'timeout') pend.ep.lastResponseMs = clock.now();
      pend.resolve(r);
    }
  }

  /** One transaction on one server: same Identifier and authenticator on every retransmission. */
  function transact(ep: Endpoint, code: number, attrs: readonly OutgoingAttribute[], maxTries: number): Promise<RadiusPacket | 'timeout'> {
    if (closed) return Promise.reject(closedError());
    const slot = freeSlot(ep);
    if (slot === undefined) return waitForSlot(ep).then(() => transact(ep, code, attrs, maxTries));
    const id = freeId(slot);
    let enc: { bytes: Uint8Array; authenticator: Uint8Array };
    try {
      // Blast-RADIUS: every Access-Request carries Message-Authenticator, first.
      enc = code === RadiusCode.AccessRequest || code === RadiusCode.StatusServer
        ? radius.encodeRequest({ code, identifier: id, attributes: attrs, secret: ep.secret, authenticator: rnd(16), messageAuthenticator: true })
        : radius.encodeRequest({ code, identifier: id, attributes: attrs, secret: ep.secret, messageAuthenticator: false });
    } catch (e) {
      return Promise.reject(e);
    }
    const seq = nextSeq;
    nextSeq = (nextSeq + 1) & 0x3fffffff;
    return new Promise<RadiusPacket | 'timeout'>((resolve, reject) => {
      const pend: Pending = { ep, slot, id, code, authenticator: enc.authenticator, bytes: enc.bytes, maxTries, seq, sent: 0, bucket: undefined, resolve, reject };
      slot.pending[id] = pend;
      slot.count++;
      transmit(pend);
    });
  }

  function markDead(ep: Endpoint, since: number): void {
    // Only a server silent since the failed request started is dead (RFC 5080 §2.2.1 caution
    // against declaring a loaded but live server dead).
    if (!ep.alive || ep.lastResponseMs >= since) return;
    ep.alive = false;
    ep.deadSinceMs = clock.now();
    st.serverDown++;
    log.warn({ group: config.name, server: ep.key, kind: ep.kind }, 'radius: server marked dead');
    scheduleRevival(ep);
  }

  function markAlive(ep: Endpoint): void {
    if (ep.alive) return;
    ep.alive = true;
    st.serverUp++;
    log.info({ group: config.name, server: ep.key, kind: ep.kind }, 'radius: server alive again');
  }

  function scheduleRevival(ep: Endpoint): void {
    if (closed || ep.alive || ep.probing) return;
    ep.probing = true;
    const delay = useStatusServer ? statusIntervalMs : deadTimeMs;
    ep.probeTimer = clock.setTimeout(() => {
      ep.probeTimer = undefined;
      if (closed || ep.alive) { ep.probing = false; return; }
      if (!useStatusServer) {
        // Without Status-Server the server is retried after dead time (RFC 5080 §2.2.1 style).
        ep.probing = false;
        markAlive(ep);
        return;
      }
      st.statusProbes++;
      // RFC 5997 §3: Status-Server with Message-Authenticator; any verified answer means alive.
      transact(ep, RadiusCode.StatusServer, [], 1).then(
        (r) => {
          ep.probing = false;
          if (r !== 'timeout') markAlive(ep);
          else scheduleRevival(ep);
        },
        () => { ep.probing = false; scheduleRevival(ep); },
      );
    }, delay);
  }

  async function request(req: RadiusRequest): Promise<RadiusResponse> {
    if (closed) throw new BngError('BNG_ERR_RADIUS_TIMEOUT', `radius group ${config.name}: client closed`);
    st.requests++;
    const eps = endpoints[req.kind];
    // Alive servers in priority order; when none is alive, try the dead ones anyway rather than fail.
    const order = eps.every((e) => e.alive) ? eps : [...eps.filter((e) => e.alive), ...eps.filter((e) => !e.alive)];
    const started = clock.now();
    for (let i = 0; i < order.length; i++) {
      const ep = order[i]!;
      if (i > 0) st.failovers++;
      const attemptStart = i === 0 ? started : clock.now();
      const attrs = typeof req.attributes === 'function' ? req.attributes(attemptStart) : req.attributes;
      // A new attempt on another server is a new packet: new Identifier, authenticator and
      // signature with that server's secret.
      const r = await transact(ep, req.code, attrs, tries);
      if (r !== 'timeout') {
        markAlive(ep);
        return { packet: r, attributes: radius.decodeAttributes(r.attributes, dict), server: ep.key, rttMs: clock.now() - attemptStart };
      }
      markDead(ep, attemptStart);
    }
    st.timeouts++;
    throw new BngError('BNG_ERR_RADIUS_TIMEOUT', `radius group ${config.name}: no ${req.kind} server answered`, { waitedMs: clock.now() - started, servers: order.map((e) => e.key) });
  }

  return {
    request,
    stats: () => ({ ...st }),
    servers: () => [...endpoints.auth, ...endpoints.acct].map((e) => ({ endpoint: e.key, kind: e.kind, alive: e.alive, lastResponseMs: e.lastResponseMs })),
    dictionary: dict,
    name: config.name,
    close: () => {
      closed = true;
      for (const e of byKey.values()) clock.clearTimeout(e.probeTimer);
      for (const b of buckets) clock.clearTimeout(b.handle);
      buckets.clear();
      bucket = undefined;
      for (const slot of allSlots) {
        for (const p of slot.pending) if (p !== undefined) finish(p, closedError());
        slot.sock.close();
      }
      for (const w of waiters.splice(0)) w();
    },
  };
}

/** crypto.randomBytes drawn in 64 KiB blocks: one syscall for thousands of authenticators. */
function pooledRandomBytes(): (n: number) => Uint8Array {
  // A plain Uint8Array view: Buffer's own subarray() is slower.
  const draw = (): Uint8Array => {
    const b = cryptoRandomBytes(65536);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  };
  let pool = draw();
  let off = 0;
  return (n) => {
    if (off + n > pool.length) {
      pool = draw();
      off = 0;
    }
    const out = pool.subarray(off, off + n);
    off += n;
    return out;
  };
}

/** Which response codes answer which request codes (RFC 2865 §3, RFC 2866 §3, RFC 5997 §3). */
function codeAnswers(request: number, response: number): boolean {
  switch (request) {
    case RadiusCode.AccessRequest:
      return response === RadiusCode.AccessAccept || response === RadiusCode.AccessReject || response === RadiusCode.AccessChallenge;
    case RadiusCode.AccountingRequest:
      return response === RadiusCode.AccountingResponse;
    case RadiusCode.StatusServer:
      return response === RadiusCode.AccessAccept || response === RadiusCode.AccountingResponse;
    default:
      return false;
  }
}

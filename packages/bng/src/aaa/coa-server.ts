/**
 * Dynamic Authorization server (RFC 5176): CoA-Request and Disconnect-Request from configured
 * clients only, verified, replay-checked, matched to sessions through the injected registry,
 * and carried out through injected actions. The processor decides on bytes (no sockets); the
 * server binds UDP 3799 and feeds it.
 */
import { BngError } from '@bng/api';
import { radius } from '@bng/protocols';
import { extractRateLimit, type RateLimit, type RateLimitMapping } from './aaa-service.js';
import type { AaaClock, AaaLogger, UdpRemote, UdpSocket, UdpSocketFactory } from './types.js';

type DecodedAttribute = radius.DecodedAttribute;
const { RadiusCode, ErrorCause, encodeAttribute, findAttribute } = radius;

export interface CoaClientConfig {
  /** Source IP the requests come from. */
  readonly address: string;
  readonly secret: string;
  /** Refuse requests without Message-Authenticator (default false: radclient and many servers omit it). */
  readonly requireMessageAuthenticator?: boolean;
}

export interface CoaConfig {
  readonly clients: readonly CoaClientConfig[];
  /** RFC 5176 §7.4 replay window for Event-Timestamp (default 300 s). */
  readonly eventTimestampWindowSec?: number;
  /** NAK requests without Event-Timestamp (default false). */
  readonly requireEventTimestamp?: boolean;
  /** Our identity: a request naming another NAS gets NAS-Identification-Mismatch. */
  readonly nasIdentifier?: string;
  readonly nasIpAddress?: string;
  /** Vendor attributes carrying rates in a CoA (same mapping as for Access-Accept). */
  readonly rateLimit?: RateLimitMapping;
  /** A CoA Filter-Id equal to this moves the subscriber into the walled garden; any other Filter-Id moves it out. */
  readonly walledGardenFilterId?: string;
}

export interface CoaServerConfig extends CoaConfig {
  readonly listenAddress?: string;
  /** Default 3799 (RFC 5176 §2.3). */
  readonly port?: number;
}

export interface CoaSessionRef {
  readonly sessionId: string;
  readonly userName: string;
  readonly framedIp?: string;
}

/** How the CoA server finds sessions: every given key must match. */
export interface CoaSessionRegistry {
  find(query: { readonly acctSessionId?: string; readonly userName?: string; readonly framedIp?: string }): CoaSessionRef[];
}

/** What the CoA server asks the daemon to do; a rejection becomes a NAK. */
export interface CoaActions {
  changeRate(session: CoaSessionRef, rate: RateLimit): Promise<void>;
  setWalledGarden(session: CoaSessionRef, on: boolean): Promise<void>;
  /** Ends the session; the daemon sends the Accounting-Stop (cause Admin-Reset). */
  disconnect(session: CoaSessionRef): Promise<void>;
  setSessionTimeout?(session: CoaSessionRef, seconds: number): Promise<void>;
}

export interface CoaDeps {
  readonly clock: AaaClock;
  readonly log: AaaLogger;
  readonly sessions: CoaSessionRegistry;
  readonly actions: CoaActions;
  readonly dictionary?: radius.Dictionary;
}

export interface CoaStats {
  received: number;
  unknownClient: number;
  malformed: number;
  badCode: number;
  badAuthenticator: number;
  replayed: number;
  duplicates: number;
  acks: number;
  naks: number;
}

export interface CoaProcessor {
  /** Returns the reply to send back to `from`, or undefined to drop silently. */
  handle(bytes: Uint8Array, from: UdpRemote): Promise<Uint8Array | undefined>;
  stats(): Readonly<CoaStats>;
}

/** Attributes that identify the NAS or the session, or are protocol plumbing (RFC 5176 §3). */
const IDENTIFICATION = new Set(['user-name', 'acct-session-id', 'framed-ip-address', 'nas-identifier', 'nas-ip-address', 'nas-ipv6-address', 'nas-port-id', 'nas-port', 'calling-station-id', 'called-station-id', 'event-timestamp', 'message-authenticator', 'proxy-state', 'state', 'acct-multi-session-id', 'chargeable-user-identity', 'service-type', 'acct-terminate-cause', 'reply-message']);

export function createCoaProcessor(config: CoaConfig, deps: CoaDeps): CoaProcessor {
  const dict = deps.dictionary ?? radius.createDictionary();
  const window = config.eventTimestampWindowSec ?? 300;
  const clients = new Map(config.clients.map((c) => [c.address, { ...c, key: Buffer.from(c.secret) }]));
  const st: CoaStats = { received: 0, unknownClient: 0, malformed: 0, badCode: 0, badAuthenticator: 0, replayed: 0, duplicates: 0, acks: 0, naks: 0 };
  const rateNames = new Set([config.rateLimit?.up?.attribute, config.rateLimit?.down?.attribute, config.rateLimit?.combined?.attribute].filter((x): x is string => !!x).map((x) => x.toLowerCase()));
  // Answers by (client, Identifier, authenticator), so a retransmitted request is answered the
  // same way without running its action twice.
  const recent = new Map<string, { at: number; reply: Promise<Uint8Array | undefined> }>();

  async function process(p: radius.RadiusPacket, secret: Uint8Array, hadMa: boolean): Promise<Uint8Array> {
    const attrs = radius.decodeAttributes(p.attributes, dict);
    const isDisconnect = p.code === RadiusCode.DisconnectRequest;
    const reply = (ok: boolean, cause?: number): Uint8Array => {
      const out: radius.RawAttribute[] = [];
      if (cause !== undefined) out.push(encodeAttribute(dict, 'Error-Cause', cause));
      // RFC 2865 §5.33: Proxy-State is echoed unchanged, in order.
      for (const a of p.attributes) if (a.type === radius.AttrType.ProxyState) out.push(a);
      if (ok) st.acks++;
      else st.naks++;
      const code = isDisconnect ? (ok ? RadiusCode.DisconnectAck : RadiusCode.DisconnectNak) : ok ? RadiusCode.CoaAck : RadiusCode.CoaNak;
      // RFC 5176 §3.2: a reply to a request that carried Message-Authenticator carries one too.
      return radius.encodeResponse({ code, identifier: p.identifier, attributes: out, secret, requestAuthenticator: p.authenticator, messageAuthenticator: hadMa });
    };
    const str = (n: string): string | undefined => {
      const a = findAttribute(attrs, n);
      return a && !a.malformed && typeof a.value === 'string' ? a.value : undefined;
    };
    const bad = attrs.find((a) => a.malformed);
    if (bad) return reply(false, ErrorCause.InvalidAttributeValue); // RFC 5176 §3.5: 407
    const ts = findAttribute(attrs, 'Event-Timestamp');
    if (!ts && config.requireEventTimestamp) return reply(false, ErrorCause.MissingAttribute);
    // RFC 5176 §3.5: a request for another NAS gets NAS-Identification-Mismatch.
    const nasId = str('NAS-Identifier');
    const nasIp = str('NAS-IP-Address');
    if ((nasId !== undefined && config.nasIdentifier !== undefined && nasId !== config.nasIdentifier) || (nasIp !== undefined && config.nasIpAddress !== undefined && nasIp !== config.nasIpAddress)) {
      return reply(false, ErrorCause.NasIdentificationMismatch);
    }
    // RFC 5176 §3.2: Service-Type Authorize-Only asks the NAS to re-authorize with an
    // Access-Request; not offered here, so Unsupported-Service (405).
    if (findAttribute(attrs, 'Service-Type')?.value === 17) return reply(false, ErrorCause.UnsupportedService);
    const query = {
      ...(str('Acct-Session-Id') !== undefined ? { acctSessionId: str('Acct-Session-Id')! } : {}),
      ...(str('User-Name') !== undefined ? { userName: str('User-Name')! } : {}),
      ...(str('Framed-IP-Address') !== undefined ? { framedIp: str('Framed-IP-Address')! } : {}),
    };
    // RFC 5176 §3: the session is identified by Acct-Session-Id, User-Name or Framed-IP-Address.
    if (Object.keys(query).length === 0) return reply(false, ErrorCause.MissingAttribute);
    const unsupported = attrs.filter((a) => {
      const n = a.name.toLowerCase();
      if (IDENTIFICATION.has(n)) return false;
      if (isDisconnect) return true; // RFC 5176 §3: Disconnect carries identification only
      return !(n === 'filter-id' || n === 'session-timeout' || rateNames.has(n));
    });
    if (unsupported.length > 0) {
      deps.log.info({ attrs: unsupported.map((a) => a.name) }, 'coa: unsupported attributes');
      return reply(false, ErrorCause.UnsupportedAttribute); // RFC 5176 §3.5: 401
    }
    const sessions = deps.sessions.find(query);
    if (sessions.length === 0) return reply(false, ErrorCause.SessionContextNotFound); // 503
    if (isDisconnect) {
      try {
        for (const s of sessions) await deps.actions.disconnect(s);
      } catch (e) {
        deps.log.warn({ err: (e as Error).message }, 'coa: disconnect failed');
        return reply(false, ErrorCause.SessionContextNotRemovable); // 504
      }
      return reply(true);
    }
    const rate = extractRateLimit(attrs, config.rateLimit);
    const filterId = str('Filter-Id');
    const timeout = findAttribute(attrs, 'Session-Timeout');
    if (!rate && filterId === undefined && !timeout) return reply(false, ErrorCause.MissingAttribute);
    if (timeout && !deps.actions.setSessionTimeout) return reply(false, ErrorCause.UnsupportedAttribute);
    try {
      for (const s of sessions) {
        if (rate) await deps.actions.changeRate(s, rate);
        if (filterId !== undefined) await deps.actions.setWalledGarden(s, filterId === config.walledGardenFilterId);
        if (timeout && typeof timeout.value === 'number') await deps.actions.setSessionTimeout!(s, timeout.value);
      }
    } catch (e) {
      deps.log.warn({ err: (e as Error).message }, 'coa: change failed');
      return reply(false, ErrorCause.ResourcesUnavailable); // 506
    }
    return reply(true);
  }

  return {
    stats: () => ({ ...st }),
    async handle(bytes, from) {
      st.received++;
      const client = clients.get(from.address);
      // RFC 5176 §3: requests from anyone but a configured client are silently discarded.
      if (!client) {
        st.unknownClient++;
        return undefined;
      }
      let p: radius.RadiusPacket;
      try {
        p = radius.decodePacket(bytes);
      } catch {
        st.malformed++;
        return undefined;
      }
      if (p.code !== RadiusCode.CoaRequest && p.code !== RadiusCode.DisconnectRequest) {
        st.badCode++;
        return undefined;
      }
      const v = radius.verifyRequest(p, client.key, client.requireMessageAuthenticator ?? false);
      if (!v.ok) {
        // RFC 5176 §3: an invalid Request Authenticator or Message-Authenticator: silently discard.
        st.badAuthenticator++;
        deps.log.warn({ from: from.address, reason: v.reason }, 'coa: request failed verification');
        return undefined;
      }
      const now = deps.clock.now();
      for (const [k, e] of recent) if (now - e.at > 30_000) recent.delete(k); else break;
      const key = `${from.address}:${from.port}/${p.identifier}/${Buffer.from(p.authenticator).toString('hex')}`;
      const dup = recent.get(key);
      if (dup) {
        st.duplicates++;
        return dup.reply;
      }
      const tsAttr = p.attributes.find((a) => a.type === radius.AttrType.EventTimestamp);
      if (tsAttr && tsAttr.value.length === 4) {
        const ts = Buffer.from(tsAttr.value).readUInt32BE(0);
        // RFC 5176 §7.4: a request outside the Event-Timestamp window is a replay: discard.
        if (Math.abs(now / 1000 - ts) > window) {
          st.replayed++;
          deps.log.warn({ from: from.address, eventTimestamp: ts }, 'coa: Event-Timestamp outside the window, discarded');
          return undefined;
        }
      }
      const reply = process(p, client.key, v.messageAuthenticator);
      recent.set(key, { at: now, reply });
      return reply;
    },
  };
}

export interface CoaServer {
  readonly port: number;
  stats(): Readonly<CoaStats>;
  close(): void;
}

export async function createCoaServer(config: CoaServerConfig, deps: CoaDeps & { readonly socketFactory: UdpSocketFactory }): Promise<CoaServer> {
  const proc = createCoaProcessor(config, deps);
  let sock: UdpSocket;
  try {
    sock = await deps.socketFactory(config.listenAddress ?? '0.0.0.0', config.port ?? 3799);
  } catch (e) {
    throw new BngError('BNG_ERR_SYSCALL', `coa: cannot bind ${config.listenAddress ?? '0.0.0.0'}:${config.port ?? 3799}: ${(e as Error).message}`);
  }
  sock.onMessage((data, from) => {
    proc.handle(data, from).then(
      (reply) => { if (reply) sock.send(reply, from.port, from.address); },
      (e: unknown) => deps.log.error({ err: (e as Error).message }, 'coa: request handling failed'),
    );
  });
  return { port: sock.port(), stats: proc.stats, close: () => sock.close() };
}

/**
 * Authentication towards each ISP's RADIUS servers (the realm picks the server group): turns a
 * subscriber identity into an Access-Request and the answer into a typed session authorization
 * or a refuse / walled-garden decision per config.
 */
import { BngError, isBngError } from '@bng/api';
import { radius } from '@bng/protocols';
import { createRadiusClient, type RadiusClient, type RadiusServerGroupConfig } from './radius-client.js';
import type { AaaClock, AaaLogger, UdpSocketFactory } from './types.js';

type DecodedAttribute = radius.DecodedAttribute;
type OutgoingAttribute = radius.OutgoingAttribute;
const { RadiusCode, encodeAttribute, findAttribute, findAllAttributes } = radius;

/** Who is asking: what the DHCP (or PPPoE) server knows about the subscriber. */
export interface SubscriberIdentity {
  /** Client MAC, any common notation. */
  readonly mac: string;
  /** ISP realm (selects the RADIUS server group; `{realm}` in templates). */
  readonly realm: string;
  /** DHCP Option 82 sub-options 1 and 2 (RFC 3046), raw or text. */
  readonly circuitId?: Uint8Array | string;
  readonly remoteId?: Uint8Array | string;
  readonly svlan?: number;
  readonly cvlan?: number;
  readonly interfaceName?: string;
  /** PPPoE: PAP credentials (RFC 1334) ... */
  readonly pap?: { readonly username: string; readonly password: string };
  /** ... or a CHAP exchange (RFC 1994): the id, the challenge sent and the peer's 16-octet response. */
  readonly chap?: { readonly username: string; readonly id: number; readonly challenge: Uint8Array; readonly response: Uint8Array };
  /** Acct-Session-Id the session will use, sent in the Access-Request for correlation. */
  readonly acctSessionId?: string;
}

/** Where a vendor attribute carries a rate and in which unit. */
export interface RateAttributeMapping {
  readonly attribute: string;
  readonly unit: 'bps' | 'kbps' | 'mbps';
}

export interface RateLimitMapping {
  readonly up?: RateAttributeMapping;
  readonly down?: RateAttributeMapping;
  /** A single "up/down" string attribute with k/M/G suffixes, MikroTik style (rx/tx as seen by the NAS). */
  readonly combined?: { readonly attribute: string };
}

export interface AaaServiceConfig {
  readonly nasIdentifier: string;
  readonly nasIpAddress?: string;
  /**
   * Templates. Placeholders: {mac} aa:bb:cc:dd:ee:ff, {MAC} upper case, {mac-dash} aa-bb-...,
   * {mac-plain} aabbcc..., {circuit-id}, {remote-id}, {svlan}, {cvlan}, {interface}, {realm}.
   */
  readonly userName?: string;
  readonly password?: string;
  readonly nasPortId?: string;
  readonly callingStationId?: string;
  /** Send Option 82 ids as ADSL-Agent-Circuit-Id / -Remote-Id (RFC 4679 §4). Default true. */
  readonly sendAgentIds?: boolean;
  /** What an Access-Reject means for an IPoE subscriber. */
  readonly onReject?: 'refuse' | 'walled-garden';
  /** What "no server answered" means. */
  readonly onTimeout?: 'refuse' | 'walled-garden';
  readonly rateLimit?: RateLimitMapping;
  /** Server groups by realm. */
  readonly realms: Readonly<Record<string, RadiusServerGroupConfig>>;
  /** Realm used when the identity's realm has no group. */
  readonly defaultRealm?: string;
}

export interface RateLimit {
  readonly upKbps?: number;
  readonly downKbps?: number;
}

export interface SessionAuthorization {
  readonly userName: string;
  readonly realm: string;
  readonly framedIp?: string;
  readonly framedNetmask?: string;
  readonly framedPool?: string;
  readonly sessionTimeoutSec?: number;
  readonly idleTimeoutSec?: number;
  readonly filterIds: readonly string[];
  /** Class values, echoed unchanged in every accounting record (RFC 2865 §5.25). */
  readonly classes: readonly Uint8Array[];
  readonly interimIntervalSec?: number;
  readonly rateLimit?: RateLimit;
  readonly replyMessages: readonly string[];
  /** Every attribute of the Accept, typed, for policy the service does not map itself. */
  readonly attributes: readonly DecodedAttribute[];
}

export type AuthDecision =
  | { readonly kind: 'accept'; readonly authorization: SessionAuthorization }
  | { readonly kind: 'walled-garden'; readonly reason: 'rejected' | 'timeout' | 'challenge'; readonly userName: string; readonly realm: string; readonly replyMessages: readonly string[] }
  | { readonly kind: 'refuse'; readonly reason: 'rejected' | 'timeout' | 'challenge'; readonly userName: string; readonly realm: string; readonly replyMessages: readonly string[] };

export interface AaaService {
  authorize(identity: SubscriberIdentity): Promise<AuthDecision>;
  /** The realm's client (the accounting manager shares it). */
  clientFor(realm: string): RadiusClient;
  /** The clients created so far (for metrics). */
  clients(): RadiusClient[];
  close(): void;
}

export interface AaaServiceDeps {
  readonly clock: AaaClock;
  readonly log: AaaLogger;
  readonly socketFactory: UdpSocketFactory;
  readonly dictionary?: radius.Dictionary;
  /** Override client creation (tests, or sharing clients between components). */
  readonly createClient?: (config: RadiusServerGroupConfig) => RadiusClient;
}

export function normaliseMac(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  if (hex.length !== 12) throw new BngError('BNG_ERR_BAD_REQUEST', `not a MAC address: ${mac}`);
  return hex.match(/../g)!.join(':');
}

function text(v: Uint8Array | string | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  // Printable circuit/remote ids stay text; binary ones become hex.
  return v.every((b) => b >= 0x20 && b < 0x7f) ? Buffer.from(v).toString('latin1') : Buffer.from(v).toString('hex');
}

/** Expands a template; unknown placeholders are a configuration error. */
export function expandTemplate(template: string, id: SubscriberIdentity): string {
  const mac = normaliseMac(id.mac);
  const values: Record<string, string> = {
    mac, MAC: mac.toUpperCase(), 'mac-dash': mac.replace(/:/g, '-'), 'mac-plain': mac.replace(/:/g, ''),
    'circuit-id': text(id.circuitId), 'remote-id': text(id.remoteId), svlan: id.svlan?.toString() ?? '', cvlan: id.cvlan?.toString() ?? '',
    interface: id.interfaceName ?? '', realm: id.realm,
  };
  return template.replace(/\{([A-Za-z-]+)\}/g, (_m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new BngError('BNG_ERR_CONFIG_INVALID', `radius template ${template}: unknown placeholder {${k}}`);
    return v;
  });
}

const SCALE = { bps: 1 / 1000, kbps: 1, mbps: 1000 } as const;

function parseRateToken(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$/.exec(s);
  if (!m) return undefined;
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round((Number(m[1]) * mult) / 1000); // kbit/s
}

/** Maps the configured vendor attributes to rates in kbit/s; undefined when none is present. */
export function extractRateLimit(attrs: readonly DecodedAttribute[], mapping: RateLimitMapping | undefined): RateLimit | undefined {
  if (!mapping) return undefined;
  let up: number | undefined;
  let down: number | undefined;
  const num = (m: RateAttributeMapping | undefined): number | undefined => {
    if (!m) return undefined;
    const a = findAttribute(attrs, m.attribute);
    if (!a || a.malformed || typeof a.value !== 'number') return undefined;
    return Math.round(a.value * SCALE[m.unit]);
  };
  up = num(mapping.up);
  down = num(mapping.down);
  if (mapping.combined) {
    const a = findAttribute(attrs, mapping.combined.attribute);
    if (a && typeof a.value === 'string') {
      // "rx/tx [burst...]": rx is what the NAS receives from the subscriber (upload).
      const [rx, tx] = a.value.split(/\s+/)[0]!.split('/');
      up ??= rx !== undefined ? parseRateToken(rx) : undefined;
      down ??= tx !== undefined ? parseRateToken(tx) : up;
    }
  }
  if (up === undefined && down === undefined) return undefined;
  return { ...(up !== undefined ? { upKbps: up } : {}), ...(down !== undefined ? { downKbps: down } : {}) };
}

/** Turns an Access-Accept into the session authorization. */
export function authorizationFromAccept(attrs: readonly DecodedAttribute[], userName: string, realm: string, mapping?: RateLimitMapping): SessionAuthorization {
  const str = (n: string): string | undefined => {
    const a = findAttribute(attrs, n);
    return a && !a.malformed && typeof a.value === 'string' ? a.value : undefined;
  };
  const int = (n: string): number | undefined => {
    const a = findAttribute(attrs, n);
    return a && !a.malformed && typeof a.value === 'number' ? a.value : undefined;
  };
  let framedIp = str('Framed-IP-Address');
  // RFC 2865 §5.8: 255.255.255.255 = the NAS lets the user choose, 255.255.255.254 = the NAS
  // picks from its pool; both mean "no fixed address" here.
  if (framedIp === '255.255.255.255' || framedIp === '255.255.255.254') framedIp = undefined;
  const rl = extractRateLimit(attrs, mapping);
  const out: SessionAuthorization = {
    userName, realm,
    filterIds: findAllAttributes(attrs, 'Filter-Id').flatMap((a) => (typeof a.value === 'string' ? [a.value] : [])),
    classes: findAllAttributes(attrs, 'Class').map((a) => a.raw),
    replyMessages: findAllAttributes(attrs, 'Reply-Message').flatMap((a) => (typeof a.value === 'string' ? [a.value] : [])),
    attributes: attrs,
    ...(framedIp !== undefined ? { framedIp } : {}),
    ...(str('Framed-IP-Netmask') !== undefined ? { framedNetmask: str('Framed-IP-Netmask')! } : {}),
    ...(str('Framed-Pool') !== undefined ? { framedPool: str('Framed-Pool')! } : {}),
    ...(int('Session-Timeout') !== undefined ? { sessionTimeoutSec: int('Session-Timeout')! } : {}),
    ...(int('Idle-Timeout') !== undefined ? { idleTimeoutSec: int('Idle-Timeout')! } : {}),
    // RFC 2869 §5.16: an interval under 60 s SHOULD NOT be used; clamp up to 60.
    ...(int('Acct-Interim-Interval') !== undefined ? { interimIntervalSec: Math.max(60, int('Acct-Interim-Interval')!) } : {}),
    ...(rl ? { rateLimit: rl } : {}),
  };
  return out;
}

/**
 * Where the subscriber's address comes from, in the order the issue fixes: the Accept's
 * Framed-IP-Address, else the pool it names, else the local pool.
 */
export type AddressSource = { readonly kind: 'fixed'; readonly ip: string } | { readonly kind: 'pool'; readonly pool: string } | { readonly kind: 'local' };

export function addressSource(auth: SessionAuthorization): AddressSource {
  if (auth.framedIp !== undefined) return { kind: 'fixed', ip: auth.framedIp };
  if (auth.framedPool !== undefined) return { kind: 'pool', pool: auth.framedPool };
  return { kind: 'local' };
}

export function createAaaService(config: AaaServiceConfig, deps: AaaServiceDeps): AaaService {
  const dict = deps.dictionary ?? radius.createDictionary();
  const userNameT = config.userName ?? '{mac}';
  const passwordT = config.password ?? '{mac}';
  const nasPortIdT = config.nasPortId ?? '{interface}:{svlan}.{cvlan}';
  const callingT = config.callingStationId ?? '{mac}';
  const sendAgentIds = config.sendAgentIds ?? true;
  const onReject = config.onReject ?? 'refuse';
  const onTimeout = config.onTimeout ?? 'refuse';
  // Templates are checked at start so a typo fails the config, not the first subscriber.
  const probeId: SubscriberIdentity = { mac: '00:00:00:00:00:00', realm: 'x' };
  for (const t of [userNameT, passwordT, nasPortIdT, callingT]) expandTemplate(t, probeId);
  if (config.rateLimit?.up && !dict.attribute(config.rateLimit.up.attribute)) throw new BngError('BNG_ERR_CONFIG_INVALID', `rate-limit attribute ${config.rateLimit.up.attribute} is not in the dictionary`);
  if (config.rateLimit?.down && !dict.attribute(config.rateLimit.down.attribute)) throw new BngError('BNG_ERR_CONFIG_INVALID', `rate-limit attribute ${config.rateLimit.down.attribute} is not in the dictionary`);

  const clients = new Map<string, RadiusClient>();
  const make = deps.createClient ?? ((c: RadiusServerGroupConfig) => createRadiusClient(c, { clock: deps.clock, log: deps.log, socketFactory: deps.socketFactory, dictionary: dict }));
  const inflight = new Map<string, Promise<AuthDecision>>();

  function clientFor(realm: string): RadiusClient {
    const key = config.realms[realm] ? realm : config.defaultRealm;
    const group = key !== undefined ? config.realms[key] : undefined;
    if (!group || key === undefined) throw new BngError('BNG_ERR_RADIUS_REALM_UNKNOWN', `no RADIUS server group for realm ${realm}`);
    let c = clients.get(key);
    if (!c) {
      c = make(group);
      clients.set(key, c);
    }
    return c;
  }

  function buildAttributes(id: SubscriberIdentity, userName: string): OutgoingAttribute[] {
    const attrs: OutgoingAttribute[] = [encodeAttribute(dict, 'User-Name', userName)];
    if (id.chap) {
      // RFC 2865 §5.3 / §5.40: CHAP-Password = ident + response; the challenge goes in
      // CHAP-Challenge (not the authenticator) so it can be any length.
      const v = new Uint8Array(17);
      v[0] = id.chap.id & 0xff;
      if (id.chap.response.length !== 16) throw new BngError('BNG_ERR_BAD_REQUEST', 'CHAP response must be 16 octets');
      v.set(id.chap.response, 1);
      attrs.push(encodeAttribute(dict, 'CHAP-Password', v), encodeAttribute(dict, 'CHAP-Challenge', id.chap.challenge));
    } else {
      const pw = id.pap ? id.pap.password : expandTemplate(passwordT, id);
      attrs.push({ ...encodeAttribute(dict, 'User-Password', pw), hide: 'user-password' });
    }
    attrs.push(encodeAttribute(dict, 'NAS-Identifier', config.nasIdentifier));
    if (config.nasIpAddress) attrs.push(encodeAttribute(dict, 'NAS-IP-Address', config.nasIpAddress));
    attrs.push(encodeAttribute(dict, 'Service-Type', 'Framed-User'));
    attrs.push(encodeAttribute(dict, 'NAS-Port-Type', id.pap || id.chap ? (id.cvlan !== undefined && id.svlan !== undefined ? 'PPPoEoQinQ' : 'PPPoEoVLAN') : 'Ethernet'));
    const portId = expandTemplate(nasPortIdT, id);
    if (portId !== '') attrs.push(encodeAttribute(dict, 'NAS-Port-Id', portId));
    const calling = expandTemplate(callingT, id);
    if (calling !== '') attrs.push(encodeAttribute(dict, 'Calling-Station-Id', calling));
    if (sendAgentIds && id.circuitId !== undefined && id.circuitId.length > 0) attrs.push(encodeAttribute(dict, 'ADSL-Agent-Circuit-Id', id.circuitId));
    if (sendAgentIds && id.remoteId !== undefined && id.remoteId.length > 0) attrs.push(encodeAttribute(dict, 'ADSL-Agent-Remote-Id', id.remoteId));
    if (id.acctSessionId) attrs.push(encodeAttribute(dict, 'Acct-Session-Id', id.acctSessionId));
    return attrs;
  }

  async function run(id: SubscriberIdentity, userName: string): Promise<AuthDecision> {
    const client = clientFor(id.realm);
    const fail = (reason: 'rejected' | 'timeout' | 'challenge', policy: 'refuse' | 'walled-garden', msgs: string[]): AuthDecision =>
      ({ kind: policy, reason, userName, realm: id.realm, replyMessages: msgs });
    let r;
    try {
      r = await client.request({ kind: 'auth', code: RadiusCode.AccessRequest, attributes: buildAttributes(id, userName) });
    } catch (e) {
      if (!isBngError(e, 'BNG_ERR_RADIUS_TIMEOUT')) throw e;
      deps.log.warn({ realm: id.realm, userName }, 'radius: no answer, applying onTimeout policy');
      return fail('timeout', onTimeout, []);
    }
    const msgs = findAllAttributes(r.attributes, 'Reply-Message').flatMap((a) => (typeof a.value === 'string' ? [a.value] : []));
    if (r.packet.code === RadiusCode.AccessAccept) {
      return { kind: 'accept', authorization: authorizationFromAccept(r.attributes, userName, id.realm, config.rateLimit) };
    }
    // RFC 2865 §4.4: an IPoE NAS cannot run an interactive challenge; treat it as a reject.
    if (r.packet.code === RadiusCode.AccessChallenge) return fail('challenge', onReject, msgs);
    return fail('rejected', onReject, msgs);
  }

  return {
    authorize(id) {
      const userName = id.pap?.username ?? id.chap?.username ?? expandTemplate(userNameT, id);
      // Repeated DISCOVERs while the first is being authenticated share one Access-Request.
      const key = `${id.realm}\u0000${userName}`;
      const existing = inflight.get(key);
      if (existing) return existing;
      const p = run(id, userName).finally(() => inflight.delete(key));
      inflight.set(key, p);
      return p;
    },
    clientFor,
    clients: () => [...clients.values()],
    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

/**
 * The DHCPv4 slow path as a running service: what the XDP program passes up arrives here, the
 * sans-IO server decides, and the replies leave.
 *
 * - Directly attached clients: an AF_PACKET socket on the subscriber interface (with a classic
 *   BPF filter for UDP to port 67), because a client without an address is answered at layer 2
 *   (RFC 2131 §4.1: unicast to chaddr/yiaddr, or broadcast). Tags are put back in the reply.
 * - Relayed requests (giaddr set): a UDP socket on port 67; replies go to the relay's port 67
 *   (RFC 2131 §4.1, RFC 1542 §4.1). Each path ignores what belongs to the other, since both
 *   see a relayed frame and a client's broadcast.
 *
 * Group commit: a receive batch is decided as a whole and its journal entries written at once;
 * OFFERs and NAKs leave at once (an offer is not a binding: RFC 2131 §4.3.1 lets the server
 * forget it), while every ACK is held until the journal's fdatasync covers all that was appended
 * before it, so no ACK leaves for a binding a crash of the machine could forget. With more than
 * one CPU the sync runs on libuv's thread pool and the next batches are decided meanwhile (they
 * share the next sync); on one CPU it runs inline after the batch's other replies are sent.
 */
import { networkInterfaces } from 'node:os';
import { PacketSocket, UdpBatchSocket, EtherTypes, dhcpServerFilter, type Datagram, type DhcpFastPath, type ReceivedFrame } from '@bng/datapath';
import { buildUdpFrame, dhcp4, ipToU32, parseFrame, u32ToIp } from '@bng/protocols';
import { clientKeyOf, createDhcp4Server, Dhcp4Reason, type Dhcp4Action, type Dhcp4RequestMeta, type Dhcp4Server } from '../dhcp/server.js';
import type { ResolvedDhcp4Config, Dhcp4ServerConfig } from '../dhcp/config.js';
import { LeaseState, type LeaseRecord, type LeaseStore } from '../dhcp/lease-store.js';
import type { LeaseJournal } from '../dhcp/lease-journal.js';
import type { Dhcp4Logger } from '../dhcp/types.js';
import type { TerminateCause } from '../aaa/accounting.js';
import { FastPathSync } from './fastpath-sync.js';
import { UNBIND_CAUSE, type SubscriberSessions } from './subscriber-sessions.js';

const GIADDR_OFFSET = 24;

export interface DhcpServiceStats {
  /** frames read from AF_PACKET, datagrams from UDP */
  rxFrames: number;
  rxDatagrams: number;
  /** requests handed to the server, by DHCP message type name */
  requests: Record<string, number>;
  /** replies sent, by message type name */
  replies: Record<string, number>;
  /** frames that were not a well-formed IPv4/UDP frame to port 67 */
  malformedFrames: number;
  sendErrors: number;
  journalErrors: number;
  /** requests the server failed on (a defect; logged with the stack) */
  internalErrors: number;
  /** ACKs never sent because the journal could not make their binding durable (a sync failed, or too many waited) */
  withheld: number;
  /** ACKs waiting for the journal's sync now */
  held: number;
  /** DISCOVERs of clients without a session held while RADIUS decides (AAA on) */
  heldForAuth: number;
}

/** where a request came from, so a reply decided later (after RADIUS) goes back the same way */
type Origin = { readonly kind: 'frame'; readonly tags: ReturnType<typeof parseFrame>['vlans'] } | { readonly kind: 'udp' };

/** a DISCOVER waiting for its client's authorization */
interface HeldRequest {
  payload: Uint8Array;
  meta: Dhcp4RequestMeta;
  origin: Origin;
}

/** at most this many ACKs wait for a sync; beyond it the disk is not keeping up and they are dropped (clients retransmit) */
const MAX_HELD = 65_536;

/** a reply decided and not yet sent: an L2 frame or a datagram to a relay */
interface Outgoing {
  /** journal sequence that must be durable before it leaves (0: none) */
  seq: number;
  type: string;
  frame?: Buffer;
  udp?: { payload: Buffer; port: number; ip: number };
  /** runs once the reply has been handed to the socket (the ACK that begins a session) */
  onSent?: () => void;
}

export interface DhcpServiceOptions {
  ifname: string;
  serverMac: string;
  dhcpInput: Dhcp4ServerConfig;
  store: LeaseStore;
  journal?: LeaseJournal;
  fastPath?: DhcpFastPath;
  relayPort?: number;
  /** local address of the relay socket; default: the server identifier when it is a local address */
  relayAddress?: string;
  /** how often leases are expired, ms */
  expireIntervalMs: number;
  log: Dhcp4Logger;
  /**
   * Sync the journal on the event loop right after a batch's OFFERs and NAKs are sent, instead of
   * on libuv's thread pool: the right choice when the daemon has one CPU, where a second thread
   * only competes with the event loop for it (each handoff waits for a scheduler slice).
   */
  syncInline?: boolean;
  /** called with each request's handling time in seconds and its type name */
  observe?: (seconds: number, type: string) => void;
  /** AAA on: every new binding needs a RADIUS authorization first */
  sessions?: SubscriberSessions;
}

// a metric label: values outside RFC 2132 are one bucket, not one series per value a sender picks
const TYPE_NAMES = Array.from({ length: dhcp4.MessageType.DHCPINFORM + 1 }, (_, t) =>
  t >= dhcp4.MessageType.DHCPDISCOVER ? dhcp4.messageTypeName(t).replace(/^DHCP/, '') : 'OTHER',
);
const typeName = (t: number | undefined): string => (t === undefined ? 'NONE' : (TYPE_NAMES[t] ?? 'OTHER'));

export class DhcpService {
  readonly server: Dhcp4Server;
  readonly config: ResolvedDhcp4Config;
  readonly sync: FastPathSync | undefined;
  readonly stats: DhcpServiceStats = { rxFrames: 0, rxDatagrams: 0, requests: {}, replies: {}, malformedFrames: 0, sendErrors: 0, journalErrors: 0, internalErrors: 0, withheld: 0, held: 0, heldForAuth: 0 };
  private packet: PacketSocket | undefined;
  private udp: UdpBatchSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: DhcpServiceOptions;
  private startedAt = 0;
  /** ACKs waiting for the journal, in sequence order */
  private held: Outgoing[] = [];
  /** DISCOVERs waiting for RADIUS, by client key (a retransmission replaces the older one) */
  private readonly authWait = new Map<string, HeldRequest>();
  private closed = false;
  relayAddress: string | undefined;

  constructor(opts: DhcpServiceOptions) {
    this.opts = opts;
    this.server = createDhcp4Server(opts.dhcpInput, { leases: opts.store, clock: { now: () => Date.now() }, log: opts.log, ...(opts.sessions ? { admission: opts.sessions } : {}) });
    this.config = this.server.config;
    this.sync = opts.fastPath ? new FastPathSync(opts.fastPath, opts.store, this.config.pools, opts.log) : undefined;
    if (!opts.syncInline) opts.journal?.onDurable((durable, err) => this.onDurable(durable, err));
  }

  get listening(): { packet: boolean; udp: boolean } {
    return { packet: this.packet !== undefined, udp: this.udp !== undefined };
  }

  async start(): Promise<void> {
    const now = Date.now();
    this.startedAt = now;
    // leases that ran out while the daemon was down end now (their map entries go with them)
    this.sync?.recoverRenewals(now, 0);
    this.apply(this.server.expire(now), now);
    if (this.sync) {
      const r = this.sync.reconcile(now);
      this.opts.log.info({ restored: r.restored, adopted: r.adopted }, 'fast path maps rebuilt from the lease store');
      this.opts.fastPath!.onEvents((events) => {
        this.sync!.onEvents(events, Date.now());
        this.syncJournal();
      });
    }
    this.syncJournal();

    if (this.opts.relayPort !== undefined) {
      // Relays send to our server identifier (RFC 1542 §4.1), so the socket is bound to that
      // address when the host has it: bound to 0.0.0.0 it would take every relayed request that
      // reaches any interface of the host. Without the address configured, 0.0.0.0 it is.
      const local = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address)));
      const ids = [...new Set(this.config.pools.map((p) => u32ToIp(p.serverId)))];
      const address = this.opts.relayAddress ?? (ids.length === 1 && local.has(ids[0]!) ? ids[0]! : '0.0.0.0');
      if (address === '0.0.0.0') this.opts.log.info({ serverIds: ids }, 'relay socket on 0.0.0.0: the server identifier is not (or not uniquely) a local address');
      // a failed bind (BNG_ERR_SYSCALL with its errno) goes up as it is
      const udp = new UdpBatchSocket({ address: ipToU32(address), port: this.opts.relayPort, rcvbufBytes: 8 << 20, sndbufBytes: 4 << 20 });
      udp.onDatagrams((batch) => this.onDatagrams(batch));
      this.udp = udp;
      this.relayAddress = address;
    }
    // relayed requests are the UDP socket's (the relay expects the answer from port 67 of our
    // address); the socket filter keeps them off the AF_PACKET socket
    this.packet = new PacketSocket(this.opts.ifname, { etherType: EtherTypes.ALL, filter: dhcpServerFilter({ directOnly: this.udp !== undefined }) });
    this.packet.onFrames((frames) => this.onFrames(frames));
    this.timer = setInterval(() => this.tick(), this.opts.expireIntervalMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = Date.now();
    this.opts.fastPath?.pollEvents();
    this.sync?.recoverRenewals(now, this.opts.expireIntervalMs);
    this.apply(this.server.expire(now), now);
    this.opts.sessions?.tick(now);
    this.syncJournal();
  }

  /** Ends the binding on `ip` now (session/idle timeout, Disconnect, admin); false when none is bound there. */
  endSession(ip: string, cause: TerminateCause): boolean {
    const now = Date.now();
    const actions = this.server.revoke(ip, now);
    this.apply(actions, now, cause);
    this.syncJournal();
    return actions.length > 0;
  }

  /** Makes lease records changed outside a receive batch durable (CoA updates). */
  persist(): void {
    this.syncJournal();
  }

  /**
   * Changes no reply waits for (kernel renewals, expiry): written and synced like any other,
   * on the pool thread, or at once in inline mode.
   */
  private syncJournal(): void {
    try {
      if (this.opts.syncInline) this.opts.journal?.flush();
      else this.opts.journal?.commit();
    } catch (e) {
      this.stats.journalErrors++;
      this.opts.log.error({ err: (e as Error).message }, 'lease journal write or sync failed');
    }
  }

  /** writes what a receive batch queued and starts its sync (inline mode: `dispatch` syncs); false when the write failed */
  private flushJournal(): boolean {
    try {
      if (this.opts.syncInline) this.opts.journal?.write();
      else this.opts.journal?.commit();
      return true;
    } catch (e) {
      this.stats.journalErrors++;
      this.opts.log.error({ err: (e as Error).message }, 'lease journal write failed: the ACKs of this batch are withheld');
      return false;
    }
  }

  /** the sequence an ACK decided now must wait for: everything appended before it */
  private ackSeq(type: string): number {
    return type === 'ACK' && this.opts.journal ? this.opts.journal.appended : 0;
  }

  /**
   * Sends what may leave now and holds the ACKs whose journal entries are not on disk yet.
   * `writable` false (the journal write failed): the ACKs are dropped, the rest still leaves.
   */
  private dispatch(out: Outgoing[], writable: boolean): void {
    const durable = this.opts.journal?.durable ?? Number.MAX_SAFE_INTEGER;
    const now: Outgoing[] = [];
    for (const o of out) {
      if (o.seq === 0 || o.seq <= durable) now.push(o);
      else if (!writable || this.held.length >= MAX_HELD) this.stats.withheld++;
      else this.held.push(o);
    }
    this.stats.held = this.held.length;
    this.transmit(now);
    if (this.opts.syncInline && this.held.length > 0 && this.opts.journal) {
      try {
        this.opts.journal.flush();
      } catch (e) {
        this.onDurable(0, e as Error);
        return;
      }
      this.onDurable(this.opts.journal.durable);
    }
  }

  private onDurable(durable: number, err?: Error): void {
    if (err) {
      // nothing waiting can be promised: drop it (the clients retransmit; the next batch retries the sync)
      this.stats.journalErrors++;
      this.stats.withheld += this.held.length;
      this.held = [];
      this.stats.held = 0;
      this.opts.log.error({ err: err.message }, 'lease journal sync failed: the ACKs waiting for it are withheld');
      return;
    }
    let n = 0;
    while (n < this.held.length && this.held[n]!.seq <= durable) n++;
    if (n === 0) return;
    const ready = this.held.splice(0, n);
    this.stats.held = this.held.length;
    this.transmit(ready);
  }

  private transmit(out: Outgoing[]): void {
    const l2: Buffer[] = [];
    const dgrams: Buffer[] = [];
    const addrs: number[] = [];
    const ports: number[] = [];
    for (const o of out) {
      this.count(this.stats.replies, o.type);
      if (o.frame) l2.push(o.frame);
      else if (o.udp) {
        dgrams.push(o.udp.payload);
        addrs.push(o.udp.ip);
        ports.push(o.udp.port);
      }
    }
    if (l2.length > 0) {
      try {
        this.packet?.send(l2);
      } catch (e) {
        this.stats.sendErrors++;
        this.opts.log.warn({ err: (e as Error).message }, 'sending replies failed');
      }
    }
    if (dgrams.length > 0 && this.udp) {
      try {
        const r = this.udp.send(dgrams, addrs, ports);
        if (r.sent < dgrams.length) {
          this.stats.sendErrors += dgrams.length - r.sent;
          this.opts.log.warn({ errno: r.errno, unsent: dgrams.length - r.sent }, 'sending to relays failed for some replies');
        }
      } catch (e) {
        this.stats.sendErrors += dgrams.length;
        this.opts.log.warn({ err: (e as Error).message }, 'sending to relays failed');
      }
    }
    for (const o of out) o.onSent?.();
  }

  private count(bucket: Record<string, number>, key: string): void {
    bucket[key] = (bucket[key] ?? 0) + 1;
  }

  private handle(payload: Uint8Array, meta: Dhcp4RequestMeta, now: number, origin: Origin, resumed = false): Dhcp4Action[] {
    const t0 = process.hrtime.bigint();
    let msg: dhcp4.Dhcp4Message;
    try {
      msg = dhcp4.decodeDhcp4(payload);
    } catch {
      // the server counts and logs the decode error (the only path that decodes twice)
      this.count(this.stats.requests, typeName(undefined));
      return this.server.handlePacket(payload, meta, now);
    }
    const type = dhcp4.messageType(msg);
    const name = typeName(type);
    if (!resumed) this.count(this.stats.requests, name);
    const sessions = this.opts.sessions;
    if (sessions !== undefined && type === dhcp4.MessageType.DHCPDISCOVER && msg.op === dhcp4.Op.BOOTREQUEST) {
      let key: string;
      try {
        key = clientKeyOf(msg);
      } catch {
        key = '';
      }
      const verdict = key === '' ? 'serve' : sessions.check(key, now);
      if (verdict === 'refused') return [];
      if (verdict === 'authorize') {
        // a copy: the payload is a view of the whole receive batch, which would stay in memory
        this.holdForAuth(key, msg, { payload: payload.slice(), meta, origin });
        return [];
      }
    }
    let actions: Dhcp4Action[];
    try {
      actions = this.server.handle(msg, meta, now);
    } catch (e) {
      // a defect, never a reason to stop serving everyone else
      this.stats.internalErrors++;
      this.opts.log.error({ err: (e as Error).stack ?? String(e), mac: meta.srcMac }, 'dhcp4 request failed inside the server; dropped');
      return [];
    }
    this.opts.observe?.(Number(process.hrtime.bigint() - t0) / 1e9, name);
    return actions;
  }

  private onFrames(frames: ReceivedFrame[]): void {
    const now = Date.now();
    const out: Outgoing[] = [];
    for (const f of frames) {
      this.stats.rxFrames++;
      if (f.truncated) continue; // the filter already refused our own frames and everything not to port 67
      let parsed;
      try {
        parsed = parseFrame(f.frame);
      } catch {
        this.stats.malformedFrames++;
        continue;
      }
      if (parsed.udp?.dstPort !== dhcp4.Port.SERVER || parsed.ipv4 === undefined || parsed.srcMac === this.opts.serverMac) continue;
      this.serve(parsed.payload, { ifname: this.opts.ifname, vlans: parsed.vlans.map((v) => v.vid), srcMac: parsed.srcMac, dstIp: parsed.ipv4.dst }, { kind: 'frame', tags: parsed.vlans }, now, out);
    }
    if (out.length === 0) return;
    this.dispatch(out, this.flushJournal());
  }

  /** Decides one request and queues its replies on `out`, with the datapath side effects applied. */
  private serve(payload: Uint8Array, meta: Dhcp4RequestMeta, origin: Origin, now: number, out: Outgoing[], resumed = false): void {
    const actions = this.handle(payload, meta, now, origin, resumed);
    const started = this.apply(actions, now);
    for (const a of actions) {
      if (a.type !== 'send') continue;
      const type = typeName(dhcp4.messageType(a.message));
      const o: Outgoing = { seq: this.ackSeq(type), type };
      if (origin.kind === 'frame') {
        o.frame = Buffer.from(
          buildUdpFrame({
            dstMac: a.dst.mac,
            srcMac: this.opts.serverMac,
            // the reply goes back on the line it came from, tags (and their priority) as received
            vlans: origin.tags.map((t) => ({ tpid: t.tpid === 0x88a8 ? 0x88a8 : 0x8100, vid: t.vid, pcp: t.pcp, dei: t.dei })),
            srcIp: a.src.ip,
            dstIp: a.dst.ip,
            srcPort: a.src.port,
            dstPort: a.dst.port,
            payload: a.payload,
          }),
        );
      } else {
        o.udp = { payload: Buffer.from(a.payload.buffer, a.payload.byteOffset, a.payload.byteLength), port: a.dst.port, ip: ipToU32(a.dst.ip) };
      }
      // accounting of a new session starts when its first ACK has left (RFC 2866 §5.1 Start)
      if (started !== undefined && type === 'ACK') {
        const lease = started;
        o.onSent = () => this.opts.sessions?.ackSent(lease);
      }
      out.push(o);
    }
  }

  /**
   * Holds the DISCOVER of a client without a session while RADIUS decides; retransmissions
   * replace the held copy and share the one Access-Request. Accepted: the latest copy is served.
   */
  private holdForAuth(key: string, msg: dhcp4.Dhcp4Message, req: HeldRequest): void {
    const sessions = this.opts.sessions!;
    if (this.authWait.has(key)) {
      this.authWait.set(key, req);
      return;
    }
    let info: ReturnType<typeof dhcp4.relayAgentInfo> | undefined;
    try {
      info = dhcp4.relayAgentInfo(msg);
    } catch {
      info = undefined; // a malformed option 82 identifies nothing
    }
    const vlans = req.meta.vlans;
    const identity = {
      mac: dhcp4.macOf(msg),
      interfaceName: this.opts.ifname,
      ...(info?.circuitId !== undefined ? { circuitId: info.circuitId } : {}),
      ...(info?.remoteId !== undefined ? { remoteId: info.remoteId } : {}),
      // outer tag first: with two, the S-TAG and the C-TAG; with one, the C-TAG
      ...(vlans.length >= 2 ? { svlan: vlans[0]!, cvlan: vlans[1]! } : vlans.length === 1 ? { cvlan: vlans[0]! } : {}),
    };
    this.authWait.set(key, req);
    this.stats.heldForAuth = this.authWait.size;
    void sessions.authorize(key, identity).then((ok) => {
      const held = this.authWait.get(key);
      this.authWait.delete(key);
      this.stats.heldForAuth = this.authWait.size;
      if (!ok || held === undefined || this.closed) return;
      const out: Outgoing[] = [];
      this.serve(held.payload, held.meta, held.origin, Date.now(), out, true);
      if (out.length > 0) this.dispatch(out, this.flushJournal());
    });
  }

  private onDatagrams(batch: Datagram[]): void {
    const now = Date.now();
    const out: Outgoing[] = [];
    for (const d of batch) {
      this.stats.rxDatagrams++;
      // direct clients are the AF_PACKET socket's; the UDP socket sees their broadcasts too
      if (d.truncated) {
        this.stats.malformedFrames++;
        continue;
      }
      if (!hasGiaddr(d.data)) continue;
      this.serve(d.data, { ifname: this.opts.ifname, vlans: [], srcMac: '' }, { kind: 'udp' }, now, out);
    }
    // a receive batch shares one journal write and sync, and its replies one sendmmsg
    if (out.length > 0) this.dispatch(out, this.flushJournal());
  }

  /**
   * Datapath and session side effects of the server's decisions; returns the lease whose
   * binding began a session (its ACK starts accounting). `cause`: why a revoked binding ended.
   */
  private apply(actions: Dhcp4Action[], now: number, cause?: TerminateCause): LeaseRecord | undefined {
    let started: LeaseRecord | undefined;
    for (const a of actions) {
      if (a.type === 'bind') {
        this.sync?.bind(a.lease, now);
        if (this.opts.sessions?.bound(a.lease, now)) started = a.lease;
      } else if (a.type === 'unbind') {
        this.sync?.unbind(a.lease);
        this.opts.sessions?.ended(a.lease, a.reason === 'revoked' ? (cause ?? 'AdminReset') : UNBIND_CAUSE[a.reason]);
      }
    }
    return started;
  }

  /** Active leases per pool and the size of each pool's dynamic range. */
  poolUsage(now = Date.now()): Array<{ pool: string; active: number; offered: number; declined: number; size: number }> {
    const by = new Map(
      this.config.pools.map((p) => {
        // reservations, exclusions, the gateway and the server id inside the range are never leased dynamically
        let held = 0;
        for (const a of p.unavailable) if (a >= p.rangeStart && a <= p.rangeEnd) held++;
        return [p.name, { pool: p.name, active: 0, offered: 0, declined: 0, size: p.rangeEnd - p.rangeStart + 1 - held }];
      }),
    );
    for (const rec of this.opts.store.all()) {
      const u = by.get(rec.pool);
      if (!u || rec.expiresAtMs <= now) continue;
      if (rec.state === LeaseState.BOUND) u.active++;
      else if (rec.state === LeaseState.OFFERED) u.offered++;
      else if (rec.state === LeaseState.DECLINED) u.declined++;
    }
    return [...by.values()];
  }

  drops(): Record<string, number> {
    const c = this.server.counters();
    const replies = new Set<string>([Dhcp4Reason.OFFER, Dhcp4Reason.ACK, Dhcp4Reason.NAK, Dhcp4Reason.INFORM_ACK, Dhcp4Reason.RELEASED, Dhcp4Reason.DECLINED, Dhcp4Reason.EXPIRED]);
    return Object.fromEntries(Object.entries(c).filter(([k]) => !replies.has(k)));
  }

  get uptimeMs(): number {
    return Date.now() - this.startedAt;
  }

  close(): void {
    this.closed = true;
    this.authWait.clear();
    if (this.timer) clearInterval(this.timer);
    // ACKs still waiting: make their bindings durable now and send them before the sockets go
    try {
      this.opts.journal?.flush();
      this.transmit(this.held);
    } catch (e) {
      this.stats.journalErrors++;
      this.stats.withheld += this.held.length;
      this.opts.log.error({ err: (e as Error).message }, 'lease journal flush at stop failed: the ACKs waiting for it are withheld');
    }
    this.held = [];
    this.stats.held = 0;
    this.packet?.close();
    this.packet = undefined;
    this.udp?.close();
    this.udp = undefined;
  }
}

function hasGiaddr(payload: Uint8Array): boolean {
  return payload.length >= GIADDR_OFFSET + 4 && (payload[GIADDR_OFFSET]! | payload[GIADDR_OFFSET + 1]! | payload[GIADDR_OFFSET + 2]! | payload[GIADDR_OFFSET + 3]!) !== 0;
}

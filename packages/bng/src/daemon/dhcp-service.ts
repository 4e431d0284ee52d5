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
 * Group commit: a receive batch is handled as a whole, the lease journal is fsynced once, and only
 * then are the batch's replies sent, so no ACK leaves for a binding a crash could forget.
 */
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { PacketSocket, EtherTypes, dhcpServerFilter, type DhcpFastPath, type ReceivedFrame } from '@bng/datapath';
import { buildUdpFrame, dhcp4, parseFrame, u32ToIp, type ParsedVlanTag } from '@bng/protocols';
import { createDhcp4Server, Dhcp4Reason, type Dhcp4Action, type Dhcp4Server } from '../dhcp/server.js';
import type { ResolvedDhcp4Config, Dhcp4ServerConfig } from '../dhcp/config.js';
import { LeaseState, type LeaseStore } from '../dhcp/lease-store.js';
import type { LeaseJournal } from '../dhcp/lease-journal.js';
import type { Dhcp4Logger } from '../dhcp/types.js';
import { FastPathSync } from './fastpath-sync.js';

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
  /** called with each request's handling time in seconds and its type name */
  observe?: (seconds: number, type: string) => void;
}

// a metric label: values outside RFC 2132 are one bucket, not one series per value a sender picks
const typeName = (t: number | undefined): string =>
  t === undefined ? 'NONE' : t >= dhcp4.MessageType.DHCPDISCOVER && t <= dhcp4.MessageType.DHCPINFORM ? dhcp4.messageTypeName(t).replace(/^DHCP/, '') : 'OTHER';

export class DhcpService {
  readonly server: Dhcp4Server;
  readonly config: ResolvedDhcp4Config;
  readonly sync: FastPathSync | undefined;
  readonly stats: DhcpServiceStats = { rxFrames: 0, rxDatagrams: 0, requests: {}, replies: {}, malformedFrames: 0, sendErrors: 0, journalErrors: 0, internalErrors: 0 };
  private packet: PacketSocket | undefined;
  private udp: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: DhcpServiceOptions;
  private startedAt = 0;
  private udpOut: Array<{ payload: Uint8Array; port: number; ip: string; type: string; from: string }> = [];
  private udpFlushQueued = false;
  relayAddress: string | undefined;

  constructor(opts: DhcpServiceOptions) {
    this.opts = opts;
    this.server = createDhcp4Server(opts.dhcpInput, { leases: opts.store, clock: { now: () => Date.now() }, log: opts.log });
    this.config = this.server.config;
    this.sync = opts.fastPath ? new FastPathSync(opts.fastPath, opts.store, this.config.pools, opts.log) : undefined;
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
        this.flushJournal();
      });
    }
    this.flushJournal();

    if (this.opts.relayPort !== undefined) {
      // Relays send to our server identifier (RFC 1542 §4.1), so the socket is bound to that
      // address when the host has it: bound to 0.0.0.0 it would take every relayed request that
      // reaches any interface of the host. Without the address configured, 0.0.0.0 it is.
      const local = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address)));
      const ids = [...new Set(this.config.pools.map((p) => u32ToIp(p.serverId)))];
      const address = this.opts.relayAddress ?? (ids.length === 1 && local.has(ids[0]!) ? ids[0]! : '0.0.0.0');
      if (address === '0.0.0.0') this.opts.log.info({ serverIds: ids }, 'relay socket on 0.0.0.0: the server identifier is not (or not uniquely) a local address');
      const udp = createSocket({ type: 'udp4', reuseAddr: true });
      udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
      udp.on('error', (err) => this.opts.log.error({ err: err.message }, 'relay socket error'));
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ port: this.opts.relayPort, address }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udp.setRecvBufferSize(8 << 20);
      udp.setSendBufferSize(4 << 20);
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
    this.flushJournal();
  }

  private flushJournal(): boolean {
    try {
      this.opts.journal?.flush();
      return true;
    } catch (e) {
      this.stats.journalErrors++;
      this.opts.log.error({ err: (e as Error).message }, 'lease journal flush failed: replies of this batch are withheld');
      return false;
    }
  }

  private count(bucket: Record<string, number>, key: string): void {
    bucket[key] = (bucket[key] ?? 0) + 1;
  }

  private handle(payload: Uint8Array, meta: Parameters<Dhcp4Server['handle']>[1], now: number): Dhcp4Action[] {
    const t0 = process.hrtime.bigint();
    let msg: dhcp4.Dhcp4Message;
    try {
      msg = dhcp4.decodeDhcp4(payload);
    } catch {
      // the server counts and logs the decode error (the only path that decodes twice)
      this.count(this.stats.requests, typeName(undefined));
      return this.server.handlePacket(payload, meta, now);
    }
    const name = typeName(dhcp4.messageType(msg));
    this.count(this.stats.requests, name);
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
    const out: Array<{ actions: Dhcp4Action[]; tags: ParsedVlanTag[]; srcMac: string }> = [];
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
      const actions = this.handle(parsed.payload, { ifname: this.opts.ifname, vlans: parsed.vlans.map((v) => v.vid), srcMac: parsed.srcMac, dstIp: parsed.ipv4.dst }, now);
      out.push({ actions, tags: parsed.vlans, srcMac: parsed.srcMac });
    }
    if (out.length === 0) return;
    const durable = this.flushJournal();
    const l2: Buffer[] = [];
    for (const { actions, tags } of out) {
      for (const a of actions) {
        if (a.type !== 'send') continue;
        if (!durable) continue;
        l2.push(
          Buffer.from(
            buildUdpFrame({
              dstMac: a.dst.mac,
              srcMac: this.opts.serverMac,
              // the reply goes back on the line it came from, tags (and their priority) as received
              vlans: tags.map((t) => ({ tpid: t.tpid === 0x88a8 ? 0x88a8 : 0x8100, vid: t.vid, pcp: t.pcp, dei: t.dei })),
              srcIp: a.src.ip,
              dstIp: a.dst.ip,
              srcPort: a.src.port,
              dstPort: a.dst.port,
              payload: a.payload,
            }),
          ),
        );
        this.count(this.stats.replies, typeName(dhcp4.messageType(a.message)));
      }
      this.apply(actions, now);
    }
    if (l2.length > 0) {
      try {
        this.packet?.send(l2);
      } catch (e) {
        this.stats.sendErrors++;
        this.opts.log.warn({ err: (e as Error).message }, 'sending replies failed');
      }
    }
  }

  private onDatagram(msg: Buffer, from: string): void {
    this.stats.rxDatagrams++;
    // direct clients are the AF_PACKET socket's; the UDP socket sees their broadcasts too
    if (!hasGiaddr(msg)) return;
    const now = Date.now();
    const actions = this.handle(msg, { ifname: this.opts.ifname, vlans: [], srcMac: '' }, now);
    for (const a of actions) if (a.type === 'send') this.udpOut.push({ payload: a.payload, port: a.dst.port, ip: a.dst.ip, type: typeName(dhcp4.messageType(a.message)), from });
    this.apply(actions, now);
    // libuv reads several datagrams per turn of the loop: they share one journal flush
    if (!this.udpFlushQueued) {
      this.udpFlushQueued = true;
      setImmediate(() => this.flushUdp());
    }
  }

  private flushUdp(): void {
    this.udpFlushQueued = false;
    const out = this.udpOut;
    this.udpOut = [];
    if (!this.flushJournal()) return;
    for (const r of out) {
      this.count(this.stats.replies, r.type);
      this.udp?.send(r.payload, r.port, r.ip, (err) => {
        if (err) {
          this.stats.sendErrors++;
          this.opts.log.warn({ err: err.message, relay: r.ip, from: r.from }, 'sending to the relay failed');
        }
      });
    }
  }

  /** Datapath side effects of the server's decisions. */
  private apply(actions: Dhcp4Action[], now: number): void {
    if (!this.sync) return;
    for (const a of actions) {
      if (a.type === 'bind') this.sync.bind(a.lease, now);
      else if (a.type === 'unbind') this.sync.unbind(a.lease);
    }
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
    if (this.timer) clearInterval(this.timer);
    this.packet?.close();
    this.packet = undefined;
    this.udp?.close();
    this.udp = undefined;
    this.flushJournal();
  }
}

function hasGiaddr(payload: Uint8Array): boolean {
  return payload.length >= GIADDR_OFFSET + 4 && (payload[GIADDR_OFFSET]! | payload[GIADDR_OFFSET + 1]! | payload[GIADDR_OFFSET + 2]! | payload[GIADDR_OFFSET + 3]!) !== 0;
}

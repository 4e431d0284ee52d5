// AF_PACKET: raw frames on one interface, in batches, with the VLAN tag the kernel stripped
// recovered from PACKET_AUXDATA (the kernel removes the outer 802.1Q/802.1ad tag on receive).
import { native, pollBatches, wrapNative, PACKET_META_FIELDS } from './native.js';
import { ifindexOf } from './attach.js';

export const EtherTypes = { ALL: 0x0003, IPV4: 0x0800, IPV6: 0x86dd, PPPOE_DISCOVERY: 0x8863, PPPOE_SESSION: 0x8864 } as const;

export interface ReceivedFrame {
  /** the frame with the stripped tag put back, as it was on the wire */
  frame: Buffer;
  ifindex: number;
  /** PACKET_HOST, PACKET_BROADCAST ... (linux/if_packet.h) */
  pktType: number;
  truncated: boolean;
}

/** the most frames one receive takes */
const MAX_BATCH = 256;
// one per process: a receive's metadata is read before the next receive runs
const meta = new Int32Array(1 + MAX_BATCH * PACKET_META_FIELDS);

/**
 * Reinserts a tag that the kernel stripped (PACKET_AUXDATA: `tci`, `tpid`; -1 when none) into
 * the frame, after the MAC addresses.
 */
export function restoreVlan(data: Buffer, tci: number, tpid: number): Buffer {
  if (tci < 0) return data;
  const out = Buffer.allocUnsafe(data.length + 4);
  data.copy(out, 0, 0, 12);
  out.writeUInt16BE(tpid, 12);
  out.writeUInt16BE(tci, 14);
  data.copy(out, 16, 12);
  return out;
}

export class PacketSocket {
  readonly ifname: string;
  readonly ifindex: number;
  private fd: number;
  private pollHandle = 0;

  /** `filter`: a classic BPF program (see socket-filter.ts) attached before the first receive */
  constructor(ifname: string, opts: { etherType?: number; rcvbufBytes?: number; filter?: Buffer } = {}) {
    this.ifname = ifname;
    this.ifindex = ifindexOf(ifname);
    this.fd = wrapNative(() => native().packetOpen(this.ifindex, opts.etherType ?? EtherTypes.ALL, opts.rcvbufBytes ?? 4 << 20));
    if (opts.filter) {
      try {
        this.setFilter(opts.filter);
      } catch (e) {
        this.close();
        throw e;
      }
      // frames queued between socket() and the attach passed no filter (and may be from any
      // interface, since the socket hears all of them until bind): drop them
      while (native().packetRecv(this.fd, MAX_BATCH, 64, meta) !== null);
    }
  }

  /**
   * Attaches a classic BPF program (struct sock_filter[]), replacing any earlier one. Frames
   * already queued are not re-filtered.
   */
  setFilter(program: Buffer): void {
    wrapNative(() => native().packetSetFilter(this.fd, program));
  }

  /** Receives what is queued now (up to `max` frames), without blocking. */
  receive(max = 64): ReceivedFrame[] {
    const all = native().packetRecv(this.fd, Math.min(max, MAX_BATCH), 2048, meta);
    const out: ReceivedFrame[] = [];
    if (all === null) return out;
    for (let i = 0, at = 0, m = 1; i < meta[0]!; i++, m += PACKET_META_FIELDS) {
      const len = meta[m]!;
      const frame = restoreVlan(all.subarray(at, at + len), meta[m + 4]!, meta[m + 5]!);
      out.push({ frame, ifindex: meta[m + 2]!, pktType: meta[m + 3]!, truncated: meta[m + 1] !== 0 });
      at += len;
    }
    return out;
  }

  /** Calls `onFrames` from the event loop whenever frames are waiting. */
  onFrames(onFrames: (frames: ReceivedFrame[]) => void): void {
    if (this.pollHandle) native().pollStop(this.pollHandle);
    this.pollHandle = pollBatches(this.fd, (max) => this.receive(max), onFrames);
  }

  send(frames: Buffer[]): number {
    return wrapNative(() => native().packetSend(this.fd, this.ifindex, frames));
  }

  close(): void {
    if (this.pollHandle) native().pollStop(this.pollHandle);
    this.pollHandle = 0;
    if (this.fd >= 0) native().closeFd(this.fd);
    this.fd = -1;
  }
}

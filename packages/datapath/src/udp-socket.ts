// UDP over the native binding, in batches: recvmmsg for everything queued, sendmmsg for a batch of
// replies. Addresses cross the boundary as host-order u32, so the hot path never formats or parses
// dotted quads.
import { native, pollBatches, wrapNative, UDP_META_FIELDS } from './native.js';

/** the most datagrams one receive takes */
const MAX_BATCH = 256;
// one per process: a receive's metadata is read before the next receive runs
const meta = new Int32Array(1 + MAX_BATCH * UDP_META_FIELDS);

export interface Datagram {
  data: Buffer;
  /** source address, host order */
  addr: number;
  port: number;
  truncated: boolean;
}

export interface UdpBatchSocketOptions {
  /** local address, host order (0 = any) */
  address: number;
  port: number;
  rcvbufBytes?: number;
  sndbufBytes?: number;
}

export class UdpBatchSocket {
  readonly address: number;
  readonly port: number;
  private fd: number;
  private pollHandle = 0;

  constructor(opts: UdpBatchSocketOptions) {
    this.address = opts.address >>> 0;
    this.port = opts.port;
    this.fd = wrapNative(() => native().udpOpen(this.address, opts.port, opts.rcvbufBytes ?? 8 << 20, opts.sndbufBytes ?? 4 << 20));
  }

  /** Receives what is queued now (up to `max` datagrams), without blocking. */
  receive(max = 64): Datagram[] {
    const all = wrapNative(() => native().udpRecv(this.fd, Math.min(max, MAX_BATCH), 2048, meta));
    const out: Datagram[] = [];
    if (all === null) return out;
    // the datagrams are views of one Buffer: one that is kept keeps its whole batch in memory
    for (let i = 0, at = 0, m = 1; i < meta[0]!; i++, m += UDP_META_FIELDS) {
      const len = meta[m]!;
      out.push({ data: all.subarray(at, at + len), addr: meta[m + 1]! >>> 0, port: meta[m + 2]!, truncated: meta[m + 3] !== 0 });
      at += len;
    }
    return out;
  }

  /** Calls `onDatagrams` from the event loop whenever datagrams are waiting, up to 1,024 per wakeup. */
  onDatagrams(onDatagrams: (batch: Datagram[]) => void): void {
    if (this.pollHandle) native().pollStop(this.pollHandle);
    this.pollHandle = pollBatches(this.fd, (max) => this.receive(max), onDatagrams);
  }

  /**
   * Sends the datagrams with one sendmmsg (more if the kernel takes them in parts). Returns how
   * many left and the errno of the last refused one (0 if none).
   */
  send(datagrams: Buffer[], addrs: number[], ports: number[]): { sent: number; errno: number } {
    if (datagrams.length === 0) return { sent: 0, errno: 0 };
    const [sent, errno] = wrapNative(() => native().udpSend(this.fd, datagrams, addrs, ports));
    return { sent, errno };
  }

  close(): void {
    if (this.pollHandle) native().pollStop(this.pollHandle);
    this.pollHandle = 0;
    if (this.fd >= 0) native().closeFd(this.fd);
    this.fd = -1;
  }
}

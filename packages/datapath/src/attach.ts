// Attaching programs to interfaces: XDP (native, generic or auto) and TC clsact.
import { BngError } from '@bng/api';
import { native, wrapNative } from './native.js';

export const XdpModes = ['native', 'generic', 'auto'] as const;
export type XdpMode = (typeof XdpModes)[number];

function flagsFor(mode: XdpMode): number {
  const f = native().xdpFlags;
  if (mode === 'native') return f.DRV_MODE;
  if (mode === 'generic') return f.SKB_MODE;
  return 0; // the kernel picks native when the driver has it, else generic
}

export function ifindexOf(ifname: string): number {
  try {
    return native().ifNameToIndex(ifname);
  } catch (e) {
    throw new BngError('BNG_ERR_INTERFACE', `interface ${ifname} does not exist`, { errno: (e as { errno?: number }).errno });
  }
}

/** An XDP attachment that detaches itself on close() and, if asked, at process exit. */
export class XdpAttachment {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mode: XdpMode;
  private attached = true;
  private readonly onExit = () => this.detach();

  private constructor(ifname: string, ifindex: number, mode: XdpMode, detachOnExit: boolean) {
    this.ifname = ifname;
    this.ifindex = ifindex;
    this.mode = mode;
    if (detachOnExit) process.once('exit', this.onExit);
  }

  static attach(ifname: string, progFd: number, mode: XdpMode = 'auto', opts: { detachOnExit?: boolean } = {}): XdpAttachment {
    const ifindex = ifindexOf(ifname);
    wrapNative(() => native().xdpAttach(ifindex, progFd, flagsFor(mode)));
    return new XdpAttachment(ifname, ifindex, mode, opts.detachOnExit ?? false);
  }

  /** The id of the XDP program attached to the interface now (0 = none). */
  static query(ifname: string): number {
    return native().xdpQuery(ifindexOf(ifname), 0);
  }

  static detachAny(ifname: string, mode: XdpMode = 'auto'): void {
    wrapNative(() => native().xdpDetach(ifindexOf(ifname), flagsFor(mode)));
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    process.removeListener('exit', this.onExit);
    try {
      native().xdpDetach(this.ifindex, flagsFor(this.mode));
    } catch {
      // the interface may already be gone
    }
  }
}

const EINVAL = 22;

/**
 * A TC clsact filter (created with BPF_TC_F_REPLACE: one left at the same handle and priority
 * is replaced). It stays attached when the process ends unless `detachOnExit` is set.
 */
export class TcAttachment {
  private attached = true;
  private readonly onExit = () => this.detach();

  constructor(
    readonly ifindex: number,
    readonly point: 'ingress' | 'egress',
    readonly handle: number,
    readonly priority: number,
    detachOnExit = false,
  ) {
    if (detachOnExit) process.once('exit', this.onExit);
  }

  static attach(
    ifname: string,
    point: 'ingress' | 'egress',
    progFd: number,
    handle = 1,
    priority = 1,
    opts: { detachOnExit?: boolean } = {},
  ): TcAttachment {
    const ifindex = ifindexOf(ifname);
    wrapNative(() => native().tcAttach(ifindex, point, progFd, handle, priority));
    return new TcAttachment(ifindex, point, handle, priority, opts.detachOnExit ?? false);
  }

  /**
   * Removes the filter at `handle`/`priority` whoever attached it. No filter there is fine, and
   * so is no clsact qdisc at all (the kernel answers EINVAL for a hook that does not exist).
   */
  static detachAny(ifname: string, point: 'ingress' | 'egress', handle: number, priority: number): void {
    const ifindex = ifindexOf(ifname);
    try {
      wrapNative(() => native().tcDetach(ifindex, point, handle, priority));
    } catch (e) {
      if ((e as { details?: { errno?: number } }).details?.errno !== EINVAL) throw e;
    }
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    process.removeListener('exit', this.onExit);
    try {
      native().tcDetach(this.ifindex, this.point, this.handle, this.priority);
    } catch {
      // interface gone
    }
  }
}

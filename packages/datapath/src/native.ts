// The native binding's surface, typed. Numbers and bytes only; see native/binding.cc.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { BngError } from '@bng/api';

export interface NativeMapInfo { name: string; type: number; keySize: number; valueSize: number; maxEntries: number; fd: number }
export interface NativeProgInfo { name: string; section: string; fd: number }
/** entries per frame in packetRecv's meta */
export const PACKET_META_FIELDS = 6;
/** entries per datagram in udpRecv's meta */
export const UDP_META_FIELDS = 4;

export interface TestRunResult { retval: number; data: Buffer; duration: number }
export interface BatchLookup { keys: Buffer; values: Buffer; count: number; cursor: Buffer | null }

export interface NativeBinding {
  objectOpen(path: string): number;
  objectMaps(h: number): NativeMapInfo[];
  objectPrograms(h: number): NativeProgInfo[];
  objectSectionVars(h: number, section: string): Array<{ name: string; offset: number; size: number }>;
  objectLoad(h: number): void;
  objectClose(h: number): void;
  mapGetInitialValue(h: number, map: string): Buffer;
  mapSetInitialValue(h: number, map: string, value: Buffer): void;
  mapSetMaxEntries(h: number, map: string, n: number): void;
  mapReuseFd(h: number, map: string, fd: number): void;
  lastLibbpfLog(): string;
  objGet(path: string): number;
  objPin(fd: number, path: string): void;
  dupFd(fd: number): number;
  closeFd(fd: number): void;
  mapInfo(fd: number): { id: number; name: string; type: number; keySize: number; valueSize: number; maxEntries: number };
  progInfo(fd: number): { id: number; name: string; type: number };
  progGetFdById(id: number): number;
  numPossibleCpus(): number;
  clockBoottimeNs(): bigint;
  /** execve(2): replaces this process (same PID); returns only by throwing */
  execReplace(path: string, argv: string[], env: string[]): never;
  ifNameToIndex(name: string): number;
  xdpAttach(ifindex: number, progFd: number, flags: number): void;
  xdpDetach(ifindex: number, flags: number): void;
  xdpQuery(ifindex: number, flags: number): number;
  tcAttach(ifindex: number, point: 'ingress' | 'egress', progFd: number, handle: number, priority: number): void;
  tcDetach(ifindex: number, point: 'ingress' | 'egress', handle: number, priority: number): void;
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapGetNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags?: number): number;
  mapDeleteBatch(fd: number, keys: Buffer, count: number): number;
  mapLookupBatch(fd: number, keySize: number, valueSize: number, max: number, cursor: Buffer | null): BatchLookup;
  progTestRun(progFd: number, data: Buffer, repeat?: number, dataOutSize?: number): TestRunResult;
  /** A TC program on an skb with GSO metadata (gsoSegs > 1: a super-packet of that many segments) */
  progTestRunSkb(progFd: number, data: Buffer, gsoSegs: number, gsoSize: number, dataOutSize?: number): TestRunResult;
  /** Runs a BPF_PROG_TYPE_SYSCALL program on `ctx` (written back in place); the signed retval */
  progRunSyscall(progFd: number, ctx: Buffer): number;
  ringOpen(mapFd: number, cb: (records: Buffer[]) => void): number;
  ringPoll(h: number): number;
  ringUnref(h: number): void;
  ringClose(h: number): void;
  packetOpen(ifindex: number, ethertype: number, rcvbuf?: number): number;
  /**
   * What is queued (up to `maxFrames`), back to back in one Buffer; null when nothing is.
   * `meta[0]` = count, then per frame PACKET_META_FIELDS entries: length, truncated, ifindex,
   * pktType, vlanTci, vlanTpid (-1: the kernel stripped no tag).
   */
  packetRecv(fd: number, maxFrames: number, maxFrameBytes: number, meta: Int32Array): Buffer | null;
  packetSend(fd: number, ifindex: number, frames: Buffer[]): number;
  /** SO_ATTACH_FILTER with `program`, an array of struct sock_filter (8 bytes each, host endian) */
  packetSetFilter(fd: number, program: Buffer): void;
  udpOpen(addr: number, port: number, rcvbuf: number, sndbuf: number): number;
  /**
   * What is queued (up to `max`), back to back in one Buffer; null when nothing is. `meta[0]` =
   * count, then per datagram UDP_META_FIELDS entries: length, source address (host order, as
   * int32), source port, truncated.
   */
  udpRecv(fd: number, max: number, maxBytes: number, meta: Int32Array): Buffer | null;
  udpSend(fd: number, datagrams: Buffer[], addrs: number[], ports: number[]): [sent: number, lastErrno: number];
  pollStart(fd: number, cb: () => void): number;
  pollStop(h: number): void;
  xdpFlags: { UPDATE_IF_NOEXIST: number; SKB_MODE: number; DRV_MODE: number; HW_MODE: number };
}

let cached: NativeBinding | undefined;

/** Loads the compiled addon (packages/datapath/build/Release/bng_datapath.node). */
export function native(): NativeBinding {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  // src/ when run from sources (tests), dist/ when built: the addon sits beside both.
  const candidates = [join(here, '..', 'build', 'Release', 'bng_datapath.node')];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new BngError('BNG_ERR_BPF_OBJECT', `native binding not built (looked for ${candidates.join(', ')}); run \`make build\``);
  }
  cached = createRequire(import.meta.url)(path) as NativeBinding;
  return cached;
}

/** Wraps errors thrown by the addon so callers see BngError with errno and the failing call. */
export function wrapNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const err = e as Error & { code?: string; errno?: number; syscall?: string };
    if (err.code === 'BNG_ERR_SYSCALL' || err.code === 'BNG_ERR_BPF_OBJECT') {
      throw new BngError(err.code, err.message, { errno: err.errno, syscall: err.syscall });
    }
    throw e;
  }
}

/**
 * execve(2): replaces this process with `path` run with `argv` and `env` (`NAME=value`), keeping
 * its PID, stdio and CPU affinity. Returns only by throwing (BNG_ERR_SYSCALL with the errno).
 */
export function execReplace(path: string, argv: readonly string[], env: readonly string[]): never {
  return wrapNative(() => native().execReplace(path, [...argv], [...env]));
}

/**
 * Calls `deliver` from the event loop whenever `fd` is readable, with what `receive` reads in
 * batches of `batch`, up to `rounds` batches per wakeup (then the loop gets its turn). Returns the
 * poll handle for `pollStop`.
 */
export function pollBatches<T>(fd: number, receive: (max: number) => T[], deliver: (batch: T[]) => void, batch = 64, rounds = 16): number {
  return native().pollStart(fd, () => {
    for (let i = 0; i < rounds; i++) {
      const got = receive(batch);
      if (got.length === 0) return;
      deliver(got);
      if (got.length < batch) return;
    }
  });
}

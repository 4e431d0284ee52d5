/**
 * The lease journal: an append-only file of lease changes, one per line as
 * `<crc32 hex> <json>\n`, each fsynced before `append` returns, so an ACK is never sent for a
 * binding a crash could forget. Opening replays the file; a torn or corrupt tail (crash
 * mid-write) is cut off at the last good line. `rewrite` compacts: snapshot to a temporary
 * file, fsync, rename over the journal, fsync the directory. `rewriteInBackground` does the same
 * without holding the event loop (50,000 leases took the daemon 300-400 ms in one piece): the
 * snapshot is serialised and written a slice per turn, fsynced on libuv's pool, and entries
 * appended meanwhile go to the old file as usual and, once the snapshot is on disk, after it in
 * the new one before the rename. A crash at any point leaves the old journal or the new one,
 * each complete.
 *
 * Preallocation: the file is kept `preallocate` bytes of zeros longer than its entries, and new
 * entries overwrite those zeros instead of growing the file. An fdatasync after an overwrite of
 * blocks that are already on disk flushes the data alone; after an append it must also commit
 * the new size and block allocation through the filesystem's journal, which on this project's
 * test machines (ext4 on a virtual disk) made a commit 1.3 to 1.6 times as long and 1.5 times
 * as much CPU (`node bench/dhcp/journal-sync.mjs`: median 350-400 against 285-295 µs, CPU
 * 175-185 against 115-125 µs; a C loop on a quieter disk: 270 against 165 µs, 120 against 70 µs).
 * The zeros are written in pieces of `preallocate` bytes a little before the entries reach them,
 * so about one sync in every few hundred also carries one piece; `fallocate` would not do, since the first write into an
 * unwritten extent is a metadata change again. A NUL where an entry would start ends the
 * entries; anything other than zeros after the last good entry is a torn tail. `close` cuts
 * the zeros off, so a journal at rest is plain text.
 *
 * Pipelined group commit (`commit`): the queued entries are written at once, in order, on the
 * calling thread (in the page cache they already survive the process being killed), and the
 * fdatasync that makes them survive the machine runs on libuv's thread pool while the caller
 * goes on deciding the next requests. One sync is in flight at a time; whatever is written
 * meanwhile rides on the next one. `durable` says how far the file is known to be on disk, so a
 * caller holds each ACK until the entry it depends on is covered.
 */
import {
  constants as fsConstants,
  fdatasync,
  fsync,
  unlinkSync,
  closeSync,
  ftruncateSync,
  existsSync,
  fsyncSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import * as zlib from 'node:zlib';
import { BngError } from '@bng/api';
import { LeaseState, type LeaseRecord } from './lease-store.js';

export type LeaseJournalEntry = { readonly op: 'put'; readonly lease: LeaseRecord } | { readonly op: 'delete'; readonly ip: string };

export interface LeaseJournal {
  /** entries read at open, in order (hand them to the store once) */
  load(): LeaseJournalEntry[];
  /** appends and fsyncs; with `groupCommit`, queues the entry for the next `flush` */
  append(entry: LeaseJournalEntry): void;
  /** writes and fsyncs every queued entry with one write and one fsync (group commit) */
  flush(): void;
  /**
   * Writes every queued entry now and starts (or chains) an asynchronous fdatasync; returns the
   * sequence number (count of entries appended so far) that is durable once `durable` reaches it.
   */
  commit(): number;
  /** writes every queued entry now (page cache: survives the process, not the machine); no sync */
  write(): void;
  /** entries appended so far (the sequence number of the last one) */
  readonly appended: number;
  /** the highest sequence number known to be on disk */
  readonly durable: number;
  /** called after each asynchronous sync with the new `durable`, or with the error it failed on */
  onDurable(cb: (durable: number, err?: Error) => void): void;
  /** an asynchronous sync is in flight (`flush` and `close` sync synchronously whatever it covers) */
  readonly syncing: boolean;
  /** entries queued and not yet durable */
  readonly pending: number;
  /** replaces the file with one `put` per record, atomically */
  rewrite(records: readonly LeaseRecord[]): void;
  /**
   * `rewrite` a slice per event-loop turn (see the module comment); `done` is called once the new
   * file is in place, or with the error that left the old one in use. One at a time: a call while
   * one runs is ignored.
   */
  rewriteInBackground(records: readonly LeaseRecord[], done?: (err?: Error) => void): void;
  /** a background rewrite is under way */
  readonly rewriting: boolean;
  /** entries now in the file */
  readonly entries: number;
  /** octets cut from the tail at open because they did not form a valid entry */
  readonly truncatedBytes: number;
  readonly path: string;
  close(): void;
}

export interface LeaseJournalOptions {
  /** fsync every append (default true); false only for tests that measure nothing durable */
  readonly fsync?: boolean;
  /**
   * Queue appends in memory until `flush()`: the daemon handles a whole receive batch, flushes
   * once, and only then sends the batch's ACKs, so a crash still never forgets an ACKed binding.
   */
  readonly groupCommit?: boolean;
  /**
   * Zeros kept ahead of the last entry, written in pieces of this many bytes (default 64 KiB;
   * 0 appends to the end of the file instead). See the module comment.
   */
  readonly preallocate?: number;
}

const DEFAULT_PREALLOCATE = 64 * 1024;
/** records serialised per event-loop turn by a background rewrite (about 1 ms of work here) */
const REWRITE_SLICE = 256;
let zeroPiece: Buffer | undefined;
/** `n` zero bytes, shared (never written to) */
function zeros(n: number): Buffer {
  if (zeroPiece === undefined || zeroPiece.length < n) zeroPiece = Buffer.alloc(n);
  return zeroPiece.subarray(0, n);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected) of a byte string, in JavaScript (the reference for the native one). */
export function crc32Js(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// zlib's CRC-32 is the same polynomial (Node >= 20.15); the table above where it is missing
const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE 802.3, reflected) of a byte string. */
export const crc32: (bytes: Uint8Array) => number = zlibCrc32 ? (b) => zlibCrc32(b) >>> 0 : crc32Js;

function line(entry: LeaseJournalEntry): Buffer {
  const json = JSON.stringify(entry);
  const body = Buffer.allocUnsafe(9 + Buffer.byteLength(json) + 1);
  const n = body.write(json, 9, 'utf8');
  body.write(crc32(body.subarray(9, 9 + n)).toString(16).padStart(8, '0'), 0, 'latin1');
  body[8] = 0x20;
  body[9 + n] = 0x0a;
  return body;
}

const states = new Set<string>(Object.values(LeaseState));

function isLease(v: unknown): v is LeaseRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r['ip'] === 'string' &&
    typeof r['clientKey'] === 'string' &&
    typeof r['mac'] === 'string' &&
    typeof r['pool'] === 'string' &&
    typeof r['state'] === 'string' &&
    states.has(r['state']) &&
    typeof r['expiresAtMs'] === 'number' &&
    typeof r['updatedAtMs'] === 'number'
  );
}

function parseLine(text: string): LeaseJournalEntry | undefined {
  const m = /^([0-9a-f]{8}) (.*)$/.exec(text);
  if (m === null) return undefined;
  const json = m[2] as string;
  if (parseInt(m[1] as string, 16) !== crc32(Buffer.from(json, 'utf8'))) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (e['op'] === 'put' && isLease(e['lease'])) return { op: 'put', lease: e['lease'] };
  if (e['op'] === 'delete' && typeof e['ip'] === 'string') return { op: 'delete', ip: e['ip'] };
  return undefined;
}

export function openLeaseJournal(path: string, options: LeaseJournalOptions = {}): LeaseJournal {
  const doSync = options.fsync !== false;
  mkdirSync(dirname(path), { recursive: true });
  const prealloc = Math.max(0, Math.floor(options.preallocate ?? DEFAULT_PREALLOCATE));
  let loaded: LeaseJournalEntry[] = [];
  let truncatedBytes = 0;
  // where the next entry goes, and the file's length (entries plus preallocated zeros)
  let tail = 0;
  let size = 0;
  if (existsSync(path)) {
    const data = readFileSync(path);
    let good = 0;
    let at = 0;
    while (at < data.length) {
      if (data[at] === 0) break; // the preallocated zeros: the end of the entries
      const nl = data.indexOf(0x0a, at);
      if (nl < 0) break; // no newline: the last write was torn
      const entry = parseLine(data.subarray(at, nl).toString('utf8'));
      if (entry === undefined) break; // a bad line ends what can be trusted
      loaded.push(entry);
      at = nl + 1;
      good = at;
    }
    // zeros after the last entry are preallocation; anything else is a torn or corrupt tail
    let last = data.length;
    while (last > good && data[last - 1] === 0) last -= 1;
    if (last > good) {
      truncatedBytes = last - good;
      truncateSync(path, good);
      size = good;
    } else size = data.length;
    tail = good;
  }
  let entries = loaded.length;
  // positioned writes (not O_APPEND): entries overwrite the preallocated zeros
  let fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  if (doSync) {
    fsyncSync(fd);
    syncDir(path);
  }

  const group = options.groupCommit === true;
  let queued: Buffer[] = [];
  // sequence numbers: appended (queued or written), written to the fd, known on disk
  let appended = 0;
  let written = 0;
  let durable = 0;
  let syncing = false;
  // descriptors replaced by `rewrite` while a sync ran on them, closed when it ends
  const retired: number[] = [];
  const listeners: Array<(durable: number, err?: Error) => void> = [];
  const notify = (err?: Error): void => {
    for (const l of listeners) l(durable, err);
  };
  const writeQueued = (): void => {
    if (queued.length === 0) return;
    const buf = queued.length === 1 ? (queued[0] as Buffer) : Buffer.concat(queued);
    queued = [];
    put(buf);
    written = appended;
  };
  /** writes entries at the tail, first extending the zeros ahead of it when they run short */
  const put = (buf: Buffer): void => {
    while (prealloc > 0 && tail + buf.length + (prealloc >> 1) > size) {
      write(fd, zeros(prealloc), size);
      size += prealloc;
    }
    write(fd, buf, tail);
    tail += buf.length;
    if (tail > size) size = tail;
  };
  const startSync = (): void => {
    if (syncing || durable >= written || fd < 0) return;
    if (!doSync) {
      durable = written;
      notify();
      return;
    }
    syncing = true;
    const target = written;
    const syncFd = fd;
    fdatasync(syncFd, (err) => {
      syncing = false;
      for (const old of retired.splice(0)) closeSync(old);
      if (err) {
        notify(err);
        return;
      }
      if (target > durable) durable = target;
      notify();
      // what was written while this sync ran goes with the next one
      startSync();
    });
  };
  const write = (target: number, buf: Buffer, at: number): void => {
    let off = 0;
    while (off < buf.length) off += writeSync(target, buf, off, buf.length - off, at + off);
  };

  const tmpPath = `${path}.tmp`;
  /** a background rewrite: the snapshot, how far it is written, what was appended since it began */
  interface Background {
    readonly records: readonly LeaseRecord[];
    next: number;
    at: number;
    /** the temporary file's descriptor; -1 once closed (never closed twice: the number may be reused) */
    tfd: number;
    readonly since: Buffer[];
    syncing: boolean;
    aborted: boolean;
    readonly done: ((err?: Error) => void) | undefined;
  }
  let bg: Background | undefined;
  const closeTemp = (job: Background): void => {
    if (job.tfd < 0) return;
    const tfd = job.tfd;
    job.tfd = -1;
    closeSync(tfd);
  };
  const dropTemp = (job: Background): void => {
    // a sync in flight on the descriptor closes it when it ends (no reuse of the number under it)
    if (job.syncing) return;
    try {
      closeTemp(job);
    } catch {
      /* nothing more to do with it */
    }
    try {
      unlinkSync(tmpPath);
    } catch {
      /* never created, or already replaced */
    }
  };
  const abortBackground = (): void => {
    const job = bg;
    if (job === undefined) return;
    bg = undefined;
    job.aborted = true;
    dropTemp(job);
  };
  /** puts the temporary file (entries in its first `length` bytes, zeros after) in place of the journal */
  const install = (length: number, count: number): void => {
    // rename is atomic: a crash leaves either the old journal or the complete new one
    renameSync(tmpPath, path);
    // from here on every write goes to the new file, whatever fails after
    const next = openSync(path, fsConstants.O_RDWR);
    // a sync in flight on the old descriptor must not hit a reused number: keep it open for
    // that sync to finish on (it syncs the unlinked old file, harmlessly)
    if (syncing) retired.push(fd);
    else closeSync(fd);
    fd = next;
    tail = length;
    size = tail + prealloc;
    entries = count;
    written = appended;
    if (doSync) syncDir(path);
    // the new file and its name are on disk: everything appended so far is durable
    durable = appended;
    notify();
  };
  /** the snapshot is on disk: appends made since it began go after it, then the file replaces the journal */
  const finish = (job: Background, fail: (err: Error) => void): void => {
    try {
      // what is queued is in `since` already; written to the old file too, it stays one history
      writeQueued();
      const rest = Buffer.concat(job.since);
      write(job.tfd, rest, job.at);
      if (prealloc > 0) write(job.tfd, zeros(prealloc), job.at + rest.length);
      if (doSync) fdatasyncSync(job.tfd);
      closeTemp(job);
      bg = undefined;
      install(job.at + rest.length, job.records.length + job.since.length);
    } catch (e) {
      fail(e as Error);
      return;
    }
    job.done?.();
  };

  return {
    path,
    get entries() {
      return entries;
    },
    truncatedBytes,
    load() {
      const out = loaded;
      loaded = [];
      return out;
    },
    get pending() {
      return queued.length;
    },
    get appended() {
      return appended;
    },
    get durable() {
      return durable;
    },
    get syncing() {
      return syncing;
    },
    onDurable(cb) {
      listeners.push(cb);
    },
    append(entry) {
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      entries += 1;
      appended += 1;
      const l = line(entry);
      // a background rewrite replays what changed after its snapshot began
      if (bg !== undefined) bg.since.push(l);
      if (group) {
        queued.push(l);
        return;
      }
      put(l);
      written = appended;
      if (doSync) fdatasyncSync(fd);
      durable = appended;
    },
    flush() {
      if (durable >= appended) return;
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      writeQueued();
      if (doSync) fdatasyncSync(fd);
      durable = written;
    },
    commit() {
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      writeQueued();
      startSync();
      return appended;
    },
    write() {
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      writeQueued();
    },
    rewrite(records) {
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      abortBackground();
      queued = []; // the snapshot holds every record, queued changes included
      const tfd = openSync(tmpPath, 'w');
      const snapshot = Buffer.concat(records.map((lease) => line({ op: 'put', lease })));
      try {
        write(tfd, snapshot, 0);
        if (prealloc > 0) write(tfd, zeros(prealloc), snapshot.length);
        fsyncSync(tfd);
      } finally {
        closeSync(tfd);
      }
      install(snapshot.length, records.length);
    },
    get rewriting() {
      return bg !== undefined;
    },
    rewriteInBackground(records, done) {
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      if (bg !== undefined) return;
      const job: Background = { records, next: 0, at: 0, tfd: openSync(tmpPath, 'w'), since: [], syncing: false, aborted: false, done };
      bg = job;
      const fail = (err: Error): void => {
        if (bg === job) bg = undefined;
        dropTemp(job);
        job.done?.(err);
      };
      const step = (): void => {
        if (job.aborted) return;
        try {
          const end = Math.min(job.records.length, job.next + REWRITE_SLICE);
          const parts: Buffer[] = [];
          for (let i = job.next; i < end; i++) parts.push(line({ op: 'put', lease: job.records[i] as LeaseRecord }));
          const buf = Buffer.concat(parts);
          write(job.tfd, buf, job.at);
          job.at += buf.length;
          job.next = end;
        } catch (e) {
          fail(e as Error);
          return;
        }
        if (job.next < job.records.length) {
          setImmediate(step);
          return;
        }
        // the snapshot's megabytes reach the disk off the event loop; only what was appended
        // meanwhile is synced on it, in `finish`
        job.syncing = true;
        fsync(job.tfd, (err) => {
          job.syncing = false;
          if (job.aborted) {
            dropTemp(job);
            return;
          }
          if (err) fail(err);
          else finish(job, fail);
        });
      };
      setImmediate(step);
    },
    close() {
      // an unfinished rewrite is dropped: the journal itself is complete
      abortBackground();
      if (fd >= 0 && durable < appended) this.flush();
      // a journal at rest is its entries alone (a crash before this leaves zeros, read as the end)
      if (fd >= 0 && size > tail) {
        ftruncateSync(fd, tail);
        size = tail;
      }
      // a sync still in flight finishes on its descriptor; that one is closed then
      if (fd >= 0) {
        if (syncing) retired.push(fd);
        else closeSync(fd);
      }
      fd = -1;
    },
  };
}

function syncDir(path: string): void {
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

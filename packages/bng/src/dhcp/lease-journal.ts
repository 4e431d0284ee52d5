/**
 * The lease journal: an append-only file of lease changes, one per line as
 * `<crc32 hex> <json>\n`, each fsynced before `append` returns, so an ACK is never sent for a
 * binding a crash could forget. Opening replays the file; a torn or corrupt tail (crash
 * mid-write) is cut off at the last good line. `rewrite` compacts: snapshot to a temporary
 * file, fsync, rename over the journal, fsync the directory.
 *
 * Pipelined group commit (`commit`): the queued entries are written at once, in order, on the
 * calling thread (in the page cache they already survive the process being killed), and the
 * fdatasync that makes them survive the machine runs on libuv's thread pool while the caller
 * goes on deciding the next requests. One sync is in flight at a time; whatever is written
 * meanwhile rides on the next one. `durable` says how far the file is known to be on disk, so a
 * caller holds each ACK until the entry it depends on is covered.
 */
import {
  fdatasync,
  closeSync,
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
  let loaded: LeaseJournalEntry[] = [];
  let truncatedBytes = 0;
  if (existsSync(path)) {
    const data = readFileSync(path);
    let good = 0;
    let at = 0;
    while (at < data.length) {
      const nl = data.indexOf(0x0a, at);
      if (nl < 0) break; // no newline: the last write was torn
      const entry = parseLine(data.subarray(at, nl).toString('utf8'));
      if (entry === undefined) break; // a bad line ends what can be trusted
      loaded.push(entry);
      at = nl + 1;
      good = at;
    }
    if (good < data.length) {
      truncatedBytes = data.length - good;
      truncateSync(path, good);
    }
  }
  let entries = loaded.length;
  let fd = openSync(path, 'a');
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
    write(fd, buf);
    written = appended;
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
  const write = (target: number, buf: Buffer): void => {
    let off = 0;
    while (off < buf.length) off += writeSync(target, buf, off, buf.length - off);
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
      if (group) {
        queued.push(line(entry));
        return;
      }
      write(fd, line(entry));
      written = appended;
      if (doSync) fsyncSync(fd);
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
      queued = []; // the snapshot holds every record, queued changes included
      const tmp = `${path}.tmp`;
      const tfd = openSync(tmp, 'w');
      try {
        write(tfd, Buffer.concat(records.map((lease) => line({ op: 'put', lease }))));
        fsyncSync(tfd);
      } finally {
        closeSync(tfd);
      }
      // rename is atomic: a crash leaves either the old journal or the complete snapshot
      renameSync(tmp, path);
      if (doSync) syncDir(path);
      // a sync in flight on the old descriptor must not hit a reused number: keep it open for
      // that sync to finish on (it syncs the unlinked old file, harmlessly)
      if (syncing) retired.push(fd);
      else closeSync(fd);
      fd = openSync(path, 'a');
      entries = records.length;
      // the snapshot is on disk: everything appended so far is durable
      written = appended;
      durable = appended;
      notify();
    },
    close() {
      if (fd >= 0 && durable < appended) this.flush();
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

/**
 * The lease journal: an append-only file of lease changes, one per line as
 * `<crc32 hex> <json>\n`, each fsynced before `append` returns, so an ACK is never sent for a
 * binding a crash could forget. Opening replays the file; a torn or corrupt tail (crash
 * mid-write) is cut off at the last good line. `rewrite` compacts: snapshot to a temporary
 * file, fsync, rename over the journal, fsync the directory.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
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

/** CRC-32 (IEEE 802.3, reflected) of a byte string. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function line(entry: LeaseJournalEntry): Buffer {
  const json = Buffer.from(JSON.stringify(entry), 'utf8');
  return Buffer.concat([Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} `), json, Buffer.from('\n')]);
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
    append(entry) {
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      entries += 1;
      if (group) {
        queued.push(line(entry));
        return;
      }
      write(fd, line(entry));
      if (doSync) fsyncSync(fd);
    },
    flush() {
      if (queued.length === 0) return;
      if (fd < 0) throw new BngError('BNG_ERR_CONFLICT', `lease journal ${path} is closed`);
      const buf = queued.length === 1 ? (queued[0] as Buffer) : Buffer.concat(queued);
      queued = [];
      write(fd, buf);
      if (doSync) fsyncSync(fd);
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
      closeSync(fd);
      fd = openSync(path, 'a');
      entries = records.length;
    },
    close() {
      if (fd >= 0 && queued.length > 0) this.flush();
      if (fd >= 0) closeSync(fd);
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

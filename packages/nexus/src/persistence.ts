/**
 * Local durability for the replicated documents: a snapshot file plus an append-only log of Yjs
 * updates. Every record is [u32 length][u32 crc32][payload] where the payload names the document
 * and carries one update. A torn tail (crash mid-write) fails its CRC and is dropped: the write it
 * belonged to was never acknowledged, because the API answers only after flush() resolved: flush
 * writes everything appended so far and, with fsync on, waits for a (group-committed) fdatasync.
 *
 * Generations: snapshot-N.bin holds the whole state at the moment log-N.bin was started. To
 * compact, write snapshot-(N+1).tmp, fsync, rename, open log-(N+1).bin, then delete generation N.
 * All of it is synchronous, so no update can slip between the snapshot and the new log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import type { Logger } from './logger.js';

export interface PersistenceConfig {
  dataDir: string;
  /** fdatasync before acknowledging writes (group-committed). Off: survives process crashes, not power loss. */
  fsync: boolean;
  /** Compact when the log grows beyond this many bytes. */
  compactBytes: number;
}

export interface LoadedRecord { doc: string; update: Uint8Array }

export interface Persistence {
  /** Every record on disk, snapshot first, in write order. */
  load(): LoadedRecord[];
  append(doc: string, update: Uint8Array): void;
  /** Resolves when everything appended so far is on stable storage (per config). */
  flush(): Promise<void>;
  logBytes(): number;
  /** Replace snapshot + log with `state` (one record per document). */
  compact(state: Iterable<LoadedRecord>): void;
  close(): void;
}

/**
 * One record as buffers to write back to back, without copying the update: [len][crc] header,
 * the document name + update length prefix, then the update itself. Large sync updates (megabytes)
 * are thus never duplicated on their way to disk.
 */
function encodeRecord(doc: string, update: Uint8Array): Buffer[] {
  const enc = encoding.createEncoder();
  encoding.writeVarString(enc, doc);
  encoding.writeVarUint(enc, update.length); // the prefix writeVarUint8Array would write
  const prefix = Buffer.from(encoding.toUint8Array(enc));
  const body = Buffer.from(update.buffer, update.byteOffset, update.byteLength);
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32LE(prefix.length + body.length, 0);
  header.writeUInt32LE(crc32(body, crc32(prefix)), 4);
  return [header, prefix, body];
}

const recordLength = (parts: Buffer[]) => parts.reduce((n, b) => n + b.length, 0);

function readRecords(file: string, log: Logger): { records: LoadedRecord[]; validBytes: number } {
  const records: LoadedRecord[] = [];
  let buf: Buffer;
  try { buf = fs.readFileSync(file); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records, validBytes: 0 };
    throw e;
  }
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (off + 8 + len > buf.length) break;
    const payload = buf.subarray(off + 8, off + 8 + len);
    if (crc32(payload) !== crc) break;
    const dec = decoding.createDecoder(payload);
    records.push({ doc: decoding.readVarString(dec), update: decoding.readVarUint8Array(dec) });
    off += 8 + len;
  }
  if (off < buf.length) log.warn({ file, dropped: buf.length - off }, 'dropping torn tail of log (unacknowledged write)');
  return { records, validBytes: off };
}

export function createPersistence(config: PersistenceConfig, deps: { log: Logger }): Persistence {
  const { log } = deps;
  fs.mkdirSync(config.dataDir, { recursive: true });
  const gens = fs.readdirSync(config.dataDir)
    .map((f) => /^snapshot-(\d+)\.bin$/.exec(f)?.[1])
    .filter((g): g is string => g !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  let gen = gens.length > 0 ? gens[gens.length - 1]! : 0;
  const snapPath = (g: number) => path.join(config.dataDir, `snapshot-${g}.bin`);
  const logPath = (g: number) => path.join(config.dataDir, `log-${g}.bin`);
  let fd = -1;
  let bytes = 0;
  let dirty = false;
  let queue: Buffer[] = [];
  let queuedBytes = 0;
  let writeScheduled = false;
  const writeQueue = () => {
    writeScheduled = false;
    if (queue.length === 0 || fd < 0) return;
    let parts = queue;
    const total = queuedBytes;
    queue = [];
    queuedBytes = 0;
    // writev in slices (IOV_MAX is 1024); a short write resumes where it stopped.
    while (parts.length > 0) {
      const slice = parts.slice(0, 1024);
      const want = recordLength(slice);
      let done = fs.writevSync(fd, slice);
      if (done === want) { parts = parts.slice(1024); continue; }
      const rest: Buffer[] = [];
      for (const b of parts) {
        if (done >= b.length) { done -= b.length; continue; }
        rest.push(done > 0 ? b.subarray(done) : b);
        done = 0;
      }
      parts = rest;
    }
    bytes += total;
  };
  let syncing = false;
  const closeAfterSync: number[] = [];
  let waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const startSync = () => {
    syncing = true;
    dirty = false;
    const batch = waiting;
    waiting = [];
    fs.fdatasync(fd, (err) => {
      syncing = false;
      // A log replaced by compaction is closed only now, so its descriptor is never reused under us.
      for (const old of closeAfterSync.splice(0)) fs.closeSync(old);
      for (const w of batch) { if (err) w.reject(err); else w.resolve(); }
      if (waiting.length > 0) startSync();
    });
  };

  const openLog = (validBytes: number) => {
    fd = fs.openSync(logPath(gen), 'a+');
    // Cut a torn tail so that new records follow the last good one.
    if (fs.fstatSync(fd).size > validBytes) fs.ftruncateSync(fd, validBytes);
    bytes = validBytes;
  };

  return {
    load() {
      const snap = readRecords(snapPath(gen), log).records;
      const tail = readRecords(logPath(gen), log);
      openLog(tail.validBytes);
      return [...snap, ...tail.records];
    },
    append(doc, update) {
      // Records queue in memory and reach the file in one write per event-loop turn (or sooner,
      // from flush()). Nothing is acknowledged before flush(), so a crash loses only
      // unacknowledged writes, which the torn-tail rule already covers.
      const rec = encodeRecord(doc, update);
      for (const part of rec) queue.push(part);
      queuedBytes += recordLength(rec);
      dirty = true;
      // A large update (a part of a sync from a peer) goes to the file at once instead of at the end
      // of the turn: the buffer it lives in (the received frame) is then released while still
      // young, instead of surviving into V8's old space and waiting there for a full collection.
      if (queuedBytes > 4 * 1024 * 1024 || update.length >= 64 * 1024) writeQueue();
      else if (!writeScheduled) { writeScheduled = true; setImmediate(writeQueue); }
    },
    flush() {
      writeQueue();
      if (!config.fsync || (!dirty && !syncing)) return Promise.resolve();
      // Group commit: one fdatasync in flight at a time; every write acknowledged while it runs
      // waits for the next one, which then covers all of them at once.
      return new Promise<void>((resolve, reject) => {
        waiting.push({ resolve, reject });
        if (!syncing) startSync();
      });
    },
    logBytes: () => bytes + queuedBytes,
    compact(state) {
      // Everything queued is already in `state`; the old log is about to be deleted.
      queue = [];
      queuedBytes = 0;
      const next = gen + 1;
      const tmp = `${snapPath(next)}.tmp`;
      const out = fs.openSync(tmp, 'w');
      for (const r of state) for (const part of encodeRecord(r.doc, r.update)) fs.writeSync(out, part);
      fs.fsyncSync(out);
      fs.closeSync(out);
      fs.renameSync(tmp, snapPath(next));
      // The rename must be durable before the previous generation is deleted.
      const dirFd = fs.openSync(config.dataDir, 'r');
      try { fs.fsyncSync(dirFd); } finally { fs.closeSync(dirFd); }
      const oldGen = gen;
      if (syncing) closeAfterSync.push(fd); else fs.closeSync(fd);
      gen = next;
      openLog(0);
      fs.rmSync(snapPath(oldGen), { force: true });
      fs.rmSync(logPath(oldGen), { force: true });
      log.info({ generation: gen }, 'compacted snapshot and log');
    },
    close() {
      writeQueue();
      for (const old of closeAfterSync.splice(0)) fs.closeSync(old);
      if (fd >= 0) { if (config.fsync) fs.fdatasyncSync(fd); fs.closeSync(fd); fd = -1; }
    },
  };
}

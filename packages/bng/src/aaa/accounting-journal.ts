/**
 * The durable accounting queue: an append-only journal of newline-delimited JSON entries
 * ("add" a record, "ack" a record), fsynced before a record is sent and before its removal is
 * trusted. Reopening replays it: every added and unacknowledged record is pending again, in
 * sequence order. A torn last line (crash mid-write) is ignored; the journal is compacted on
 * open and when acknowledged entries dominate.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BngError } from '@bng/api';

/** An attribute value as stored: text, number, or octets in hex. */
export type StoredValue = string | number | { readonly hex: string };

export interface JournalRecord {
  readonly seq: number;
  readonly realm: string;
  readonly sessionId: string;
  /** Acct-Status-Type (RFC 2866 §5.1). */
  readonly statusType: number;
  /** When the event happened (ms since epoch): Event-Timestamp and Acct-Delay-Time derive from it. */
  readonly eventMs: number;
  readonly attrs: ReadonlyArray<readonly [string, StoredValue]>;
}

export type NewJournalRecord = Omit<JournalRecord, 'seq'>;

export interface AccountingJournal {
  /** Resolves once the record is on disk (fsync). */
  append(rec: NewJournalRecord): Promise<JournalRecord>;
  /** Resolves once the acknowledgement is on disk. */
  ack(seq: number): Promise<void>;
  /** Unacknowledged records in sequence order. */
  pending(): JournalRecord[];
  close(): Promise<void>;
  readonly path: string;
  /** Lines found unreadable when the journal was opened (a torn last write). */
  readonly torn: number;
}

interface Entry { op: 'add'; rec: JournalRecord }
interface Ack { op: 'ack'; seq: number }

export interface JournalOptions {
  /** Compact when at least this many acknowledged records are in the file (default 20,000). */
  readonly compactAfterAcks?: number;
}

export async function openAccountingJournal(path: string, options: JournalOptions = {}): Promise<AccountingJournal> {
  const compactAfter = options.compactAfterAcks ?? 20_000;
  mkdirSync(dirname(path), { recursive: true });
  const live = new Map<number, JournalRecord>();
  let nextSeq = 1;
  let torn = 0;
  if (existsSync(path)) {
    const lines = readFileSync(path, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      let e: Entry | Ack;
      try {
        e = JSON.parse(line) as Entry | Ack;
      } catch {
        torn++;
        continue; // a write cut short by a crash: that record was never acknowledged to anyone
      }
      if (e.op === 'add') {
        live.set(e.rec.seq, e.rec);
        nextSeq = Math.max(nextSeq, e.rec.seq + 1);
      } else if (e.op === 'ack') {
        live.delete(e.seq);
        nextSeq = Math.max(nextSeq, e.seq + 1);
      }
    }
  }
  rewrite(path, [...live.values()].sort((a, b) => a.seq - b.seq));
  let fh: FileHandle = await open(path, 'a');
  let acksInFile = 0;
  let queue: Array<{ line: string; done: () => void; fail: (e: Error) => void }> = [];
  let writing: Promise<void> | undefined;
  let closed = false;

  async function writer(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        // Group commit: one write and one fsync for everything queued meanwhile.
        await fh.write(batch.map((b) => b.line).join(''));
        await fh.datasync();
        for (const b of batch) b.done();
      } catch (e) {
        const err = new BngError('BNG_ERR_ACCT_JOURNAL', `accounting journal ${path}: ${(e as Error).message}`);
        for (const b of batch) b.fail(err);
      }
    }
    if (acksInFile >= compactAfter && acksInFile > live.size) {
      await fh.close();
      rewrite(path, [...live.values()].sort((a, b) => a.seq - b.seq));
      fh = await open(path, 'a');
      acksInFile = 0;
    }
  }

  function write(line: string): Promise<void> {
    if (closed) return Promise.reject(new BngError('BNG_ERR_ACCT_JOURNAL', `accounting journal ${path} is closed`));
    return new Promise<void>((done, fail) => {
      queue.push({ line, done, fail });
      kick();
    });
  }

  function kick(): void {
    if (writing) return;
    writing = writer().finally(() => {
      writing = undefined;
      if (queue.length > 0) kick();
    });
  }

  return {
    path,
    torn,
    async append(r) {
      const rec: JournalRecord = { ...r, seq: nextSeq++ };
      live.set(rec.seq, rec);
      await write(`${JSON.stringify({ op: 'add', rec } satisfies Entry)}\n`);
      return rec;
    },
    async ack(seq) {
      if (!live.delete(seq)) return;
      acksInFile++;
      await write(`${JSON.stringify({ op: 'ack', seq } satisfies Ack)}\n`);
    },
    pending: () => [...live.values()].sort((a, b) => a.seq - b.seq),
    async close() {
      while (writing) await writing;
      closed = true;
      await fh.close();
    },
  };
}

/** Writes the live records to a temp file, fsyncs it, renames it over the journal, fsyncs the directory. */
function rewrite(path: string, recs: JournalRecord[]): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const text = recs.map((rec) => `${JSON.stringify({ op: 'add', rec } satisfies Entry)}\n`).join('');
    if (text.length > 0) writeAll(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

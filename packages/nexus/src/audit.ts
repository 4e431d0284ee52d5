/**
 * The audit log: one JSON line per accepted change, naming who made it, on the replica that
 * accepted it. Lines are written before the API answers, like the state log: the API's flush
 * writes every line recorded so far (lines also go out once per event-loop turn, or as soon as
 * enough are waiting), so a bulk request of thousands of changes is a few writes, not thousands.
 * The tail served by the API is read back from the end of the file: nothing is kept in memory
 * (100,000 subscribers inserted are 200,000 lines; holding the last 10,000 meant every line lived
 * long enough to be promoted to V8's old space and stay there as garbage).
 */
import * as fs from 'node:fs';
import type { Clock, Logger } from './logger.js';

export interface AuditEntry { at: number; actor: string; action: string; target: string; node: string; details?: unknown }

export interface AuditLog {
  record(actor: string, action: string, target: string, details?: unknown): void;
  /** The last `limit` entries, oldest first (also after a restart). */
  tail(limit: number): AuditEntry[];
  /** Write every recorded line to the file (synchronously). */
  flush(): void;
  close(): void;
}

const WRITE_BYTES = 64 * 1024;
const CHUNK = 256 * 1024;

export function createAuditLog(config: { file: string; node: string }, deps: { clock: Clock; log: Logger }): AuditLog {
  const fd = fs.openSync(config.file, 'a+');
  // A line torn by a crash is ended, so that the next entry starts a line of its own.
  const size = fs.fstatSync(fd).size;
  if (size > 0) {
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 10) fs.writeSync(fd, '\n');
  }
  const log = deps.log.child({ component: 'audit' });
  let pending: string[] = [];
  let pendingBytes = 0;
  let scheduled = false;
  const flush = () => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    pendingBytes = 0;
    fs.writeSync(fd, text);
  };
  return {
    record(actor, action, target, details) {
      const entry: AuditEntry = { at: deps.clock.now(), actor, action, target, node: config.node, ...(details === undefined ? {} : { details }) };
      const line = `${JSON.stringify(entry)}\n`;
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= WRITE_BYTES) flush();
      else if (!scheduled) { scheduled = true; setImmediate(() => { scheduled = false; flush(); }); }
      log.info({ audit: entry }, 'change');
    },
    tail(limit) {
      flush();
      // Read backwards in chunks until `limit` complete lines (plus the partial first one) are in.
      const size = fs.fstatSync(fd).size;
      const chunks: Buffer[] = [];
      let start = size;
      let newlines = 0;
      while (start > 0 && newlines <= limit) {
        const len = Math.min(CHUNK, start);
        start -= len;
        const buf = Buffer.allocUnsafe(len);
        fs.readSync(fd, buf, 0, len, start);
        for (let i = 0; i < len; i++) if (buf[i] === 10) newlines++;
        chunks.unshift(buf);
      }
      const lines = Buffer.concat(chunks).toString('utf8').split('\n');
      if (start > 0) lines.shift(); // cut mid-line
      const out: AuditEntry[] = [];
      for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
        const line = lines[i]!;
        if (!line) continue;
        try { out.push(JSON.parse(line) as AuditEntry); } catch { /* torn line from a crash */ }
      }
      return out.reverse();
    },
    flush,
    close() { flush(); fs.closeSync(fd); },
  };
}

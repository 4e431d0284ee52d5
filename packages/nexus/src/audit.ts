/**
 * The audit log: one JSON line per accepted change, naming who made it, on the replica that
 * accepted it. Written synchronously before the API answers, like the state log.
 */
import * as fs from 'node:fs';
import type { Clock, Logger } from './logger.js';

export interface AuditEntry { at: number; actor: string; action: string; target: string; node: string; details?: unknown }

export interface AuditLog {
  record(actor: string, action: string, target: string, details?: unknown): void;
  tail(limit: number): AuditEntry[];
  close(): void;
}

export function createAuditLog(config: { file: string; node: string }, deps: { clock: Clock; log: Logger }): AuditLog {
  const fd = fs.openSync(config.file, 'a+');
  const recent: AuditEntry[] = [];
  const KEEP = 10_000;
  // Serve the tail across restarts: read back the end of the file (complete lines only).
  const size = fs.fstatSync(fd).size;
  if (size > 0) {
    const len = Math.min(size, 4 * 1024 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (len < size) lines.shift();
    for (const line of lines.slice(-KEEP)) {
      if (!line) continue;
      try { recent.push(JSON.parse(line) as AuditEntry); } catch { /* torn last line */ }
    }
  }
  const log = deps.log.child({ component: 'audit' });
  return {
    record(actor, action, target, details) {
      const entry: AuditEntry = { at: deps.clock.now(), actor, action, target, node: config.node, ...(details === undefined ? {} : { details }) };
      fs.writeSync(fd, `${JSON.stringify(entry)}\n`);
      recent.push(entry);
      if (recent.length > KEEP) recent.splice(0, recent.length - KEEP);
      log.info({ audit: entry }, 'change');
    },
    tail(limit) {
      return recent.slice(-limit);
    },
    close() { fs.closeSync(fd); },
  };
}

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { createNexus, type Nexus } from '../src/server.js';

export const ADMIN = 'admin-token-0123456789abcdef';
export const BOOT = 'bootstrap-key-0123456789abcdef';
export const SECRET = 'peer-secret-0123456789abcdef';

export interface Res { status: number; body: any; headers: Headers }

export async function call(base: string, method: string, p: string, opts: { token?: string | undefined; body?: unknown; raw?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) { body = opts.raw; headers['content-type'] = 'application/json'; }
  else if (opts.body !== undefined && method !== 'GET' && method !== 'HEAD') { body = JSON.stringify(opts.body); headers['content-type'] = 'application/json'; }
  const r = await fetch(`${base}${p}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await r.text();
  let parsed: unknown = text;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { /* metrics etc. */ }
  return { status: r.status, body: parsed, headers: r.headers };
}

export function tempDir(prefix = 'nexus-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export class ManualClock { t = 1_700_000_000_000; now = () => this.t; advance(ms: number) { this.t += ms; } }

export async function startInProcess(flags: Record<string, unknown> = {}, clock?: ManualClock): Promise<{ base: string; port: number; nexus: Nexus; dir: string; stop(): Promise<void> }> {
  const dir = tempDir();
  const config = loadConfig({ flags: { 'auth.admin_token': ADMIN, 'auth.bootstrap_key': BOOT, data_dir: dir, 'listen.port': 0, 'persistence.fsync': false, ...flags } });
  const nexus = await createNexus(config, { log: silentLogger, ...(clock ? { clock } : {}) });
  const { port } = await nexus.start();
  return {
    base: `http://127.0.0.1:${port}`, port, nexus, dir,
    async stop() { await nexus.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export const CLI = path.resolve(import.meta.dirname, '..', 'dist', 'cli.js');

export interface Proc { child: ChildProcess; port: number; base: string; nodeId: string; dir: string; stderr: string[] }

/** Spawn a real `nexus serve` process and wait until it listens. */
export async function spawnNexus(o: { dir: string; port: number; nodeId: string; peers: number[]; args?: string[] }): Promise<Proc> {
  const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(o.port), '--data-dir', o.dir, '--node-id', o.nodeId,
    '--admin-token', ADMIN, '--bootstrap-key', BOOT, '--replication-secret', SECRET, '--log-level', 'warn', '--no-fsync',
    '--set', 'replication.reconnect_ms=100', ...o.peers.flatMap((p) => ['--peer', `ws://127.0.0.1:${p}/replicate`]), ...(o.args ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.on('data', (d: Buffer) => { stderr.push(d.toString()); });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`nexus ${o.nodeId} did not start: ${stderr.join('')}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === 'listening' && j.port) { clearTimeout(timer); resolve(j.port); }
        } catch { /* partial or other line */ }
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`nexus ${o.nodeId} exited ${code}: ${stderr.join('')}`)); });
  });
  child.removeAllListeners('exit');
  return { child, port, base: `http://127.0.0.1:${port}`, nodeId: o.nodeId, dir: o.dir, stderr };
}

export async function killProc(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const done = new Promise((r) => p.child.once('exit', r));
  p.child.kill(signal); // by PID: only the process this test started
  await done;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try { const v = await fn(); if (v) return v; last = v; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String((last as Error)?.message ?? JSON.stringify(last))}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

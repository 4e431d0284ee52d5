// A small network-namespace lab for tests, the demo and benchmarks: namespaces and veth pairs
// with unique names, processes started inside them, and cleanup of everything it made.
// Traffic never leaves the namespaces and veths created here.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

let counter = 0;

/** Runs a command and returns its stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
  }
}

export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

export function bpfObject(name: string): string {
  return join(repoRoot(), 'bpf', 'build', `${name}.bpf.o`);
}

export interface SpawnedProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export class Lab {
  /** a short unique prefix: interface names have at most 15 characters */
  readonly id: string;
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(tag = 't') {
    this.id = `${tag.slice(0, 3)}${(process.pid % 46656).toString(36)}${(counter++).toString(36)}`;
    this.dir = mkdtempSync(join(tmpdir(), `bng-lab-${this.id}-`));
  }

  ns(name: string): string {
    return `${this.id}-${name}`;
  }

  addNs(name: string): string {
    const ns = this.ns(name);
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A veth pair: `a` in namespace `nsA` (undefined = this process's namespace), `b` in `nsB`.
   * Names are prefixed with the lab id. Returns the full names.
   */
  veth(a: string, nsA: string | undefined, b: string, nsB: string | undefined, opts: { queues?: number } = {}): [string, string] {
    const an = `${this.id}${a}`.slice(0, 15);
    const bn = `${this.id}${b}`.slice(0, 15);
    const q = opts.queues ? ['numtxqueues', String(opts.queues), 'numrxqueues', String(opts.queues)] : [];
    const args = ['link', 'add', an, ...q, 'type', 'veth', 'peer', 'name', bn, ...q];
    sh('ip', nsA ? ['-n', nsA, ...args] : args);
    if (!nsA) this.rootLinks.push(an);
    if (nsB && nsB !== nsA) sh('ip', [...(nsA ? ['-n', nsA] : []), 'link', 'set', bn, 'netns', nsB]);
    else if (!nsB && !nsA) this.rootLinks.push(bn);
    return [an, bn];
  }

  ip(ns: string | undefined, ...args: string[]): string {
    return sh('ip', ns ? ['-n', ns, ...args] : args);
  }

  exec(ns: string | undefined, cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): string {
    return ns ? sh('ip', ['netns', 'exec', ns, cmd, ...args], opts) : sh(cmd, args, opts);
  }

  /** Frames from local sockets over veth carry partial checksums unless TX offload is off. */
  noTxChecksum(ns: string | undefined, ifname: string): void {
    this.exec(ns, 'ethtool', ['-K', ifname, 'tx', 'off']);
  }

  /** Attaches the pass-everything XDP program so XDP_TX frames from the peer are received. */
  xdpPass(ns: string | undefined, ifname: string): void {
    this.ip(ns, 'link', 'set', 'dev', ifname, 'xdpdrv', 'obj', bpfObject('xdp_pass'), 'sec', 'xdp');
  }

  spawn(ns: string | undefined, cmd: string, args: string[], opts: SpawnOptions = {}): SpawnedProcess {
    const argv = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
    const child = spawn(ns ? 'ip' : cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.procs.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    return { child, output: () => out, exited };
  }

  /** Ends what this lab started (by PID), deletes its namespaces, veths and files. */
  destroy(): void {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null && p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    // processes inside a namespace started by a client itself (dhclient daemonises)
    for (const ns of this.namespaces) {
      try {
        const pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // namespace already gone
      }
    }
    for (const l of this.rootLinks) {
      try {
        sh('ip', ['link', 'del', l]);
      } catch {
        // deleted with its peer
      }
    }
    for (const ns of this.namespaces) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // gone
      }
    }
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The IPv4 addresses configured on an interface in a namespace. */
export function addressesOf(lab: Lab, ns: string | undefined, ifname: string): string[] {
  const out = lab.ip(ns, '-j', '-4', 'addr', 'show', 'dev', ifname);
  const parsed = JSON.parse(out) as Array<{ addr_info: Array<{ local: string }> }>;
  return parsed.flatMap((l) => l.addr_info.map((a) => a.local));
}

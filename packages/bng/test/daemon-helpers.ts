// Shared pieces of the end-to-end tests of `bng run` (daemon-*.test.ts): the built daemon as a
// child process and its HTTP API, a layer-2 segment (a bridge in its own namespace) that several
// clients share with the daemon's interface, a capture of the DHCP frames crossing an interface,
// a scripted DHCP client on an AF_PACKET socket, and the real clients with their hook scripts.
// Everything a test makes is registered with its Testbed and removed by destroy().
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PacketSocket } from '@bng/datapath';
import { buildDhcp4Frame, dhcp4, parseFrame } from '@bng/protocols';
import { Lab, repoRoot, waitFor, type SpawnedProcess } from '@bng/testkit';

export const BNG_BIN = join(repoRoot(), 'packages', 'bng', 'bin', 'bng.js');
/** bpffs directory under which every daemon test pins its maps (one sub-directory per run) */
export const PIN_ROOT = '/sys/fs/bpf/bng-daemon-test';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The environment without BNG_* settings of whoever runs the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BNG_')) env[k] = v;
  return { ...env, ...extra };
}

/** A Lab plus what lives outside it: pinned maps, sockets, files clients leave behind. */
export class Testbed {
  readonly lab: Lab;
  private readonly cleanups: Array<() => void> = [];
  private readonly paths: string[] = [];
  private pins = 0;

  constructor(tag: string) {
    if (!existsSync(join(repoRoot(), 'packages', 'bng', 'dist', 'cli.js'))) throw new Error('build first: npx tsc -b (the daemon runs from dist)');
    this.lab = new Lab(tag);
  }

  /** a bpffs directory of its own for one fast path (removed at the end) */
  pinDir(): string {
    const dir = join(PIN_ROOT, `${this.lab.id}-${this.pins++}`);
    this.paths.push(dir);
    return dir;
  }

  /** a file or directory outside the lab to remove at the end */
  removeLater(path: string): void {
    this.paths.push(path);
  }

  /** runs at the start of destroy(), newest first (close sockets before the links go) */
  onDestroy(fn: () => void): void {
    this.cleanups.push(fn);
  }

  destroy(): void {
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        // best effort
      }
    }
    this.lab.destroy();
    for (const p of this.paths) rmSync(p, { recursive: true, force: true });
  }
}

// ---- the daemon --------------------------------------------------------------------------------

export interface DaemonSpec {
  ifname: string;
  stateDir: string;
  /** BNG_FASTPATH_PIN_DIR; required unless --no-fastpath is among the args */
  pinDir?: string;
  /** further `bng run` arguments (pool, --no-relay, --config ...) */
  args: string[];
  env?: Record<string, string>;
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
}

export interface LeaseRow {
  ip: string;
  mac: string;
  clientKey: string;
  pool: string;
  state: string;
  expiresAtMs: number;
  updatedAtMs: number;
  expiresInS: number;
  circuitId?: string;
  remoteId?: string;
}

export interface StatsBody {
  slowPath: { rxFrames: number; rxDatagrams: number; requests: Record<string, number>; replies: Record<string, number>; malformedFrames: number; sendErrors: number; journalErrors: number };
  outcomes: Record<string, number>;
  pools: Array<{ pool: string; active: number; offered: number; declined: number; size: number }>;
  fastPath: { programId: number; counters: Record<string, string>; sync: Record<string, number> } | null;
  journal: { path: string; entries: number };
}

export interface HealthBody {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export class Daemon {
  readonly api: string;

  private constructor(
    readonly proc: SpawnedProcess,
    readonly port: number,
    readonly spec: DaemonSpec,
  ) {
    this.api = `http://127.0.0.1:${port}`;
  }

  /** Starts `bng run` and waits for its "bng running" line, which names the HTTP port. */
  static async start(tb: Testbed, spec: DaemonSpec, timeoutMs = 30_000): Promise<Daemon> {
    const args = [BNG_BIN, 'run', '-i', spec.ifname, '--state-dir', spec.stateDir, '--metrics-addr', '127.0.0.1:0', '--log-level', 'info', ...spec.args];
    const env = cleanEnv({ ...(spec.pinDir ? { BNG_FASTPATH_PIN_DIR: spec.pinDir } : {}), ...spec.env });
    const proc = tb.lab.spawn(undefined, process.execPath, args, { env });
    let exited: number | null | undefined;
    void proc.exited.then((c) => (exited = c));
    const port = await waitFor(
      'the daemon to report "bng running"',
      () => {
        if (exited !== undefined) throw new Error(`bng run exited with ${exited} before it was running:\n${proc.output().slice(-4000)}`);
        const line = logLines(proc.output()).find((l) => l.msg === 'bng running');
        const m = typeof line?.metrics === 'string' ? /:(\d+)\/metrics$/.exec(line.metrics) : null;
        return m ? Number(m[1]) : undefined;
      },
      timeoutMs,
      50,
    );
    return new Daemon(proc, port, spec);
  }

  get pid(): number {
    return this.proc.child.pid!;
  }

  get running(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  logs(): Array<Record<string, unknown>> {
    return logLines(this.proc.output());
  }

  async get<T = unknown>(path: string): Promise<HttpAnswer<T>> {
    const res = await fetch(`${this.api}${path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // /metrics is text
    }
    return { status: res.status, body: body as T };
  }

  async stats(): Promise<StatsBody> {
    return (await this.get<StatsBody>('/api/stats')).body;
  }

  async leases(): Promise<LeaseRow[]> {
    return (await this.get<LeaseRow[]>('/api/leases')).body;
  }

  async subscribers(): Promise<Array<{ match: { mac?: string }; ip: string; poolId: number }>> {
    return (await this.get<Array<{ match: { mac?: string }; ip: string; poolId: number }>>('/api/subscribers')).body;
  }

  async metrics(): Promise<Metrics> {
    return new Metrics((await this.get<string>('/metrics')).body);
  }

  /** kernel counter by name (enum bng_counter), 0 when the fast path is off */
  async kernel(name: string): Promise<number> {
    return Number((await this.stats()).fastPath?.counters[name] ?? 0);
  }

  async stop(): Promise<number | null> {
    if (this.running) this.proc.child.kill('SIGTERM');
    const code = await Promise.race([this.proc.exited, sleep(15_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      this.proc.child.kill('SIGKILL');
      throw new Error(`bng run did not stop on SIGTERM:\n${this.proc.output().slice(-2000)}`);
    }
    return code;
  }

  async kill9(): Promise<void> {
    process.kill(this.pid, 'SIGKILL');
    await this.proc.exited;
  }
}

export function logLines(output: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line still being written
    }
  }
  return out;
}

/** Runs the `bng` CLI (built) to completion. */
export function bng(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BNG_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, env: cleanEnv(env) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A Prometheus text exposition, queried by name and a subset of labels. */
export class Metrics {
  readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      this.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** the sum of the samples of `name` whose labels include `labels` (0 when none) */
  get(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
  }
}

// ---- topology ----------------------------------------------------------------------------------

export function macOf(lab: Lab, ns: string | undefined, ifname: string): string {
  return (JSON.parse(lab.ip(ns, '-j', 'link', 'show', ifname)) as Array<{ address: string }>)[0]!.address;
}

/**
 * The daemon's interface (in this namespace, so the fast path can pin its maps) and a bridge in a
 * namespace of its own behind it; clients attach to the bridge. With `fastPath`, the daemon
 * side's peer gets an XDP program, without which XDP_TX frames would vanish.
 */
export interface Segment {
  serverIf: string;
  serverMac: string;
  /** the namespace holding the bridge br0 */
  sw: string;
  net: string;
}

export function buildSegment(lab: Lab, net: string, opts: { fastPath: boolean }): Segment {
  const sw = lab.addNs('sw');
  const [serverIf, peer] = lab.veth('s', undefined, 'p', sw);
  lab.ip(sw, 'link', 'add', 'br0', 'type', 'bridge');
  lab.ip(sw, 'link', 'set', peer, 'master', 'br0');
  lab.ip(sw, 'link', 'set', peer, 'up');
  lab.ip(sw, 'link', 'set', 'br0', 'up');
  if (opts.fastPath) lab.xdpPass(sw, peer);
  lab.ip(undefined, 'addr', 'add', `${net}.1/24`, 'dev', serverIf);
  lab.ip(undefined, 'link', 'set', serverIf, 'up');
  return { serverIf, serverMac: macOf(lab, undefined, serverIf), sw, net };
}

export interface ClientPort {
  ns: string | undefined;
  ifname: string;
  mac: string;
}

/** A namespace with one interface on the segment's bridge. */
export function addClientNs(lab: Lab, seg: Segment, name: string): ClientPort {
  const ns = lab.addNs(name);
  const [port, ifname] = lab.veth(`b${name}`, seg.sw, name, ns);
  lab.ip(seg.sw, 'link', 'set', port, 'master', 'br0');
  lab.ip(seg.sw, 'link', 'set', port, 'up');
  lab.ip(ns, 'link', 'set', ifname, 'up');
  return { ns, ifname, mac: macOf(lab, ns, ifname) };
}

/** An interface in this namespace on the segment's bridge, for scripted frames. */
export function addRootPort(lab: Lab, seg: Segment, name: string): ClientPort {
  const [ifname, port] = lab.veth(name, undefined, `b${name}`, seg.sw);
  lab.ip(seg.sw, 'link', 'set', port, 'master', 'br0');
  lab.ip(seg.sw, 'link', 'set', port, 'up');
  lab.ip(undefined, 'link', 'set', ifname, 'up');
  return { ns: undefined, ifname, mac: macOf(lab, undefined, ifname) };
}

// ---- capture -----------------------------------------------------------------------------------

export interface CapturedDhcp {
  at: number;
  /** sent by this host (PACKET_OUTGOING), e.g. a reply the daemon sent; XDP_TX frames never show */
  outgoing: boolean;
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  dstPort: number;
  msg: dhcp4.Dhcp4Message;
  type: number | undefined;
  mac: string;
}

const PACKET_OUTGOING = 4;

/** Every decodable DHCP frame (UDP 67/68) seen on an interface of this namespace. */
export class DhcpCapture {
  readonly seen: CapturedDhcp[] = [];
  private readonly sock: PacketSocket;

  constructor(ifname: string) {
    this.sock = new PacketSocket(ifname, { rcvbufBytes: 16 << 20 });
    this.sock.onFrames((frames) => this.take(frames));
  }

  private take(frames: Array<{ frame: Buffer; pktType: number }>): void {
    const at = Date.now();
    for (const f of frames) {
      try {
        const p = parseFrame(f.frame);
        if (!p.udp || !p.ipv4 || (p.udp.dstPort !== 67 && p.udp.dstPort !== 68)) continue;
        const msg = dhcp4.decodeDhcp4(p.payload);
        this.seen.push({
          at,
          outgoing: f.pktType === PACKET_OUTGOING,
          srcMac: p.srcMac,
          dstMac: p.dstMac,
          srcIp: p.ipv4.src,
          dstIp: p.ipv4.dst,
          dstPort: p.udp.dstPort,
          msg,
          type: dhcp4.messageType(msg),
          mac: dhcp4.macOf(msg),
        });
      } catch {
        // not DHCP, or not decodable
      }
    }
  }

  /** reads whatever is still queued in the socket */
  drain(): void {
    for (;;) {
      const frames = this.sock.receive(256);
      if (frames.length === 0) return;
      this.take(frames);
    }
  }

  /** replies of `type` the daemon sent itself (slow path), optionally for one client */
  sent(type: number, mac?: string): CapturedDhcp[] {
    return this.seen.filter((c) => c.outgoing && c.msg.op === dhcp4.Op.BOOTREPLY && c.type === type && (mac === undefined || c.mac === mac));
  }

  close(): void {
    this.sock.close();
  }
}

// ---- a scripted client -------------------------------------------------------------------------

/** An AF_PACKET socket that sends scripted requests and collects every BOOTREPLY it hears. */
export class ScriptedPort {
  readonly replies: Array<{ at: number; msg: dhcp4.Dhcp4Message }> = [];
  readonly sock: PacketSocket;

  constructor(readonly ifname: string) {
    this.sock = new PacketSocket(ifname);
    this.sock.onFrames((frames) => {
      for (const f of frames) {
        if (f.pktType === PACKET_OUTGOING) continue;
        try {
          const p = parseFrame(f.frame);
          if (p.udp?.dstPort !== dhcp4.Port.CLIENT) continue;
          const msg = dhcp4.decodeDhcp4(p.payload);
          if (msg.op === dhcp4.Op.BOOTREPLY) this.replies.push({ at: Date.now(), msg });
        } catch {
          // not for us
        }
      }
    });
  }

  send(frames: Uint8Array[]): void {
    for (let i = 0; i < frames.length; i += 64) this.sock.send(frames.slice(i, i + 64).map((f) => Buffer.from(f)));
  }

  /** the first reply after `since` matching `pred`, or undefined after `timeoutMs` */
  async reply(pred: (m: dhcp4.Dhcp4Message) => boolean, since: number, timeoutMs: number): Promise<dhcp4.Dhcp4Message | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.find((x) => x.at >= since && pred(x.msg));
      if (r) return r.msg;
      if (Date.now() > end) return undefined;
      await sleep(20);
    }
  }

  close(): void {
    this.sock.close();
  }
}

const { MessageType, OptionCode } = dhcp4;

/** One DHCP client driven step by step; replies are asked broadcast so any port hears them. */
export class ScriptedClient {
  private xid: number;

  constructor(
    readonly port: ScriptedPort,
    readonly mac: string,
  ) {
    this.xid = (Math.random() * 0xffffffff) >>> 0;
  }

  private message(type: number, fields: Partial<dhcp4.Dhcp4Message>, options: dhcp4.Dhcp4Option[]): dhcp4.Dhcp4Message {
    return dhcp4.createDhcp4Message({
      xid: this.xid,
      flags: dhcp4.BROADCAST_FLAG,
      chaddr: dhcp4.chaddrOf(Uint8Array.from(this.mac.split(':').map((h) => parseInt(h, 16)))),
      ...fields,
      options: [dhcp4.messageTypeOption(type), ...options],
    });
  }

  private async exchange(msg: dhcp4.Dhcp4Message, want: number[], timeoutMs: number, spec: { srcIp?: string; dstIp?: string } = {}): Promise<dhcp4.Dhcp4Message | undefined> {
    const since = Date.now();
    this.port.send([buildDhcp4Frame(msg, spec)]);
    return this.port.reply((m) => m.xid === msg.xid && dhcp4.macOf(m) === this.mac && want.includes(dhcp4.messageType(m) ?? -1), since, timeoutMs);
  }

  /** DISCOVER; the OFFER, or undefined when none came within `timeoutMs` */
  async discover(timeoutMs = 5_000): Promise<dhcp4.Dhcp4Message | undefined> {
    this.xid = (this.xid + 1) >>> 0;
    return this.exchange(this.message(MessageType.DHCPDISCOVER, {}, []), [MessageType.DHCPOFFER], timeoutMs);
  }

  /** REQUEST (SELECTING) for an offer; the ACK or NAK */
  async request(offer: dhcp4.Dhcp4Message, timeoutMs = 5_000): Promise<dhcp4.Dhcp4Message | undefined> {
    const sid = dhcp4.serverId(offer)!;
    const msg = this.message(MessageType.DHCPREQUEST, {}, [dhcp4.ipOption(OptionCode.REQUESTED_IP, offer.yiaddr), dhcp4.ipOption(OptionCode.SERVER_ID, sid)]);
    return this.exchange(msg, [MessageType.DHCPACK, MessageType.DHCPNAK], timeoutMs);
  }

  /** DISCOVER, OFFER, REQUEST, ACK (retried: the first frames may meet a cold bridge) */
  async dora(): Promise<{ ip: string; serverId: string }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const offer = await this.discover();
      if (!offer) continue;
      const ack = await this.request(offer);
      if (ack && dhcp4.messageType(ack) === MessageType.DHCPACK) return { ip: ack.yiaddr, serverId: dhcp4.serverId(ack)! };
    }
    throw new Error(`scripted client ${this.mac}: no lease`);
  }

  /** DECLINE (RFC 2131 §4.4.1: broadcast, requested IP = the address, ciaddr 0) */
  decline(ip: string, serverId: string): void {
    this.xid = (this.xid + 1) >>> 0;
    const msg = this.message(MessageType.DHCPDECLINE, { flags: 0 }, [dhcp4.ipOption(OptionCode.REQUESTED_IP, ip), dhcp4.ipOption(OptionCode.SERVER_ID, serverId)]);
    this.port.send([buildDhcp4Frame(msg)]);
  }

  /** RELEASE (RFC 2131 §4.4.6: unicast to the server, ciaddr = the address) */
  release(ip: string, serverId: string, serverMac: string): void {
    this.xid = (this.xid + 1) >>> 0;
    const msg = this.message(MessageType.DHCPRELEASE, { flags: 0, ciaddr: ip }, [dhcp4.ipOption(OptionCode.SERVER_ID, serverId)]);
    this.port.send([buildDhcp4Frame(msg, { dstMac: serverMac, dstIp: serverId, srcIp: ip })]);
  }
}

// ---- real clients ------------------------------------------------------------------------------

export function hookScript(lab: Lab, name: string, body: string): string {
  const p = join(lab.dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

export interface RealClient {
  kind: 'dhclient' | 'udhcpc' | 'dhcpcd';
  port: ClientPort;
  proc: SpawnedProcess;
  /** "<reason> <ip>" lines its hook wrote, oldest first, reasons lower-cased */
  events(): Array<{ reason: string; ip: string }>;
}

function eventsOf(file: string): () => Array<{ reason: string; ip: string }> {
  return () => {
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [reason = '', ip = ''] = l.split(' ');
        return { reason: reason.toLowerCase(), ip };
      });
  };
}

/** udhcpc in the foreground; the hook configures the address and logs bound/renew/nak. */
export function startUdhcpc(tb: Testbed, port: ClientPort, extra: string[] = []): RealClient {
  const log = join(tb.lab.dir, `${port.ifname}.events`);
  const hook = hookScript(tb.lab, `${port.ifname}.udhcpc`, `case "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; esac\necho "$1 $ip" >> ${log}`);
  const proc = tb.lab.spawn(port.ns, 'udhcpc', ['-f', '-i', port.ifname, '-s', hook, '-t', '20', '-T', '1', ...extra]);
  return { kind: 'udhcpc', port, proc, events: eventsOf(log) };
}

/** ISC dhclient in the foreground with its own lease and pid files. */
export function startDhclient(tb: Testbed, port: ClientPort): RealClient {
  const log = join(tb.lab.dir, `${port.ifname}.events`);
  const hook = hookScript(
    tb.lab,
    `${port.ifname}.dhclient`,
    `case "$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface";; esac\necho "$reason $new_ip_address" >> ${log}`,
  );
  const proc = tb.lab.spawn(port.ns, 'dhclient', ['-4', '-d', '-sf', hook, '-lf', join(tb.lab.dir, `${port.ifname}.lease`), '-pf', join(tb.lab.dir, `${port.ifname}.pid`), port.ifname]);
  return { kind: 'dhclient', port, proc, events: eventsOf(log) };
}

/** dhcpcd (IPv4 only, no ARP probing) in the foreground; it keeps a lease file per interface name. */
export function startDhcpcd(tb: Testbed, port: ClientPort): RealClient {
  const log = join(tb.lab.dir, `${port.ifname}.events`);
  const hook = hookScript(tb.lab, `${port.ifname}.dhcpcd`, `echo "$reason $new_ip_address" >> ${log}`);
  tb.removeLater(`/var/lib/dhcpcd/${port.ifname}.lease`);
  // its pid file and control sockets stay behind when it is killed
  for (const f of ['pid', 'sock', 'unpriv.sock']) tb.removeLater(`/run/dhcpcd/${port.ifname}-4.${f}`);
  const proc = tb.lab.spawn(port.ns, 'dhcpcd', ['-4', '-B', '--noarp', '--noipv4ll', '-f', '/dev/null', '-c', hook, port.ifname]);
  return { kind: 'dhcpcd', port, proc, events: eventsOf(log) };
}

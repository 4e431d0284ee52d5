// `bng demo` (what `make demo` runs): a lab of network namespaces in front of the real daemon.
// `bng run` serves the lab's access segment in standalone mode (its own pool, no Nexus); two dozen
// real dhclient and udhcpc clients bind through the slow path, a perfdhcp burst follows, and the
// short lease makes the clients renew while the demo runs, which the XDP fast path answers in the
// kernel. A live view shows leases, slow vs fast path and rates every 2 s, and where the metrics
// are. Everything the demo creates is removed at the end, on failure and on Ctrl-C too.
//
// Topology. The daemon's interface stays in the root namespace: `ip netns exec` remounts /sys, so
// a daemon started inside a namespace could not reach the bpffs where its maps are pinned.
//
//   root ns: <id>s (100.64.0.1/22, `bng run`, native XDP)
//       | veth trunk
//   <id>-acc ns: <id>a (xdp_pass) -- br0 -- <id>pN -- veth -- <id>-cN ns: <id>cN (dhclient | udhcpc)
//                                      \-- <id>pp -- veth -- <id>-perf ns: <id>pf (perfdhcp, a relay at 100.64.3.254)
//
// The subscribers share one bridged segment, like the ports of an OLT, but the bridge lives in
// the "acc" namespace and reaches the daemon over a single veth. Native XDP cannot be attached
// to a bridge device, and generic XDP on one would see only what the bridge hands up locally; an
// ordinary veth takes native XDP. XDP_TX on a veth delivers to its peer only if the peer has an
// XDP program of its own, hence xdp_pass on the acc end of the trunk.
import { once } from 'node:events';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DhcpFastPath } from '@bng/datapath';
import { Lab, addressesOf, type SpawnedProcess } from '@bng/testkit';

export interface DemoOptions {
  /** real clients, half dhclient and half udhcpc */
  clients: number;
  /** how long the demo runs, from the moment the clients start */
  seconds: number;
  /** pool lease time; T1 (first renewal) is half of it */
  leaseTime: number;
  /** daemon HTTP port; 0 takes a free one */
  metricsPort: number;
}

const POOL = '100.64.0.0/22';
const GATEWAY = '100.64.0.1';
const PREFIX = 22;
/**
 * perfdhcp (DHCPv4) always plays a relay: giaddr is its own address and replies go to its port 67.
 * The address is on the pool's network, so the pool serves it, and outside the dynamic range.
 */
const PERF_ADDR = '100.64.3.254';
const RANGE = '100.64.0.2-100.64.3.253';
const PERF = { rate: 500, clients: 200, seconds: 5 };
const TICK_MS = 2000;
const BIN = fileURLToPath(new URL('../bin/bng.js', import.meta.url));

interface Client {
  kind: 'dhclient' | 'udhcpc';
  ns: string;
  ifname: string;
  proc: SpawnedProcess;
}

interface ApiStats {
  slowPath: { requests: Record<string, number>; replies: Record<string, number>; sendErrors: number };
  pools: Array<{ pool: string; active: number; offered: number; size: number }>;
  fastPath: { programId: number; counters: Record<string, string | number>; sync: Record<string, number> } | null;
}

/** One reading of everything the live view shows; counters are totals since the daemon started. */
interface Sample {
  at: number;
  leases: number;
  poolSize: number;
  /** real clients with their address configured */
  clientsBound: number;
  /** renewals the clients' hooks reported (dhclient RENEW, udhcpc renew) */
  renewals: number;
  req: { discover: number; request: number; other: number };
  slow: { offer: number; ack: number; nak: number };
  kernel: { rx: number; offer: number; ack: number; nak: number; passed: number };
}

interface PerfResult {
  code: number | null;
  discover: number;
  offer: number;
  request: number;
  ack: number;
  drops: number;
}

const n = (v: unknown): number => Number(v ?? 0);
const sum = (r: Record<string, number>, skip: string[]): number => Object.entries(r).reduce((a, [k, v]) => (skip.includes(k) ? a : a + v), 0);
const pct = (part: number, whole: number): string => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-');

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Kea perfdhcp report: one "sent/received/drops" block per exchange (DISCOVER-OFFER, REQUEST-ACK). */
function parsePerfdhcp(out: string, code: number | null): PerfResult {
  const all = (re: RegExp) => [...out.matchAll(re)].map((m) => Number(m[1]));
  const sent = all(/^sent packets: (\d+)/gm);
  const recv = all(/^received packets: (\d+)/gm);
  const drops = all(/^drops: (\d+)/gm);
  return { code, discover: sent[0] ?? 0, offer: recv[0] ?? 0, request: sent[1] ?? 0, ack: recv[1] ?? 0, drops: drops.reduce((a, b) => a + b, 0) };
}

function hookScript(log: string): string {
  // dhclient passes $reason and new_*; udhcpc passes the event as $1 and ip/mask (prefix length)
  return `#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"; echo "$interface $reason $new_ip_address" >> ${log};;
  EXPIRE|FAIL|RELEASE|STOP) ip -4 addr flush dev "$interface"; echo "$interface $reason" >> ${log};;
esac
case "$1" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface"; echo "$interface $1 $ip" >> ${log};;
  deconfig) ip -4 addr flush dev "$interface";;
esac
exit 0
`;
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const lab = new Lab('dem');
  const pinDir = `/sys/fs/bpf/bng-demo-${lab.id}`;
  const stateDir = join(lab.dir, 'state');
  const eventLog = join(lab.dir, 'events.log');
  const tty = Boolean(process.stdout.isTTY);
  const bngIf = `${lab.id}s`;
  let daemon: SpawnedProcess | undefined;
  let perf: SpawnedProcess | undefined;
  const clients: Client[] = [];

  // Ctrl-C (or SIGTERM): leave the loop, clean up in order; a second one cleans up at once.
  let interrupted = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const onSignal = () => {
    if (interrupted) {
      cleanup();
      process.exit(130);
    }
    interrupted = true;
    console.log('\ninterrupted: stopping the demo and removing the lab ...');
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const p of [perf, ...clients.map((c) => c.proc)]) kill(p, 'SIGKILL');
    // the daemon leaves its program attached on purpose (renewals go on across restarts); the
    // lab's own copy goes with the veth and its pinned maps with the pin directory
    try {
      DhcpFastPath.detach(bngIf, { pinDir, unpin: true });
    } catch {
      // never attached, or already gone
    }
    lab.destroy();
    rmSync(pinDir, { recursive: true, force: true });
  };
  const stopDaemon = async () => {
    if (!daemon || daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
    kill(daemon, 'SIGTERM');
    const t = setTimeout(() => kill(daemon, 'SIGKILL'), 5000);
    await daemon.exited;
    clearTimeout(t);
  };

  const events: string[] = [];
  const say = (line: string, at = Date.now()) => {
    const t = `${((at - started) / 1000).toFixed(0).padStart(3)}s`;
    events.push(`${t}  ${line}`);
    if (!tty) console.log(`t=${t} ${line}`);
  };
  let started = Date.now();

  try {
    console.log(`bng demo: lab ${lab.id}, ${o.clients} real clients, pool ${POOL}, lease ${o.leaseTime} s, ${o.seconds} s`);
    console.log('building the lab ...');
    const acc = lab.addNs('acc');
    lab.ip(acc, 'link', 'add', 'br0', 'type', 'bridge');
    lab.ip(acc, 'link', 'set', 'br0', 'up');
    const [, accIf] = lab.veth('s', undefined, 'a', acc);
    lab.ip(undefined, 'addr', 'add', `${GATEWAY}/${PREFIX}`, 'dev', bngIf);
    lab.ip(undefined, 'link', 'set', bngIf, 'up');
    lab.ip(acc, 'link', 'set', accIf, 'master', 'br0', 'up');
    lab.xdpPass(acc, accIf);

    const hook = join(lab.dir, 'hook');
    writeFileSync(hook, hookScript(eventLog));
    chmodSync(hook, 0o755);
    writeFileSync(eventLog, '');

    const access: Array<{ ns: string; ifname: string }> = [];
    for (let i = 0; i < o.clients; i++) {
      const ns = lab.addNs(`c${i}`);
      const [cif, pif] = lab.veth(`c${i}`, ns, `p${i}`, acc);
      lab.ip(acc, 'link', 'set', pif, 'master', 'br0', 'up');
      lab.ip(ns, 'link', 'set', cif, 'up');
      // renewals are unicast from a UDP socket: complete checksums, as a real NIC would send
      lab.noTxChecksum(ns, cif);
      access.push({ ns, ifname: cif });
    }
    const perfNs = lab.addNs('perf');
    const [perfIf, perfPeer] = lab.veth('pf', perfNs, 'pp', acc);
    lab.ip(acc, 'link', 'set', perfPeer, 'master', 'br0', 'up');
    lab.ip(perfNs, 'addr', 'add', `${PERF_ADDR}/${PREFIX}`, 'dev', perfIf);
    lab.noTxChecksum(perfNs, perfIf);
    lab.ip(perfNs, 'link', 'set', perfIf, 'up');

    console.log(`starting bng run on ${bngIf} ...`);
    const args = ['run', '-i', bngIf, '--pool-network', POOL, '--pool-gateway', GATEWAY, '--pool-range', RANGE, '--pool-lease-time', String(o.leaseTime)];
    args.push('--state-dir', stateDir, '--metrics-addr', `127.0.0.1:${o.metricsPort}`, '--fastpath-mode', 'native', '--no-relay', '--log-level', 'info');
    daemon = lab.spawn(undefined, process.execPath, [BIN, ...args], { env: { ...process.env, BNG_FASTPATH_PIN_DIR: pinDir }, detached: true });
    const port = await daemonPort(daemon, () => interrupted);
    const base = `http://127.0.0.1:${port}`;
    for (const end = Date.now() + 10_000; ; ) {
      if (interrupted) return 130;
      const ok = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > end) throw new Error(`the daemon did not become ready: ${await fetch(`${base}/readyz`).then((r) => r.text(), (e: Error) => e.message)}`);
      await sleep(200);
    }
    const info = await getJson<ApiStats>(`${base}/api/stats`);
    console.log(`bng run is ready (pid ${daemon.child.pid}, XDP program ${info.fastPath?.programId ?? 'none'}, maps in ${pinDir})`);

    started = Date.now();
    for (const [i, a] of access.entries()) {
      const kind = i % 2 === 0 ? 'dhclient' : 'udhcpc';
      const proc =
        kind === 'dhclient'
          ? lab.spawn(a.ns, 'dhclient', ['-4', '-d', '-sf', hook, '-lf', join(lab.dir, `c${i}.leases`), '-pf', join(lab.dir, `c${i}.pid`), a.ifname], { detached: true })
          : lab.spawn(a.ns, 'udhcpc', ['-f', '-i', a.ifname, '-s', hook, '-t', '100', '-T', '2'], { detached: true });
      clients.push({ kind, ns: a.ns, ifname: a.ifname, proc });
    }
    say(`${clients.length} clients started (${clients.filter((c) => c.kind === 'dhclient').length} dhclient, ${clients.filter((c) => c.kind === 'udhcpc').length} udhcpc)`);

    const sample = async (): Promise<Sample> => {
      const s = await getJson<ApiStats>(`${base}/api/stats`);
      const c = s.fastPath?.counters ?? {};
      const passed = Object.entries(c).reduce((a, [k, v]) => (k.startsWith('pass_') ? a + n(v) : a), 0);
      const log = readFileSync(eventLog, 'utf8');
      return {
        at: Date.now(),
        leases: s.pools.reduce((a, p) => a + p.active, 0),
        poolSize: s.pools.reduce((a, p) => a + p.size, 0),
        clientsBound: clients.filter((cl) => addressesOf(lab, cl.ns, cl.ifname).length > 0).length,
        renewals: (log.match(/ (RENEW|renew) /g) ?? []).length,
        req: { discover: n(s.slowPath.requests.DISCOVER), request: n(s.slowPath.requests.REQUEST), other: sum(s.slowPath.requests, ['DISCOVER', 'REQUEST']) },
        slow: { offer: n(s.slowPath.replies.OFFER), ack: n(s.slowPath.replies.ACK), nak: n(s.slowPath.replies.NAK) },
        kernel: { rx: n(c.rx), offer: n(c.tx_offer), ack: n(c.tx_ack), nak: n(c.tx_nak), passed },
      };
    };

    const need = Math.ceil(o.clients * 0.9);
    const deadline = started + o.seconds * 1000;
    let phase: 'binding' | 'burst' | 'renewals' = 'binding';
    let atBurst: Sample | undefined;
    let afterBurst: Sample | undefined;
    let perfResult: PerfResult | undefined;
    let firstBound = 0;
    let prev = await sample();
    let cur = prev;
    for (;;) {
      await sleep(TICK_MS);
      if (interrupted) break;
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new Error(`bng run exited (${daemon.child.exitCode ?? daemon.child.signalCode}):\n${tail(daemon.output(), 15)}`);
      cur = await sample();
      if (!firstBound && cur.clientsBound > 0) firstBound = cur.at;
      if (phase === 'binding' && (cur.clientsBound >= need || cur.at - started > 20_000)) {
        say(`${cur.clientsBound}/${o.clients} clients bound; perfdhcp burst: ${PERF.clients} simulated clients behind relay ${PERF_ADDR}, ${PERF.rate} DORA/s for ${PERF.seconds} s`, cur.at);
        phase = 'burst';
        atBurst = cur;
        perf = lab.spawn(perfNs, 'perfdhcp', ['-4', '-r', String(PERF.rate), '-R', String(PERF.clients), '-p', String(PERF.seconds), '-l', perfIf], { detached: true });
        const p = perf;
        void p.exited.then((code) => {
          if (interrupted) return;
          perfResult = parsePerfdhcp(p.output(), code);
          const r = perfResult;
          say(`perfdhcp done (exit ${code}${code === 3 ? ': some exchanges dropped' : ''}): DISCOVER ${r.discover} -> OFFER ${r.offer}, REQUEST ${r.request} -> ACK ${r.ack}, drops ${r.drops}`);
          if (r.discover === 0) say(`perfdhcp output: ${tail(p.output(), 5).replace(/\n/g, ' | ')}`);
        });
      } else if (phase === 'burst' && !perfResult && cur.at - atBurst!.at > (PERF.seconds + 20) * 1000) {
        say('perfdhcp did not finish 20 s after its test period; stopping it', cur.at);
        kill(perf, 'SIGKILL');
      } else if (phase === 'burst' && perfResult) {
        phase = 'renewals';
        afterBurst = cur;
        say(`waiting for renewals: T1 is ${Math.floor(o.leaseTime / 2)} s; the kernel answers them from the bindings the slow path wrote`, cur.at);
      }
      if (phase === 'renewals' && cur.renewals > afterBurst!.renewals && prev.renewals === afterBurst!.renewals) {
        say(`first renewals after the burst; kernel ACKs +${cur.kernel.ack - afterBurst!.kernel.ack}, slow-path REQUESTs +${cur.req.request - afterBurst!.req.request}`, cur.at);
      }
      render(tty, o, lab.id, base, phase, started, prev, cur, events);
      prev = cur;
      // the burst is never cut short: the summary needs its report
      if (Date.now() >= deadline && phase !== 'burst') break;
    }

    if (interrupted) return 130;
    // ---- summary ----
    const end = cur;
    const quietFrom = afterBurst ?? end;
    const kernelRenewals = end.kernel.ack - quietFrom.kernel.ack;
    const slowRenewals = end.req.request - quietFrom.req.request;
    const clientRenewals = end.renewals - quietFrom.renewals;
    const kernelReplies = end.kernel.offer + end.kernel.ack + end.kernel.nak;
    const slowReplies = end.slow.offer + end.slow.ack + end.slow.nak;
    const dh = clients.filter((c) => c.kind === 'dhclient');
    const boundOf = (list: Client[]) => list.filter((c) => addressesOf(lab, c.ns, c.ifname).length > 0).length;
    const bindSecs = firstBound ? ((firstBound - started) / 1000).toFixed(0) : '-';
    // long enough for a renewal: the first clients bound + T1 + a tick of margin
    const renewalDue = firstBound !== 0 && end.at - firstBound > (o.leaseTime / 2) * 1000 + TICK_MS;

    const lines: string[] = [];
    lines.push(`summary after ${((end.at - started) / 1000).toFixed(0)} s (lease ${o.leaseTime} s, T1 ${Math.floor(o.leaseTime / 2)} s)`);
    lines.push(`  real clients bound   ${end.clientsBound}/${o.clients} (dhclient ${boundOf(dh)}/${dh.length}, udhcpc ${boundOf(clients) - boundOf(dh)}/${clients.length - dh.length}); first bound after ~${bindSecs} s`);
    lines.push(`  leases in the daemon ${end.leases} bound of ${end.poolSize} in the pool`);
    if (perfResult) {
      const r = perfResult;
      lines.push(`  perfdhcp burst       DISCOVER ${r.discover} -> OFFER ${r.offer}, REQUEST ${r.request} -> ACK ${r.ack}, drops ${r.drops} (${PERF.clients} clients, exit ${r.code})`);
      lines.push(`                       answered by the kernel OFFER ${afterBurst!.kernel.offer - atBurst!.kernel.offer} ACK ${afterBurst!.kernel.ack - atBurst!.kernel.ack} (clients seen before), by the slow path OFFER ${afterBurst!.slow.offer - atBurst!.slow.offer} ACK ${afterBurst!.slow.ack - atBurst!.slow.ack}`);
    } else lines.push('  perfdhcp burst       did not run (the demo ended first)');
    // udhcpc (busybox 1.35) sends its unicast renewal from a short-lived socket bound to ciaddr:68
    // and connected to the server; the kernel's answer arrives within microseconds, lands on that
    // socket and is lost when udhcpc closes it, so udhcpc repeats the renewal by broadcast 2 s
    // (-T) later and takes that answer. Hence more kernel ACKs than completed renewals.
    const verdict = clientRenewals === 0 ? '' : slowRenewals === 0 ? ': every renewal was answered in the kernel' : `: ${slowRenewals} reached the slow path`;
    lines.push(`  renewals             ${clientRenewals} completed by the clients after the burst; the kernel sent ${kernelRenewals} ACKs, the slow path saw ${slowRenewals} REQUESTs${verdict}`);
    lines.push(`  all replies          kernel ${kernelReplies} (OFFER ${end.kernel.offer} ACK ${end.kernel.ack} NAK ${end.kernel.nak}), slow path ${slowReplies} (OFFER ${end.slow.offer} ACK ${end.slow.ack} NAK ${end.slow.nak}): ${pct(kernelReplies, kernelReplies + slowReplies)} from the kernel`);

    const failures: string[] = [];
    if (end.clientsBound < need) failures.push(`only ${end.clientsBound} of ${o.clients} real clients got a lease (need ${need})`);
    if (renewalDue && kernelRenewals === 0) failures.push('the kernel answered no renewal');
    if (perfResult && perfResult.ack === 0) failures.push('perfdhcp got no ACK');
    if (!renewalDue) lines.push(`  note                 too short to see a renewal (first one ~${Math.floor(o.leaseTime / 2)} s after binding); use --seconds ${Math.ceil(o.leaseTime * 1.5)}`);
    lines.push(failures.length ? `  result               FAILED: ${failures.join('; ')}` : '  result               OK');
    console.log(`\n${lines.join('\n')}`);
    if (failures.length) {
      for (const c of clients.filter((cl) => addressesOf(lab, cl.ns, cl.ifname).length === 0)) console.log(`\n${c.kind} in ${c.ns} has no address:\n${tail(c.proc.output(), 6)}`);
      console.log(`\nbng run log (last lines):\n${tail(daemon.output(), 10)}`);
    }
    return failures.length ? 1 : 0;
  } catch (e) {
    console.error(`bng demo failed: ${(e as Error).message}`);
    if (daemon && !(e as Error).message.includes('bng run exited')) console.error(`bng run log (last lines):\n${tail(daemon.output(), 10)}`);
    return 1;
  } finally {
    for (const p of [perf, ...clients.map((c) => c.proc)]) kill(p, 'SIGKILL');
    await stopDaemon();
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    console.log(`lab ${lab.id} removed (namespaces, veths, daemon, pinned maps, state)`);
  }
}

function kill(p: SpawnedProcess | undefined, sig: NodeJS.Signals): void {
  if (!p?.child.pid || p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(p.child.pid, sig);
  } catch {
    // already gone
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The port from the daemon's "bng running" log line (pino JSON), so --metrics-addr :0 works. */
async function daemonPort(d: SpawnedProcess, stop: () => boolean): Promise<number> {
  const end = Date.now() + 15_000;
  for (;;) {
    const m = /"metrics":"http:\/\/[^"]*:(\d+)\/metrics"/.exec(d.output());
    if (m) return Number(m[1]);
    if (d.child.exitCode !== null || d.child.signalCode !== null) throw new Error(`bng run exited (${d.child.exitCode ?? d.child.signalCode}):\n${tail(d.output(), 15)}`);
    if (stop() || Date.now() > end) throw new Error(`bng run did not start within 15 s:\n${tail(d.output(), 15)}`);
    await Promise.race([once(d.child.stdout!, 'data'), new Promise((r) => setTimeout(r, 200))]);
  }
}

function render(tty: boolean, o: DemoOptions, id: string, base: string, phase: string, started: number, prev: Sample, cur: Sample, events: string[]): void {
  const dt = Math.max(0.001, (cur.at - prev.at) / 1000);
  const rate = (a: number, b: number) => `${((a - b) / dt).toFixed(0)}/s`;
  const t = ((cur.at - started) / 1000).toFixed(0);
  const kernel = cur.kernel.offer + cur.kernel.ack + cur.kernel.nak;
  const slow = cur.slow.offer + cur.slow.ack + cur.slow.nak;
  const dk = kernel - (prev.kernel.offer + prev.kernel.ack + prev.kernel.nak);
  const ds = slow - (prev.slow.offer + prev.slow.ack + prev.slow.nak);
  if (!tty) {
    console.log(
      `t=${t.padStart(3)}s clients ${cur.clientsBound}/${o.clients} leases ${cur.leases}/${cur.poolSize} renewals ${cur.renewals} | ` +
        `slow req DISCOVER ${cur.req.discover} REQUEST ${cur.req.request} -> OFFER ${cur.slow.offer} ACK ${cur.slow.ack} NAK ${cur.slow.nak} (${rate(slow, prev.slow.offer + prev.slow.ack + prev.slow.nak)}) | ` +
        `kernel OFFER ${cur.kernel.offer} ACK ${cur.kernel.ack} NAK ${cur.kernel.nak} (${rate(kernel, prev.kernel.offer + prev.kernel.ack + prev.kernel.nak)}) | kernel share ${pct(kernel, kernel + slow)} (last ${dt.toFixed(0)} s ${dk + ds ? pct(dk, dk + ds) : 'idle'})`,
    );
    return;
  }
  const w = (v: number) => String(v).padStart(7);
  const r = (a: number, b: number) => rate(a, b).padStart(8);
  const out = [
    `bng demo  lab ${id}   pool ${POOL}, lease ${o.leaseTime} s   t=${t}s of ${o.seconds}s   phase: ${phase}`,
    '',
    `leases         ${cur.leases} bound / ${cur.poolSize} in the pool     real clients with an address ${cur.clientsBound}/${o.clients}     renewals reported by clients ${cur.renewals}`,
    '',
    '                         total    rate',
    `slow path in   DISCOVER ${w(cur.req.discover)} ${r(cur.req.discover, prev.req.discover)}   REQUEST ${w(cur.req.request)} ${r(cur.req.request, prev.req.request)}   other ${cur.req.other}`,
    `slow path out  OFFER    ${w(cur.slow.offer)} ${r(cur.slow.offer, prev.slow.offer)}   ACK     ${w(cur.slow.ack)} ${r(cur.slow.ack, prev.slow.ack)}   NAK ${cur.slow.nak}`,
    `kernel (XDP)   OFFER    ${w(cur.kernel.offer)} ${r(cur.kernel.offer, prev.kernel.offer)}   ACK     ${w(cur.kernel.ack)} ${r(cur.kernel.ack, prev.kernel.ack)}   NAK ${cur.kernel.nak}   seen ${cur.kernel.rx}, passed up ${cur.kernel.passed}`,
    `fast vs slow   kernel answered ${pct(kernel, kernel + slow)} of ${kernel + slow} replies; last ${dt.toFixed(0)} s: ${dk + ds ? `${pct(dk, dk + ds)} of ${dk + ds}` : 'idle'}`,
    '',
    `metrics        ${base}/metrics   ${base}/healthz   ${base}/readyz`,
    `try            bin/bng leases --api ${base}`,
    `               bin/bng stats --api ${base}`,
    '',
    ...events.slice(-8),
  ];
  process.stdout.write(`\x1b[H\x1b[2J${out.join('\n')}\n`);
}

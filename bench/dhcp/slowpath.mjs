// bench/dhcp slow-path section: perfdhcp full DORA against Kea 2.2 and against `bng run` with the
// fast path off, under the same conditions, then the daemon with the fast path on and an 80/20
// mix of known (XDP) and new (slow path) clients. Imported by run.mjs, which builds the topology.
//
// Conditions shared by both servers (see docs/fastpath.md, "Measured"):
// - the same veth, the same server network namespace, the same core (0) via taskset, one
//   perfdhcp pinned to core 1 with the same flags (-g single, relayed from the client address);
// - lease state persisted on the same filesystem (Kea memfile persist=true, CSV in the lab
//   directory; the daemon's journal in the lab directory), both fresh for each new-client step;
//   Kea write()s without fsync; the daemon runs twice by default (run.mjs --durability): once
//   fdatasyncing its journal before each batch's ACKs (its default), once with Kea's durability
//   (BNG_DHCP_JOURNAL_FSYNC=false: written before the ACK, not synced);
// - both restarted for every step and warmed up with the same 2 s of traffic from other MACs
//   before the measured window (the daemon's JIT otherwise spends its first second cold);
// - new clients: perfdhcp's MAC generator is sequential, so -R 500,000,000 gives every exchange a
//   MAC the server has not seen (ISC's own Kea benchmarks do the same);
// - Kea and daemon steps alternate at each offered rate, so both see the same background load;
//   each step records the load average and how much CPU other processes took on the server's
//   core, and a failing step is tried again (the machine is shared).
// Latency: perfdhcp's own average and max, p99 computed from its per-exchange timestamps (-x t),
// both as the client sees them; for the daemon also its decision time per request from the
// bng_dhcp_slowpath_request_duration_seconds histogram (server-side: decode, classify, lease
// store; no queueing, no fsync, no send).
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setPriority } from 'node:os';
import { createServer } from 'node:net';
import { get as httpGet } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { openLeaseJournal } from '../../packages/bng/dist/dhcp/lease-journal.js';

export const LOSS_LIMIT = 0.01;
const NEW_CLIENTS = 500_000_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

/** utime + stime of a process (all its threads), seconds */
function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * Per thread name (comm), CPU time and run-queue wait of a process's threads, seconds: which of
 * Node's threads (the event loop "node", V8's "V8 DefaultWorke" GC/compiler helpers, libuv's
 * "libuv-worker") took the pinned core, and which waited for it.
 */
function threadTimes(pid) {
  const out = {};
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const wait = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
      const name = tid === String(pid) ? 'main' : comm;
      const t = (out[name] ??= { cpu: 0, sys: 0, wait: 0, n: 0 });
      t.cpu += (Number(f[11]) + Number(f[12])) / CLK_TCK;
      t.sys += Number(f[12]) / CLK_TCK;
      t.wait += wait;
      t.n++;
    } catch {
      // thread gone
    }
  }
  return out;
}

/**
 * Total run-queue wait of a process's threads (what they spent runnable but waiting for a CPU),
 * seconds. Node's own helper threads (V8 GC and compiler, libuv) share the pinned core, so for the
 * daemon this counts them too; `others` below is what other processes took.
 */
const runqWaitSeconds = (threads) => Object.values(threads).reduce((sum, t) => sum + t.wait, 0);

/** What a step's snapshot records of a server process and its core. */
function processSample(pid, cpu) {
  const threads = threadTimes(pid);
  const core = cpuTimes(cpu);
  return { cpu: cpuSeconds(pid), wait: runqWaitSeconds(threads), threads, core: core.busy, steal: core.steal };
}

/**
 * One CPU's line of /proc/stat, seconds: `busy` = user + nice + system (what ran there outside
 * interrupts), `steal` = what the hypervisor ran elsewhere while this vCPU wanted to run.
 */
function cpuTimes(cpu) {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return { busy: NaN, steal: NaN };
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (f[0] + f[1] + f[2]) / CLK_TCK, steal: f[7] / CLK_TCK };
}

function pct(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Per-exchange delays from perfdhcp -x t ("sent / received: s.us / s.us" per exchange). */
export function exchangeDelays(out) {
  const sections = {};
  let cur;
  for (const line of out.split('\n')) {
    const h = /^\*\*\*Timestamps for packets: (\S+)\*\*\*/.exec(line);
    if (h) {
      cur = sections[h[1]] = [];
      continue;
    }
    if (cur === undefined) continue;
    const m = /^sent \/ received: ([\d.]+) \/ ([\d.]+)/.exec(line);
    if (m) cur.push((Number(m[2]) - Number(m[1])) * 1000);
    else if (line.startsWith('***')) cur = undefined;
  }
  const stats = (a) => {
    if (!a || a.length === 0) return undefined;
    a.sort((x, y) => x - y);
    return { n: a.length, p50: pct(a, 0.5), p99: pct(a, 0.99), p999: pct(a, 0.999), max: a[a.length - 1] };
  };
  return { do: stats(sections['DISCOVER-OFFER']), ra: stats(sections['REQUEST-ACK']) };
}

export function parsePerfdhcp(out, duration) {
  const num = (re, i = 0) => Number([...out.matchAll(re)][i]?.[1] ?? NaN);
  const doSent = num(/^sent packets: (\d+)/gm, 0);
  const acks = num(/^received packets: (\d+)/gm, 1);
  return {
    discovers: doSent,
    offers: num(/^received packets: (\d+)/gm, 0),
    requests: num(/^sent packets: (\d+)/gm, 1),
    acks: Number.isNaN(acks) ? 0 : acks,
    loss: doSent > 0 ? Math.max(0, 1 - (Number.isNaN(acks) ? 0 : acks) / doSent) : 1,
    achieved: doSent / duration,
    avgDelayMs: { do: num(/^avg delay: ([\d.]+) ms/gm, 0), ra: num(/^avg delay: ([\d.]+) ms/gm, 1) },
    maxDelayMs: { do: num(/^max delay: ([\d.]+) ms/gm, 0), ra: num(/^max delay: ([\d.]+) ms/gm, 1) },
  };
}

/**
 * One perfdhcp run from the client namespace, pinned to core 1, relayed (giaddr = the client
 * address). `clients` is -R; `macBase` is -b mac=; `num` is -n (else -p duration).
 */
export function perfdhcp(env, { rate, duration, clients, macBase = '02:00:00:00:00:00', num, timestamps = false, label }) {
  const a = ['-4', '-g', 'single', '-l', env.client, '-r', String(rate), '-R', String(clients), '-b', `mac=${macBase}`, '-W', '1000000'];
  if (num !== undefined) a.push('-n', String(num));
  else a.push('-p', String(duration));
  if (timestamps) a.push('-x', 't');
  a.push(env.server);
  const limitS = num !== undefined ? num / rate + 60 : duration + 60;
  const r = spawnSync('ip', ['netns', 'exec', env.ns, 'taskset', '-c', env.clientCpu, 'perfdhcp', ...a], {
    encoding: 'utf8',
    timeout: limitS * 1000,
    maxBuffer: 1 << 30,
  });
  if (!/sent packets/.test(r.stdout ?? '')) throw new Error(`perfdhcp failed: ${r.stderr || r.stdout || r.error?.message}`);
  // experiments: the raw output (with -x t, every exchange's timestamps) kept for a timeline
  if (label && process.env.BNG_BENCH_PERFDHCP_LOGS) {
    mkdirSync(process.env.BNG_BENCH_PERFDHCP_LOGS, { recursive: true });
    writeFileSync(join(process.env.BNG_BENCH_PERFDHCP_LOGS, `${label}.txt`), r.stdout);
  }
  const res = parsePerfdhcp(r.stdout, num !== undefined ? num / rate : duration);
  if (timestamps) res.exchange = exchangeDelays(r.stdout);
  return res;
}

// ---- Prometheus text: the slow path's latency histogram ------------------------------------------

const HIST = 'bng_dhcp_slowpath_request_duration_seconds';

/** Bucket counts of the histogram, summed over the type label: Map<le, count> */
export function histogramBuckets(text) {
  const b = new Map();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${HIST}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)[1];
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      b.set(le, (b.get(le) ?? 0) + v);
    } else if (line.startsWith(`${HIST}_sum{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith(`${HIST}_count{`)) count += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { buckets: b, sum, count };
}

/** histogram_quantile over the difference of two scrapes (linear within a bucket), seconds */
export function histogramQuantile(before, after, q) {
  const les = [...after.buckets.keys()].sort((x, y) => (x === '+Inf' ? 1 : y === '+Inf' ? -1 : Number(x) - Number(y)));
  const cum = les.map((le) => (after.buckets.get(le) ?? 0) - (before?.buckets.get(le) ?? 0));
  const total = cum[cum.length - 1] ?? 0;
  if (total <= 0) return { value: NaN, count: 0, mean: NaN };
  const rank = q * total;
  let prevLe = 0;
  let prevCum = 0;
  for (let i = 0; i < les.length; i++) {
    if (cum[i] >= rank) {
      if (les[i] === '+Inf') return { value: prevLe, above: true, count: total, mean: (after.sum - (before?.sum ?? 0)) / total };
      const le = Number(les[i]);
      const v = prevLe + ((le - prevLe) * (rank - prevCum)) / Math.max(1, cum[i] - prevCum);
      return { value: v, count: total, mean: (after.sum - (before?.sum ?? 0)) / total };
    }
    prevLe = les[i] === '+Inf' ? prevLe : Number(les[i]);
    prevCum = cum[i];
  }
  return { value: NaN, count: total, mean: NaN };
}

// ---- servers ---------------------------------------------------------------------------------------

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitUntil(what, fn, timeoutMs, proc) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (proc && proc.child.exitCode !== null) throw new Error(`${what}: the process exited (${proc.child.exitCode}): ${proc.output().slice(-2000)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${proc ? `: ${proc.output().slice(-2000)}` : ''}`);
    await sleep(100);
  }
}

/** experiments: a server's stdout/stderr kept in $BNG_BENCH_DAEMON_LOGS (e.g. with --trace-gc) */
function keepOutput(name, p) {
  const dir = process.env.BNG_BENCH_DAEMON_LOGS;
  if (!dir || !p) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.log`), p.output());
}

async function stopProc(p, timeoutMs = 15_000) {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  await p.exited;
  clearTimeout(t);
}

function udp67Open(serverIp) {
  const out = spawnSync('ss', ['-Hnlu', 'sport = :67'], { encoding: 'utf8' }).stdout ?? '';
  return out.includes(`${serverIp}:67`) || out.includes('0.0.0.0:67') || out.includes('*:67');
}

/** Kea 2.2, memfile with persistence, single-threaded, pinned to `cpu`. */
export class Kea {
  constructor(env, name = 'kea') {
    this.env = env;
    this.name = name;
    this.dir = join(env.lab.dir, name);
    mkdirSync(this.dir, { recursive: true });
    this.leaseFile = join(this.dir, 'kea-leases4.csv');
    this.conf = join(this.dir, 'kea.json');
    writeFileSync(
      this.conf,
      JSON.stringify(
        {
          Dhcp4: {
            'interfaces-config': { interfaces: [env.srvIf], 'dhcp-socket-type': 'udp' },
            // persist like the daemon does (Kea appends each lease change to the CSV with a
            // write(), it never fsyncs); lfc-interval 0: no lease file cleanup during a step
            'lease-database': { type: 'memfile', persist: true, name: this.leaseFile, 'lfc-interval': 0 },
            'multi-threading': { 'enable-multi-threading': false },
            'valid-lifetime': 3600,
            subnet4: [{ id: 1, subnet: env.network, pools: [{ pool: `${env.rangeStart} - ${env.rangeEnd}` }], 'option-data': [{ name: 'routers', data: env.server }] }],
            loggers: [{ name: 'kea-dhcp4', severity: 'WARN', output_options: [{ output: join(this.dir, 'kea.log') }] }],
          },
        },
        null,
        1,
      ),
    );
  }

  reset() {
    for (const f of [this.leaseFile, `${this.leaseFile}.2`]) rmSync(f, { force: true });
  }

  async start() {
    const env = { ...process.env, KEA_LOCKFILE_DIR: this.dir, KEA_PIDFILE_DIR: this.dir };
    this.proc = this.env.lab.spawn(undefined, 'taskset', ['-c', this.env.serverCpu, 'kea-dhcp4', '-c', this.conf], { env });
    await waitUntil('kea-dhcp4 listening on UDP 67', () => udp67Open(this.env.server), 30_000, this.proc);
  }

  get pid() {
    return this.proc?.child.pid;
  }

  async snapshot() {
    return processSample(this.pid, this.env.serverCpu);
  }

  async stop() {
    await stopProc(this.proc);
    keepOutput(`${this.name}-${this.runs ?? 0}`, this.proc);
    this.proc = undefined;
  }
}

/** `bng run` pinned to `cpu`; fast path off unless `fastpath`. */
export class BngDaemon {
  /** `config`: BNG_* variables for this daemon only (e.g. the journal's durability). */
  constructor(env, name, { fastpath = false, cpuProfDir, config = {} } = {}) {
    this.env = env;
    this.name = name;
    this.fastpath = fastpath;
    this.cpuProfDir = cpuProfDir;
    this.config = config;
    this.stateDir = join(env.lab.dir, name, 'state');
    this.runs = 0;
  }

  get journal() {
    return join(this.stateDir, `dhcp4-leases-${this.env.srvIf}.journal`);
  }

  reset(seedJournal) {
    rmSync(this.stateDir, { recursive: true, force: true });
    mkdirSync(this.stateDir, { recursive: true });
    if (seedJournal) copyFileSync(seedJournal, this.journal);
  }

  async start() {
    this.port = await freePort();
    this.pinDir = `/sys/fs/bpf/bng-bench/${this.env.lab.id}/${this.name}-${this.runs++}`;
    const node = [];
    if (this.cpuProfDir) node.push('--cpu-prof', `--cpu-prof-dir=${this.cpuProfDir}`, `--cpu-prof-name=${this.name}-${this.runs}-${Date.now()}.cpuprofile`);
    // experiments: extra V8/Node flags for the daemon (e.g. --trace-gc), its output kept in a directory
    if (process.env.BNG_BENCH_NODE_FLAGS) node.push(...process.env.BNG_BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean));
    const args = [
      '-c', this.env.serverCpu, process.execPath, ...node, this.env.bngBin, 'run',
      '-i', this.env.srvIf,
      '--pool-network', this.env.network,
      '--pool-gateway', this.env.server,
      '--pool-range', `${this.env.rangeStart}-${this.env.rangeEnd}`,
      '--pool-lease-time', '3600',
      '--state-dir', this.stateDir,
      '--metrics-addr', `127.0.0.1:${this.port}`,
      '--log-level', 'warn',
    ];
    if (!this.fastpath) args.push('--no-fastpath');
    this.proc = this.env.lab.spawn(undefined, 'taskset', args, { env: { ...process.env, ...this.config, BNG_FASTPATH_PIN_DIR: this.pinDir } });
    await waitUntil(`${this.name} ready`, async () => (await this.get('/readyz').catch(() => undefined)) !== undefined, 120_000, this.proc);
    if (process.env.BNG_BENCH_NICE_HELPERS) {
      for (const tid of readdirSync(`/proc/${this.pid}/task`)) if (tid !== String(this.pid)) setPriority(Number(tid), Number(process.env.BNG_BENCH_NICE_HELPERS));
    }
  }

  /** one request per connection (a kept-alive socket can race the server's idle timeout) */
  get(path) {
    return new Promise((resolve, reject) => {
      const req = httpGet({ host: '127.0.0.1', port: this.port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${path}: HTTP ${res.statusCode}`));
          try {
            resolve(path.startsWith('/api/') || path === '/readyz' ? JSON.parse(body) : body);
          } catch (e) {
            reject(e);
          }
        });
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${path}: timeout`)));
    });
  }

  get pid() {
    return this.proc?.child.pid;
  }

  async snapshot() {
    const [metrics, stats] = await Promise.all([this.get('/metrics'), this.get('/api/stats')]);
    return { ...processSample(this.pid, this.env.serverCpu), hist: histogramBuckets(metrics), stats };
  }

  async stop() {
    await stopProc(this.proc);
    keepOutput(`${this.name}-${this.runs ?? 0}`, this.proc);
    this.proc = undefined;
    // the daemon leaves its XDP program attached on stop (by design): take it off, and its maps
    if (this.fastpath) {
      for (const mode of ['xdpdrv', 'xdpgeneric']) spawnSync('ip', ['link', 'set', 'dev', this.env.srvIf, mode, 'off']);
    }
    if (this.pinDir) rmSync(this.pinDir, { recursive: true, force: true });
  }
}

// ---- steps -------------------------------------------------------------------------------------------

const WARMUP = { rate: 1500, duration: 2, macBase: '04:00:00:00:00:00' };

/**
 * One measured step: start the server (its state prepared by the caller), warm it up, snapshot,
 * run perfdhcp, snapshot, stop.
 */
async function measure(env, server, rate, run) {
  await server.start();
  try {
    perfdhcp(env, { ...WARMUP, clients: run.warmupClients ?? NEW_CLIENTS, macBase: run.warmupBase ?? WARMUP.macBase });
    const before = await server.snapshot();
    if (process.env.BNG_BENCH_SETTLE_MS) await sleep(Number(process.env.BNG_BENCH_SETTLE_MS));
    const load = loadavg();
    const t0 = Date.now();
    const r = perfdhcp(env, { rate, duration: env.duration, clients: run.clients, macBase: run.macBase, timestamps: run.timestamps, label: `${server.name}-${rate}-${Date.now()}` });
    const after = await server.snapshot();
    r.load = load[0];
    r.windowS = (Date.now() - t0) / 1000;
    r.cpuS = after.cpu - before.cpu;
    r.waitS = after.wait - before.wait;
    if (after.threads) {
      r.threads = Object.entries(after.threads).map(([name, t]) => ({ name, n: t.n, cpu: t.cpu - (before.threads[name]?.cpu ?? 0), sys: t.sys - (before.threads[name]?.sys ?? 0), wait: t.wait - (before.threads[name]?.wait ?? 0) }));
    }
    // what other processes ran on the server's core (its user+system time minus the server's)
    r.othersS = Math.max(0, after.core - before.core - r.cpuS);
    // and what the hypervisor took from it (a vCPU that is not running cannot answer)
    r.stealS = after.steal - before.steal;
    // the rest of the machine, or the hypervisor, took more than 5% of the server's core during
    // the window (steal of 1 to 3.5 s in a 10 s step was common on this VM; Kea's p99 at 2,000/s
    // then went from 1.5 to 23 ms and more)
    r.contended = r.othersS > 0.05 * r.windowS || r.stealS > 0.05 * r.windowS;
    r.cpuUsPerDora = r.acks > 0 ? (r.cpuS * 1e6) / r.acks : NaN;
    if (after.hist) {
      r.server = {
        p50: histogramQuantile(before.hist, after.hist, 0.5),
        p99: histogramQuantile(before.hist, after.hist, 0.99),
      };
      const d = (o, k) => Number(o?.[k] ?? 0);
      const req = (s) => d(s.stats.slowPath.requests, 'DISCOVER') + d(s.stats.slowPath.requests, 'REQUEST');
      r.slowRequests = req(after) - req(before);
      const fc = (s) => (s.stats.fastPath ? Number(s.stats.fastPath.counters.tx_offer) + Number(s.stats.fastPath.counters.tx_ack) : 0);
      r.fastReplies = fc(after) - fc(before);
      r.journalErrors = after.stats.slowPath.journalErrors;
      r.sendErrors = after.stats.slowPath.sendErrors;
    }
    return r;
  } finally {
    await server.stop();
  }
}

const f1 = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

export function describe(env, name, rate, r) {
  const ex = r.exchange ? `  p99 ${f1(r.exchange.do?.p99, 2)}/${f1(r.exchange.ra?.p99, 2)} ms` : '';
  const srv = r.server ? `  server p99 ${r.server.p99.above ? '>' : ''}${f1(r.server.p99.value * 1e3, 3)} ms` : '';
  const split = r.fastReplies > 0 ? `  XDP ${((100 * r.fastReplies) / (r.fastReplies + r.slowRequests)).toFixed(1)}% of requests` : '';
  return (
    `  ${name.padEnd(12)} offered ${String(rate).padStart(6)}/s achieved ${r.achieved.toFixed(0).padStart(6)}/s  DORA ${String(r.acks).padStart(7)}  loss ${(r.loss * 100).toFixed(2).padStart(6)}%` +
    `  avg ${f1(r.avgDelayMs.do, 2)}/${f1(r.avgDelayMs.ra, 2)} ms${ex}  max ${f1(r.maxDelayMs.do)}/${f1(r.maxDelayMs.ra)} ms${srv}${split}  cpu ${f1(r.cpuUsPerDora, 0)} us/DORA  runq wait ${f1(r.waitS * 1e3, 0)} ms  others on core ${env.serverCpu} ${f1(r.othersS * 1e3, 0)} ms  steal ${f1(r.stealS * 1e3, 0)} ms${r.contended ? ' (contended)' : ''}  load ${f1(r.load, 2)}` +
    (r.threads ? `\n${' '.repeat(15)}threads (cpu of which kernel / runq wait ms): ${r.threads.filter((t) => t.cpu + t.wait > 0.001).map((t) => `${t.name}${t.n > 1 ? ` x${t.n}` : ''} ${f1(t.cpu * 1e3, 0)} (${f1(t.sys * 1e3, 0)}) / ${f1(t.wait * 1e3, 0)}`).join(', ')}` : '')
  );
}

/** the issue's latency target: client-side p99 of both exchanges under this many ms */
export const P99_TARGET_MS = 10;

/**
 * The highest step that met the whole target: under 1% loss, the offered rate achieved, and the
 * client-side p99 of DISCOVER-OFFER and REQUEST-ACK under P99_TARGET_MS. A deep socket buffer lets
 * a server slightly over its capacity pass a 10 s step on loss alone (the queue grows, nothing is
 * dropped yet), so this is the figure to compare capacity by.
 */
export function withinTarget(rows) {
  let best;
  for (const r of rows) {
    if (!r.exchange?.do || !r.exchange?.ra) continue;
    if (r.loss >= LOSS_LIMIT || r.achieved < r.rate * 0.9) continue;
    if (r.exchange.do.p99 >= P99_TARGET_MS || r.exchange.ra.p99 >= P99_TARGET_MS) continue;
    if (!best || r.rate > best.rate) best = r;
  }
  return best;
}

/**
 * Steps the offered rate up for several servers at once: at each rate every server still in the
 * race runs one step (the order alternates). A step over the loss limit, one where perfdhcp
 * fell short of the rate, or one that missed the p99 target while contended (other processes or
 * the hypervisor's steal took over 5% of the server's core) is tried again up to `env.attempts`
 * times in all, for every server alike (the machine is shared); a server leaves the race when every attempt failed, or when perfdhcp could not offer
 * the rate in any of them.
 */
export async function ladder(env, rates, entries) {
  const attempts = env.attempts ?? 3;
  const st = entries.map((e) => ({ ...e, rows: [], best: undefined, done: false }));
  for (const [i, rate] of rates.entries()) {
    const order = i % 2 === 0 ? st : [...st].reverse();
    for (const s of order) {
      if (s.done) continue;
      const tries = [];
      for (let a = 1; a <= attempts; a++) {
        const t = await s.step(rate);
        console.log(describe(env, a === 1 ? s.name : `${s.name} (retry)`, rate, t));
        s.rows.push({ rate, attempt: a, ...t });
        tries.push(t);
        // a failed or short step on a shared machine is tried again before it counts, and so is
        // one that missed the latency target while something else had the server's core
        const missedP99 = t.exchange?.do && t.exchange?.ra && (t.exchange.do.p99 >= P99_TARGET_MS || t.exchange.ra.p99 >= P99_TARGET_MS);
        if (t.loss < LOSS_LIMIT && t.achieved >= rate * 0.9 && !(missedP99 && t.contended)) break;
      }
      // the attempt that counts: a passing one with the highest achieved rate, else the last
      const passing = tries.filter((t) => t.loss < LOSS_LIMIT).sort((x, y) => y.achieved - x.achieved);
      const r = passing[0] ?? tries[tries.length - 1];
      if (r.loss < LOSS_LIMIT) {
        const got = Math.min(rate, Math.round(r.achieved));
        if (!s.best || got > s.best.rate) s.best = { ...r, rate: got };
      } else s.done = true;
      if (s.done) s.stoppedBy = { rate, contended: tries.every((t) => t.contended || t.loss < LOSS_LIMIT) };
      if (!s.done && r.achieved < rate * 0.9) {
        console.log(`  ${s.name}: perfdhcp fell short of ${rate}/s in every attempt (generator limit, or core ${env.clientCpu} busy)`);
        s.done = true;
        s.generatorLimited = true;
      }
    }
    if (st.every((s) => s.done)) break;
  }
  for (const s of st) s.withinTarget = withinTarget(s.rows);
  return Object.fromEntries(st.map((s) => [s.name, s]));
}

// ---- the three experiments -----------------------------------------------------------------------

/** New clients: Kea and each daemon (fast path off), fresh state at every step. */
export async function newClients(env, kea, bngs, rates) {
  return ladder(
    env,
    rates,
    [kea, ...bngs].map((s) => ({ name: s.name, step: (rate) => (s.reset(), measure(env, s, rate, { clients: NEW_CLIENTS, timestamps: env.timestamps })) })),
  );
}

/**
 * Known clients: `n` MACs bound once through each server (perfdhcp -n n at a rate both handle),
 * then every step restarts the server on that persisted state and runs DORA again for the same
 * MACs (sequential, so every exchange is a client with a lease).
 */
export async function knownClients(env, kea, bngs, rates, n) {
  const base = '06:00:00:00:00:00';
  const bindRate = 2000;
  for (const s of [kea, ...bngs]) {
    s.reset();
    await s.start();
    try {
      const r = perfdhcp(env, { rate: bindRate, clients: n, macBase: base, num: n });
      console.log(`  ${s.name}: bound ${r.acks} of ${n} clients at ${bindRate}/s for the known-client steps (loss ${(r.loss * 100).toFixed(2)}%)`);
    } finally {
      await s.stop();
    }
  }
  const run = { clients: n, macBase: base, warmupClients: n, warmupBase: base, timestamps: env.timestamps };
  return ladder(
    env,
    rates,
    [kea, ...bngs].map((s) => ({ name: `${s.name}-known`, step: (rate) => measure(env, s, rate, run) })),
  );
}

/**
 * A journal of `size * 0.8` bound leases written with the daemon's own journal code: MAC index i
 * (base 02:00:00:00:00:00 + i) is bound unless i % 5 == 4. perfdhcp's sequential MACs then bring
 * four known clients (answered by XDP) for every new one (slow path), as long as a step stays
 * within `size` exchanges.
 */
export function seedMixJournal(path, size, ipBase = [10, 200, 0, 0]) {
  rmSync(path, { force: true });
  const j = openLeaseJournal(path, { groupCommit: true });
  const now = Date.now();
  let n = 0;
  for (let i = 0; i < size; i++) {
    if (i % 5 === 4) continue;
    const hex = [(i / 2 ** 32) & 255, (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0'));
    const mac = `02:${hex.join(':')}`;
    const ip = ipBase[0] * 2 ** 24 + ipBase[1] * 2 ** 16 + ipBase[2] * 256 + ipBase[3] + i;
    j.append({
      op: 'put',
      lease: {
        ip: `${Math.floor(ip / 2 ** 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`,
        clientKey: `id:0102${hex.join('')}`,
        mac,
        pool: 'default',
        state: 'bound',
        expiresAtMs: now + 6 * 3600_000,
        updatedAtMs: now,
      },
    });
    n++;
  }
  j.flush();
  j.close();
  return n;
}

/** The 80/20 mix: the daemon with the fast path, a fresh copy of the seeded state at each step. */
export async function mix(env, bng, rates, size) {
  const seed = join(env.lab.dir, 'mix-seed.journal');
  const t0 = Date.now();
  const seeded = seedMixJournal(seed, size);
  console.log(`  seeded ${seeded} bound leases (80% of ${size} MACs) in ${Date.now() - t0} ms; steps are capped at ${size} exchanges`);
  const usable = rates.filter((r) => r * env.duration <= size);
  return ladder(env, usable, [{ name: bng.name, step: (rate) => (bng.reset(seed), measure(env, bng, rate, { clients: NEW_CLIENTS, timestamps: env.mixTimestamps })) }]);
}

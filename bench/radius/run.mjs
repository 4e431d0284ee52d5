#!/usr/bin/env node
/**
 * Access-Request throughput and latency of the bng RADIUS client against FreeRADIUS on this
 * machine, beside radclient's own rate and CPU measured in the same run against the same server.
 *
 *   node bench/radius/run.mjs [--seconds 10] [--rates 2000,5000,8000] [--concurrency 256]
 *                             [--threads 4] [--radclient-runs 3] [--phases radclient,closed,open]
 *
 * Phases (each restarts FreeRADIUS):
 *   radclient  radclient -p CONCURRENCY sending 10,000 Access-Requests, --radclient-runs times.
 *   closed     our client with CONCURRENCY requests always outstanding: the maximum throughput.
 *              Its latency is queueing (mean ~ CONCURRENCY / rate), not the client's.
 *   open       our client at each fixed offered rate of --rates (paced in 1 ms ticks, not
 *              waiting for answers): p50/p99/p99.9 latency and loss at that rate.
 * Each bng phase starts after 2,560 unmeasured warm-up requests. Every phase reports the CPU
 * seconds of the client and of the server per 1000 authentications and the host's steal time
 * (the share of CPU the hypervisor gave to others) during the phase.
 * Builds the TypeScript first (tsc -b, incremental).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = `usage: node bench/radius/run.mjs [options]
  --seconds N          length of each bng phase (default 10)
  --rates A,B,...      offered rates of the open-loop phases, per second (default 2000,5000,8000)
  --concurrency N      outstanding requests of the closed loop and of radclient -p (default 256)
  --threads N          FreeRADIUS thread pool size (default 4)
  --radclient-runs N   radclient runs of 10,000 requests (default 3)
  --phases LIST        any of radclient,closed,open (default all three)
  --help               this text`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const args = {};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--') || i + 1 >= argv.length) {
    console.error(`bad argument ${a}\n${USAGE}`);
    process.exit(2);
  }
  args[a.slice(2)] = argv[++i];
}
const SECONDS = Number(args.seconds ?? 10);
const RATES = String(args.rates ?? '2000,5000,8000').split(',').filter(Boolean).map(Number);
const CONCURRENCY = Number(args.concurrency ?? 256);
const THREADS = Number(args.threads ?? 4);
const RADCLIENT_RUNS = Number(args['radclient-runs'] ?? 3);
const PHASES = new Set(String(args.phases ?? 'radclient,closed,open').split(','));

spawnSync('npx', ['tsc', '-b', 'packages/protocols', 'packages/testkit', 'packages/bng'], { cwd: root, stdio: 'ignore' });
for (const f of ['packages/bng/dist/aaa/index.js', 'packages/testkit/dist/index.js', 'packages/protocols/dist/index.js']) {
  if (!existsSync(join(root, f))) {
    console.error(`missing ${f}: run npx tsc -b packages/protocols packages/testkit packages/bng`);
    process.exit(1);
  }
}
const { startFreeRadius } = await import(join(root, 'packages/testkit/dist/index.js'));
const { createRadiusClient, dgramSocketFactory, silentLogger, systemClock } = await import(join(root, 'packages/bng/dist/aaa/index.js'));
const { radius } = await import(join(root, 'packages/protocols/dist/index.js'));
const dict = radius.createDictionary();

const USERS = `DEFAULT Cleartext-Password := "bench-pw"
\tFramed-IP-Address = 100.64.0.1, Session-Timeout = 86400, Acct-Interim-Interval = 300, Class = 0x62656e6368
`;

function cpuOf(pid) {
  // utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat), as seconds.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
/** The host's CPU counters (first line of /proc/stat): total and steal ticks. */
function hostTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}
function stealSince(t0) {
  const t1 = hostTicks();
  return t1.total === t0.total ? 0 : (t1.steal - t0.steal) / (t1.total - t0.total);
}
const pct = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const per1000 = (cpu, n) => (n > 0 ? (cpu / n) * 1000 : NaN);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]; };

async function withServer(fn) {
  const fr = await startFreeRadius({ users: USERS, threads: THREADS });
  try {
    return await fn(fr);
  } finally {
    await fr.dispose();
  }
}

/** What the AAA service builds for each subscriber (attributes encoded per request). */
function request(i) {
  const mac = `02:00:${((i >> 24) & 255).toString(16).padStart(2, '0')}:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  return {
    kind: 'auth',
    code: radius.RadiusCode.AccessRequest,
    attributes: [
      radius.encodeAttribute(dict, 'User-Name', mac),
      { ...radius.encodeAttribute(dict, 'User-Password', 'bench-pw'), hide: 'user-password' },
      radius.encodeAttribute(dict, 'NAS-Identifier', 'bench-olt'),
      radius.encodeAttribute(dict, 'NAS-Port-Id', 'eth1:200.100'),
      radius.encodeAttribute(dict, 'Calling-Station-Id', mac),
    ],
  };
}

function client(fr) {
  return createRadiusClient(
    { name: 'bench', servers: [{ host: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: fr.secret }], timeoutMs: 3000, tries: 1 },
    { clock: systemClock, log: silentLogger, socketFactory: dgramSocketFactory, dictionary: dict },
  );
}

/** A short closed loop before a measured phase, so that the JIT and the server's threads are warm. */
async function warmUp(c) {
  let i = 1 << 30;
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let k = 0; k < 40; k++) await c.request(request(i++)).catch(() => undefined);
  }));
}

/** radclient sending N Access-Requests from a file with P in parallel: its rate is the reference. */
async function radclientRate(fr, n) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-radclient-'));
  const file = join(dir, 'requests');
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(`User-Name = "rc-${i}", User-Password = "bench-pw", NAS-Identifier = "bench-olt", Message-Authenticator = 0x00\n`);
  writeFileSync(file, lines.join('\n'));
  const cpu0 = cpuOf(fr.pid());
  const h0 = hostTicks();
  const t0 = process.hrtime.bigint();
  const out = await new Promise((resolve) => {
    // bash's `time` reports radclient's own user+system CPU on the last stderr line.
    const c = spawn('bash', ['-c', `TIMEFORMAT='cpu %U %S'; time radclient -q -s -p ${CONCURRENCY} -f ${file} 127.0.0.1:${fr.authPort} auth ${fr.secret}`]);
    let text = '';
    c.stdout.on('data', (d) => { text += d; });
    c.stderr.on('data', (d) => { text += d; });
    c.on('close', () => resolve(text));
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const serverCpu = cpuOf(fr.pid()) - cpu0;
  const steal = stealSince(h0);
  rmSync(dir, { recursive: true, force: true });
  const accepted = Number(/Accepted\s*:\s*(\d+)/.exec(out)?.[1] ?? NaN);
  const m = /cpu ([\d.]+) ([\d.]+)/.exec(out);
  const clientCpu = m ? Number(m[1]) + Number(m[2]) : NaN;
  return { rate: accepted / secs, accepted, secs, serverCpu, clientCpu, steal };
}

/** Our client, closed loop: CONCURRENCY requests always outstanding for SECONDS. */
async function closedLoop(fr) {
  const c = client(fr);
  await warmUp(c);
  const lat = [];
  let done = 0;
  let failed = 0;
  let i = 0;
  const end = Date.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const scpu0 = cpuOf(fr.pid());
  const h0 = hostTicks();
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (Date.now() < end) {
      const s = process.hrtime.bigint();
      try {
        const r = await c.request(request(i++));
        if (r.packet.code === radius.RadiusCode.AccessAccept) done++;
        else failed++;
      } catch {
        failed++;
      }
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cu = process.cpuUsage(cpu0);
  const serverCpu = cpuOf(fr.pid()) - scpu0;
  const steal = stealSince(h0);
  c.close();
  lat.sort((a, b) => a - b);
  return { rate: done / secs, done, failed, p50: pct(lat, 50), p99: pct(lat, 99), clientCpu: (cu.user + cu.system) / 1e6, serverCpu, secs, steal };
}

/** Our client, open loop at a fixed offered rate (sent in 1 ms ticks), for SECONDS. */
async function openLoop(fr, rate) {
  const c = client(fr);
  await warmUp(c);
  const lat = [];
  let ok = 0;
  let lost = 0;
  let sent = 0;
  const inflight = new Set();
  const cpu0 = process.cpuUsage();
  const scpu0 = cpuOf(fr.pid());
  const h0 = hostTicks();
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      const s = performance.now();
      const p = c.request(request(sent++)).then(
        (r) => { if (r.packet.code === radius.RadiusCode.AccessAccept) { ok++; lat.push(performance.now() - s); } else lost++; },
        () => { lost++; },
      );
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  const secs = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(cpu0);
  const serverCpu = cpuOf(fr.pid()) - scpu0;
  const steal = stealSince(h0);
  c.close();
  lat.sort((a, b) => a - b);
  return {
    offered: rate, rate: ok / secs, ok, loss: sent === 0 ? 0 : lost / sent, p50: pct(lat, 50), p99: pct(lat, 99), p999: pct(lat, 99.9),
    clientCpu: (cu.user + cu.system) / 1e6, serverCpu, steal,
  };
}

console.log(`# RADIUS Access-Request benchmark: FreeRADIUS ${THREADS} threads on 127.0.0.1, ${SECONDS} s phases, concurrency ${CONCURRENCY}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
// radclient stalls on files much larger than 10,000 packets, so it runs 10,000-packet files
// (the server restarted each time); the best and the median run are reported.
const rcs = [];
if (PHASES.has('radclient')) {
  for (let run = 0; run < RADCLIENT_RUNS; run++) {
    const r = await withServer((fr) => radclientRate(fr, 10_000));
    console.log(`radclient      : ${fmt(r.rate, 0)} auth/s (${r.accepted} accepted in ${fmt(r.secs, 2)} s), CPU per 1000: radclient ${fmt(per1000(r.clientCpu, r.accepted), 3)} s, server ${fmt(per1000(r.serverCpu, r.accepted), 3)} s, steal ${fmt(r.steal * 100, 0)} %`);
    rcs.push(r);
  }
}
let cl;
if (PHASES.has('closed')) {
  cl = await withServer((fr) => closedLoop(fr));
  console.log(`bng closed loop: ${fmt(cl.rate, 0)} auth/s, p50 ${fmt(cl.p50, 2)} ms, p99 ${fmt(cl.p99, 2)} ms (queueing: ${CONCURRENCY} outstanding), failed ${cl.failed}, CPU per 1000: client ${fmt(per1000(cl.clientCpu, cl.done), 3)} s, server ${fmt(per1000(cl.serverCpu, cl.done), 3)} s, steal ${fmt(cl.steal * 100, 0)} %`);
}
const opens = [];
if (PHASES.has('open')) {
  for (const r of RATES) {
    const o = await withServer((fr) => openLoop(fr, r));
    console.log(`bng open loop  : offered ${r}/s -> ${fmt(o.rate, 0)} auth/s, loss ${fmt(o.loss * 100, 2)} %, p50 ${fmt(o.p50, 2)} ms, p99 ${fmt(o.p99, 2)} ms, p99.9 ${fmt(o.p999, 2)} ms, CPU per 1000: client ${fmt(per1000(o.clientCpu, o.ok), 3)} s, server ${fmt(per1000(o.serverCpu, o.ok), 3)} s, steal ${fmt(o.steal * 100, 0)} %`);
    opens.push(o);
  }
}

console.log('# summary');
if (rcs.length > 0) {
  const best = rcs.reduce((a, b) => (b.rate > a.rate ? b : a));
  const rcCpu = median(rcs.map((r) => per1000(r.clientCpu, r.accepted)));
  const rcServer = median(rcs.map((r) => per1000(r.serverCpu, r.accepted)));
  console.log(`radclient: best ${fmt(best.rate, 0)} auth/s, median ${fmt(median(rcs.map((r) => r.rate)), 0)} auth/s; CPU per 1000 (median): radclient ${fmt(rcCpu, 3)} s, server ${fmt(rcServer, 3)} s`);
  if (cl) {
    const clCpu = per1000(cl.clientCpu, cl.done);
    console.log(`ratio bng/radclient, closed-loop rate: ${fmt(cl.rate / best.rate, 2)} of the best radclient run, ${fmt(cl.rate / median(rcs.map((r) => r.rate)), 2)} of the median`);
    console.log(`ratio bng/radclient, client CPU per 1000: ${fmt(clCpu / rcCpu, 2)} (${fmt(clCpu, 3)} s / ${fmt(rcCpu, 3)} s)`);
  }
}
if (cl) console.log(`client CPU share at closed loop: ${fmt((cl.clientCpu / (cl.clientCpu + cl.serverCpu)) * 100, 0)} % of client+server CPU`);
if (opens.length > 0) {
  const good = opens.filter((o) => o.loss < 0.01 && o.p99 < 20);
  const best = good.reduce((a, b) => (!a || b.rate > a.rate ? b : a), undefined);
  console.log(`highest open-loop rate with <1% loss and p99 < 20 ms: ${best ? `${fmt(best.rate, 0)} auth/s (p50 ${fmt(best.p50, 2)} ms, p99 ${fmt(best.p99, 2)} ms)` : 'none'}`);
}

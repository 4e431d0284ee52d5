#!/usr/bin/env node
/**
 * Access-Request throughput and latency of the bng RADIUS client against FreeRADIUS on this
 * machine, beside radclient's own rate measured in the same run against the same server.
 *
 *   node bench/radius/run.mjs [--seconds 10] [--rates 2000,5000,8000] [--concurrency 256]
 *
 * Builds the TypeScript first (tsc -b, incremental). Every phase restarts FreeRADIUS. Output:
 * rates, p50/p99 latency, loss, CPU seconds of client and server per 1000 authentications, and
 * the ratio of our closed-loop rate to radclient's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SECONDS = Number(args.seconds ?? 10);
const RATES = String(args.rates ?? '2000,5000,8000').split(',').map(Number);
const CONCURRENCY = Number(args.concurrency ?? 256);
const THREADS = Number(args.threads ?? 4);

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
const pct = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function withServer(fn) {
  const fr = await startFreeRadius({ users: USERS, threads: THREADS });
  try {
    return await fn(fr);
  } finally {
    await fr.dispose();
  }
}

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

/** radclient sending N Access-Requests from a file with P in parallel: its rate is the reference. */
async function radclientRate(fr, n) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-radclient-'));
  const file = join(dir, 'requests');
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(`User-Name = "rc-${i}", User-Password = "bench-pw", NAS-Identifier = "bench-olt", Message-Authenticator = 0x00\n`);
  writeFileSync(file, lines.join('\n'));
  const cpu0 = cpuOf(fr.pid());
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
  rmSync(dir, { recursive: true, force: true });
  const accepted = Number(/Accepted\s*:\s*(\d+)/.exec(out)?.[1] ?? NaN);
  const m = /cpu ([\d.]+) ([\d.]+)/.exec(out);
  const clientCpu = m ? Number(m[1]) + Number(m[2]) : NaN;
  return { rate: accepted / secs, accepted, secs, serverCpu, clientCpu };
}

/** Our client, closed loop: CONCURRENCY requests always outstanding for SECONDS. */
async function closedLoop(fr) {
  const c = client(fr);
  const lat = [];
  let done = 0;
  let failed = 0;
  let i = 0;
  const end = Date.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const scpu0 = cpuOf(fr.pid());
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
  c.close();
  lat.sort((a, b) => a - b);
  return { rate: done / secs, done, failed, p50: pct(lat, 50), p99: pct(lat, 99), clientCpu: (cu.user + cu.system) / 1e6, serverCpu, secs };
}

/** Our client, open loop at a fixed offered rate (sent in 1 ms ticks), for SECONDS. */
async function openLoop(fr, rate) {
  const c = client(fr);
  const lat = [];
  let ok = 0;
  let lost = 0;
  let sent = 0;
  const inflight = new Set();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const scpu0 = cpuOf(fr.pid());
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
  c.close();
  lat.sort((a, b) => a - b);
  return { offered: rate, rate: ok / secs, loss: sent === 0 ? 0 : lost / sent, p50: pct(lat, 50), p99: pct(lat, 99), clientCpu: (cu.user + cu.system) / 1e6, serverCpu };
}

console.log(`# RADIUS Access-Request benchmark: FreeRADIUS ${THREADS} threads on 127.0.0.1, ${SECONDS} s phases, concurrency ${CONCURRENCY}`);
// radclient stalls on files much larger than 10,000 packets, so it runs three 10,000-packet
// files (the server restarted each time) and its best run counts.
let rc;
for (let run = 0; run < 3; run++) {
  const r = await withServer((fr) => radclientRate(fr, 10_000));
  console.log(`radclient      : ${fmt(r.rate, 0)} auth/s (${r.accepted} accepted in ${fmt(r.secs, 2)} s), radclient CPU ${fmt((r.clientCpu / r.accepted) * 1000, 3)} s / server CPU ${fmt((r.serverCpu / r.accepted) * 1000, 3)} s per 1000`);
  if (!rc || r.rate > rc.rate) rc = r;
}
const cl = await withServer((fr) => closedLoop(fr));
console.log(`bng closed loop: ${fmt(cl.rate, 0)} auth/s, p50 ${fmt(cl.p50, 2)} ms, p99 ${fmt(cl.p99, 2)} ms, failed ${cl.failed}, client CPU ${fmt((cl.clientCpu / cl.done) * 1000, 3)} s / server CPU ${fmt((cl.serverCpu / cl.done) * 1000, 3)} s per 1000`);
let best;
for (const r of RATES) {
  const o = await withServer((fr) => openLoop(fr, r));
  console.log(`bng open loop  : offered ${r}/s -> ${fmt(o.rate, 0)} auth/s, loss ${fmt(o.loss * 100, 2)} %, p50 ${fmt(o.p50, 2)} ms, p99 ${fmt(o.p99, 2)} ms, client CPU ${fmt(o.clientCpu, 2)} s, server CPU ${fmt(o.serverCpu, 2)} s`);
  if (o.loss < 0.01 && o.p99 < 20 && (!best || o.rate > best.rate)) best = o;
}
console.log(`ratio bng/radclient (closed loop): ${fmt(cl.rate / rc.rate, 2)}`);
console.log(`highest open-loop rate with <1% loss and p99 < 20 ms: ${best ? `${fmt(best.rate, 0)} auth/s (p99 ${fmt(best.p99, 2)} ms)` : 'none'}`);
console.log(`client CPU share at closed loop: ${fmt((cl.clientCpu / (cl.clientCpu + cl.serverCpu)) * 100, 0)} % of client+server CPU`);

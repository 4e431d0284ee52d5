#!/usr/bin/env node
/**
 * Nexus benchmark: N subscribers (default 100,000) through real `nexus serve` processes on
 * loopback. Prints insert rate, allocation rate (HTTP single at 32, 128 and 256 requests in
 * flight, HTTP bulk, and the in-process allocator engine), resident memory, time for a new replica
 * to sync fully, and time to converge after a partition in which 1,000 changes were made on each
 * side. Bounded: it stops by itself.
 *
 *   npx tsc -b packages/nexus && node bench/nexus/run.mjs [--subscribers 100000] [--no-fsync]
 */
import { execFileSync, spawn } from 'node:child_process';
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'packages', 'nexus', 'dist');
if (!fs.existsSync(path.join(DIST, 'cli.js'))) { console.error('build first: npx tsc -b packages/nexus'); process.exit(2); }
const argv = process.argv.slice(2);
const N = Number(argv[argv.indexOf('--subscribers') + 1] || 0) || 100_000;
const FSYNC = !argv.includes('--no-fsync');
const ADMIN = 'bench-admin-token-0123456789';
const SECRET = 'bench-peer-secret-0123456789';
const DEADLINE = Date.now() + 10 * 60_000;
const children = [];
const dirs = [];

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
setTimeout(() => { console.error('benchmark exceeded 10 minutes; stopping'); process.exit(1); }, DEADLINE - Date.now()).unref();

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function startNode(name, port, peers) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nexus-bench-${name}-`));
  dirs.push(dir);
  const args = [path.join(DIST, 'cli.js'), 'serve', '--port', String(port), '--data-dir', dir, '--node-id', name, '--admin-token', ADMIN,
    '--replication-secret', SECRET, '--log-level', 'warn', '--set', 'replication.reconnect_ms=50', ...peers.flatMap((p) => ['--peer', `ws://127.0.0.1:${p}/replicate`]),
    ...(FSYNC ? [] : ['--no-fsync'])];
  const t0 = performance.now();
  let listenedAt = t0;
  // No V8 flags: a replica runs the way the docs start it (the memory figures are the defaults').
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (d.toString().includes('"msg":"listening"')) { listenedAt = performance.now(); resolve(); } });
    child.on('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
  return { name, port, child, startedAt: t0, get listenedAt() { return listenedAt; }, base: `http://127.0.0.1:${port}` };
}

// node:http with a keep-alive agent: the client must not be the bottleneck on a 2-core machine.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function api(node, method, p, body, token = ADMIN) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: node.port, path: p, method, agent, headers: {
      authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
    } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let j;
        try { j = text ? JSON.parse(text) : undefined; } catch { j = text; }
        if (res.statusCode >= 300) reject(new Error(`${method} ${p} -> ${res.statusCode} ${text.slice(0, 300)}`)); else resolve(j);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Single requests at a given number in flight, as BNGs send them (one allocation per subscriber
 * at authentication, over keep-alive connections). A minimal HTTP/1.1 client over raw sockets,
 * one request in flight per connection: node:http's client costs ~100 us of CPU per request
 * here, as much as the server, and topped out at ~4,000-5,000 requests/s against a server that
 * answers without doing anything, so it measured itself. Every answer's status is checked.
 */
function load(node, sockets, total, request) {
  return new Promise((resolve, reject) => {
    if (total === 0) { resolve(0); return; }
    let sent = 0;
    let answered = 0;
    const failures = [];
    const t0 = performance.now();
    const conns = [];
    for (let c = 0; c < Math.min(sockets, total); c++) {
      const sock = net.connect(node.port, '127.0.0.1');
      conns.push(sock);
      sock.setNoDelay(true);
      let buf = Buffer.alloc(0);
      const next = () => { if (sent < total) sock.write(request(sent++)); else sock.end(); };
      sock.on('connect', next);
      sock.on('error', (e) => { conns.forEach((s) => s.destroy()); reject(e); });
      sock.on('data', (d) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const len = /\r\ncontent-length: *(\d+)/i.exec(head);
          if (!len) { conns.forEach((s) => s.destroy()); reject(new Error(`answer without content-length: ${head}`)); return; }
          const size = end + 4 + Number(len[1]);
          if (buf.length < size) return;
          const status = Number(head.slice(9, 12));
          if (status >= 300 && failures.length < 5) failures.push(`${status} ${buf.subarray(end + 4, size).toString()}`);
          buf = buf.subarray(size);
          if (++answered === total) {
            if (failures.length) reject(new Error(`failed requests: ${failures.join('; ')}`));
            else resolve(performance.now() - t0);
          }
          next();
        }
      });
    }
  });
}
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);
/** CPU time (user + system) of a process's main thread, in microseconds: the thread that runs JavaScript. */
const mainThreadCpuUs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US;
};

const rssMb = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
const digest = async (node) => (await api(node, 'GET', '/api/v1/admin/state?content=false')).digest;

async function pool(concurrency, total, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) { const i = next++; if (i >= total) return; await fn(i); }
  }));
}

async function waitEqual(a, b, stepMs = 10, timeoutMs = 120_000) {
  const t0 = performance.now();
  for (;;) {
    const [da, db] = await Promise.all([digest(a), digest(b)]);
    if (da === db) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error('replicas did not converge');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

const results = {};
const line = (k, v) => { results[k] = v; console.log(`${k.padEnd(44)} ${v}`); };

console.log(`nexus benchmark: ${N} subscribers, fsync ${FSYNC ? "on (group commit)" : "off"}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}, node ${process.version}`);
const [pa, pb] = [await freePort(), await freePort()];
const A = await startNode('bench-a', pa, []);

// ---- world ----
const ncTok = (await api(A, 'POST', '/api/v1/netcos', { id: 'nc', name: 'NetCo' })).token;
const ispTok = (await api(A, 'POST', '/api/v1/ispcos', { id: 'isp', name: 'ISP', radius: { servers: ['192.0.2.1:1812'], realm: '@isp.example' } })).token;
await api(A, 'POST', '/api/v1/pools', { id: 'v4', type: 'ipv4', cidr: '100.64.0.0/14' }, ispTok);
await api(A, 'POST', '/api/v1/pools', { id: 'v6', type: 'ipv6', prefix: '2001:db8::/32', delegated_length: 56 }, ispTok);
await api(A, 'POST', '/api/v1/pools', { id: 'v4b', type: 'ipv4', cidr: '100.72.0.0/14' }, ispTok);
await api(A, 'PATCH', '/api/v1/ispcos/isp', { pools: { ipv4: ['v4'], ipv6: ['v6'] }, qos_policies: { gold: { down_kbps: 500000, up_kbps: 100000 } } }, ispTok);
const DEVICES = Math.max(1, Math.ceil(N / 1000));
for (let d = 0; d < DEVICES; d++) await api(A, 'POST', '/api/v1/devices', { id: `olt${d}`, serial: `SN${d}` }, ncTok);
const subId = (i) => `sub-${String(i).padStart(7, '0')}`;

// ---- insert rate: whole subscribers (physical + service layer, IPv4 + IPv6 allocated), bulk API ----
{
  const BATCH = 2000;
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const subscribers = [];
    for (let k = i; k < Math.min(N, i + BATCH); k++) {
      subscribers.push({ id: subId(k), nte_id: `NTE-${k}`, device_id: `olt${k % DEVICES}`, netco_id: 'nc', ispco_id: 'isp', service_tier: 'home-1g', qos_policy: 'gold' });
    }
    const r = await api(A, 'POST', '/api/v1/subscribers/bulk', { subscribers });
    if (r.failed.length) throw new Error(JSON.stringify(r.failed[0]));
  }
  const s = (performance.now() - t0) / 1000;
  line('insert: subscribers/s (bulk, full record + v4 + v6)', Math.round(N / s));
}

const util = (await api(A, 'GET', '/api/v1/pools/v4')).utilisation;
line('pool v4 utilisation', `${util.allocated}/${util.usable} (${(util.utilisation * 100).toFixed(1)}%)`);
await new Promise((r) => setTimeout(r, 500));
line('memory: resident MB at N subscribers (replica A)', rssMb(A.child.pid).toFixed(0));
{
  const m = await new Promise((resolve) => http.get({ host: '127.0.0.1', port: A.port, path: '/metrics', agent }, (res) => { let t = ''; res.on('data', (c) => { t += c; }); res.on('end', () => resolve(t)); }));
  const heap = /^nexus_process_nodejs_heap_size_used_bytes (\S+)/m.exec(m);
  line('memory: V8 heap used MB (replica A)', heap ? (Number(heap[1]) / 1048576).toFixed(0) : 'n/a');
}
// ---- a new replica syncs from nothing ----
const B = await startNode('bench-b', pb, [pa]);
{
  await waitEqual(A, B, 20, 300_000);
  const done = performance.now();
  line('new replica: spawn -> identical state, s', ((done - B.startedAt) / 1000).toFixed(2));
  line('new replica: listening -> identical state, s', ((done - B.listenedAt) / 1000).toFixed(2));
  line('memory: resident MB (replica B after sync)', rssMb(B.child.pid).toFixed(0));
}

// ---- partition, 1000 changes per side, heal ----
{
  await api(B, 'PUT', '/api/v1/admin/replication', { enabled: false });
  for (let k = 0; k < 100; k++) {
    const st = await api(A, 'GET', '/api/v1/admin/replication');
    if (st.live.length === 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const CHANGES = 1000;
  await pool(16, CHANGES, (i) => api(A, 'PATCH', `/api/v1/subscribers/${subId(i)}`, { service_tier: `tier-a-${i}` }));
  await pool(16, CHANGES, (i) => api(B, 'PATCH', `/api/v1/subscribers/${subId(N - 1 - i)}`, { service_tier: `tier-b-${i}` }));
  if ((await digest(A)) === (await digest(B))) throw new Error('partition did not separate the replicas');
  const t0 = performance.now();
  await api(B, 'PUT', '/api/v1/admin/replication', { enabled: true });
  await waitEqual(A, B, 5);
  line('partition heal: converge after 1000+1000 changes, s', ((performance.now() - t0) / 1000).toFixed(3));
  const [a0, b0] = await Promise.all([api(A, 'GET', `/api/v1/subscribers/${subId(N - 1)}`), api(B, 'GET', `/api/v1/subscribers/${subId(0)}`)]);
  if (a0.service_tier !== 'tier-b-0' || b0.service_tier !== 'tier-a-0') throw new Error('changes from one side are missing on the other');
}

await new Promise((r) => setTimeout(r, 3000));
line('memory: resident MB after 3 s idle (A / B)', `${rssMb(A.child.pid).toFixed(0)} / ${rssMb(B.child.pid).toFixed(0)}`);

// ---- allocation rate (last: it adds a third pool's worth of state to both replicas) ----
// One allocation per request, each a new one (sticky repeats would be cheaper), with replica B
// attached and replicating. A warm-up first: a Nexus runs for days, its code is compiled.
const WARMUP = Math.min(2000, Math.floor(N / 50));
const PER_LEVEL = Math.min(10_000, Math.floor(N / 20));
const LEVELS = [32, 128, 256];
const SINGLE = WARMUP + PER_LEVEL * LEVELS.length;
{
  const body = JSON.stringify({ pool_id: 'v4b' });
  const request = (offset) => (i) => `POST /api/v1/subscribers/${subId(offset + i)}/allocations HTTP/1.1\r\nHost: 127.0.0.1\r\n`
    + `Authorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  await load(A, 64, WARMUP, request(0));
  let offset = WARMUP;
  for (const inFlight of LEVELS) {
    const [a0, b0, c0] = [mainThreadCpuUs(A.child.pid), mainThreadCpuUs(B.child.pid), process.cpuUsage()];
    const ms = await load(A, inFlight, PER_LEVEL, request(offset));
    const c = process.cpuUsage(c0);
    const perReq = (us) => (us / PER_LEVEL).toFixed(0);
    line(`allocate: IPv4/s (one per HTTP request, ${inFlight} in flight)`, Math.round(PER_LEVEL / (ms / 1000)));
    line(`  CPU us/request at ${inFlight}: A main thread / B / client`, `${perReq(mainThreadCpuUs(A.child.pid) - a0)} / ${perReq(mainThreadCpuUs(B.child.pid) - b0)} / ${perReq(c.user + c.system)} (load ${os.loadavg()[0].toFixed(1)})`);
    offset += PER_LEVEL;
  }
  const allocated = (await api(A, 'GET', '/api/v1/pools/v4b')).utilisation.allocated;
  if (allocated !== SINGLE) throw new Error(`pool v4b holds ${allocated} allocations after ${SINGLE} single requests`);
}
{
  const BATCH = 5000;
  const t0 = performance.now();
  let n = 0;
  for (const poolId of ['v4b']) {
    for (let i = SINGLE; i < N; i += BATCH) {
      const ids = [];
      for (let k = i; k < Math.min(N, i + BATCH); k++) ids.push(subId(k));
      const r = await api(A, 'POST', `/api/v1/pools/${poolId}/allocations`, { subscriber_ids: ids });
      if (r.failed.length) throw new Error(JSON.stringify(r.failed[0]));
      n += r.items.length;
    }
  }
  const s = (performance.now() - t0) / 1000;
  line('allocate: IPv4/s (bulk HTTP, 5000/req)', Math.round(n / s));
}
{
  // The engine alone: the same allocator and persistence, no HTTP.
  const lib = await import(pathToFileURL(path.join(DIST, 'index.js')).href);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-bench-engine-'));
  dirs.push(dir);
  const store = lib.createStore({ dataDir: dir, fsync: FSYNC, compactBytes: 1 << 30 }, { log: lib.silentLogger });
  const allocs = lib.createAllocations({ defaultBlockSize: 64, defaultQuarantineSeconds: 300 },
    { store, clock: lib.systemClock, log: lib.silentLogger, membership: { self: 'e1', live: () => ['e1', 'e2', 'e3'] } });
  allocs.definePool({ id: 'e4', type: 'ipv4', cidr: '10.0.0.0/14', owner_kind: 'ispco', owner_id: 'x', created_at: 0 });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) allocs.allocate('e4', subId(i));
  await store.flush();
  const s = (performance.now() - t0) / 1000;
  line('allocate: IPv4/s (engine in-process, logged)', Math.round(N / s));
  store.close();
}

const targets = {
  'allocations/s >= 10,000 (bulk)': results['allocate: IPv4/s (bulk HTTP, 5000/req)'] >= 10_000,
  'allocations/s >= 10,000 (one per request, 256 in flight)': results['allocate: IPv4/s (one per HTTP request, 256 in flight)'] >= 10_000,
  'new replica in sync <= 5 s': Number(results['new replica: spawn -> identical state, s']) <= 5,
  'convergence <= 0.5 s': Number(results['partition heal: converge after 1000+1000 changes, s']) <= 0.5,
  'resident < 400 MB (A loaded, B after sync, both idle)': Math.max(
    Number(results['memory: resident MB at N subscribers (replica A)']),
    Number(results['memory: resident MB (replica B after sync)']),
    ...String(results['memory: resident MB after 3 s idle (A / B)']).split(' / ').map(Number),
  ) < 400,
};
console.log('\ntargets:');
for (const [k, ok] of Object.entries(targets)) console.log(`  ${ok ? 'met ' : 'MISS'}  ${k}`);
console.log(JSON.stringify({ subscribers: N, fsync: FSYNC, results }, null, 0));
cleanup();
process.exit(0);

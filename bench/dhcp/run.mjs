#!/usr/bin/env node
// bench/dhcp: the XDP fast path against Kea 2.2 on the same topology, in one run.
//
//   sudo node bench/dhcp/run.mjs [--duration 10] [--clients 50000] [--quick]
//
// 1. perfdhcp (relayed, one process pinned to core 1, -g single) against Kea (memfile, no
//    persistence, pinned to core 0), restarted before every rate step; then against the fast
//    path. For each server: the highest offered DORA rate with under 1% loss, its latency, and
//    the ratio fast path / Kea.
// 2. A trafgen flood of precomputed DISCOVER frames (2 processes, 2-queue veth): kernel replies
//    per second, and the ratio to Kea's DORA rate.
// 3. The time to load 100,000 subscribers into the maps.
// Needs root, `make build`, and the Debian packages kea-dhcp4-server, kea-admin, netsniff-ng.
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DhcpFastPath } from '../../packages/datapath/dist/index.js';
import { Lab, buildUdpFrame, bpfObject, sh } from '../../packages/testkit/dist/index.js';
import { dhcp4 } from '../../packages/protocols/dist/index.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const floodOnly = args.includes('--flood-only');
const DURATION = arg('duration', quick ? 3 : 10);
const CLIENTS = arg('clients', 50_000);
const LOSS_LIMIT = 0.01;
const NET = '198.18.100';
const SERVER = `${NET}.1`;
const CLIENT = `${NET}.2`;

function perfdhcp(lab, ns, rate) {
  // perfdhcp exits 3 when it saw drops; its report is what counts
  const r = spawnSync('ip', ['netns', 'exec', ns, 'taskset', '-c', '1', 'perfdhcp', '-4', '-g', 'single', '-l', CLIENT, '-r', String(rate),
    '-R', String(CLIENTS), '-b', 'mac=02:00:00:00:00:00', '-p', String(DURATION), '-W', '1000000', SERVER],
    { encoding: 'utf8', timeout: (DURATION + 30) * 1000 });
  if (!/sent packets/.test(r.stdout)) throw new Error(`perfdhcp failed: ${r.stderr || r.stdout}`);
  return parsePerfdhcp(r.stdout);
}

function parsePerfdhcp(out) {
  const num = (re, i = 0) => Number([...out.matchAll(re)][i]?.[1] ?? NaN);
  const doSent = num(/sent packets: (\d+)/g, 0);
  const acks = num(/received packets: (\d+)/g, 1);
  return {
    discovers: doSent,
    offers: num(/received packets: (\d+)/g, 0),
    requests: num(/sent packets: (\d+)/g, 1),
    acks,
    loss: doSent > 0 ? Math.max(0, 1 - acks / doSent) : 1,
    achieved: doSent / DURATION,
    avgDelayMs: { do: num(/avg delay: ([\d.]+) ms/g, 0), ra: num(/avg delay: ([\d.]+) ms/g, 1) },
    maxDelayMs: { do: num(/max delay: ([\d.]+) ms/g, 0), ra: num(/max delay: ([\d.]+) ms/g, 1) },
  };
}

/** Steps the offered rate up until loss passes 1% or perfdhcp cannot offer more. */
async function search(name, rates, runAt) {
  let best;
  const rows = [];
  for (const rate of rates) {
    const r = await runAt(rate);
    rows.push({ rate, ...r });
    console.log(`  ${name.padEnd(9)} offered ${String(rate).padStart(6)}/s achieved ${r.achieved.toFixed(0).padStart(6)}/s  DORA done ${String(r.acks).padStart(7)}  loss ${(r.loss * 100).toFixed(2).padStart(6)}%  avg ${r.avgDelayMs.do.toFixed(3)}/${r.avgDelayMs.ra.toFixed(3)} ms  max ${r.maxDelayMs.do.toFixed(1)}/${r.maxDelayMs.ra.toFixed(1)} ms`);
    // when the generator falls short, what counts is the rate it achieved
    if (r.loss < LOSS_LIMIT) best = { ...r, rate: Math.min(rate, Math.round(r.achieved)) };
    else break;
    if (r.achieved < rate * 0.9) {
      console.log(`  ${name}: perfdhcp could not offer ${rate}/s (the generator is the limit)`);
      break;
    }
  }
  return { best, rows };
}

const lab = new Lab('bd');
let fp;
try {
  console.log(`bench/dhcp: ${DURATION} s per step, ${CLIENTS} simulated clients, loss limit ${LOSS_LIMIT * 100}%`);
  const ns = lab.addNs('cli');
  const [srvIf, cliIf] = lab.veth('s', undefined, 'c', ns, { queues: 2 });
  lab.ip(undefined, 'addr', 'add', `${SERVER}/24`, 'dev', srvIf);
  lab.ip(undefined, 'link', 'set', srvIf, 'up');
  lab.ip(ns, 'addr', 'add', `${CLIENT}/24`, 'dev', cliIf);
  lab.ip(ns, 'link', 'set', cliIf, 'up');
  lab.xdpPass(ns, cliIf);
  // default socket buffers (208 KB) drop bursts before the CPU is busy
  for (const n of [undefined, ns]) {
    lab.exec(n, 'sysctl', ['-qw', 'net.core.rmem_max=16777216', 'net.core.rmem_default=8388608', 'net.core.wmem_default=8388608']);
  }

  // ---- Kea ----
  const keaConf = join(lab.dir, 'kea.json');
  writeFileSync(keaConf, JSON.stringify({
    Dhcp4: {
      'interfaces-config': { interfaces: [srvIf], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: false },
      'valid-lifetime': 3600,
      subnet4: [{ subnet: '198.18.0.0/15', pools: [{ pool: '198.18.128.0 - 198.19.255.250' }], 'option-data': [{ name: 'routers', data: SERVER }] }],
      loggers: [{ name: 'kea-dhcp4', severity: 'WARN', 'output_options': [{ output: join(lab.dir, 'kea.log') }] }],
    },
  }));
  const keaEnv = { ...process.env, KEA_LOCKFILE_DIR: lab.dir, KEA_PIDFILE_DIR: lab.dir };
  const kea = async (rate) => {
    const p = lab.spawn(undefined, 'taskset', ['-c', '0', 'kea-dhcp4', '-c', keaConf], { env: keaEnv });
    await sleep(1500);
    try {
      return perfdhcp(lab, ns, rate);
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  };
  console.log('Kea 2.2 (memfile, no persistence, single-threaded):');
  const keaRes = floodOnly ? { rows: [] } : await search('kea', quick ? [4000, 8000, 12000, 16000] : [4000, 8000, 10000, 12000, 14000, 16000, 18000, 20000, 24000], kea);

  // ---- fast path ----
  fp = DhcpFastPath.attach({ ifname: srvIf, serverIp: SERVER, mode: 'native', pinDir: `/sys/fs/bpf/bng-bench/${lab.id}`, detachOnExit: true });
  fp.setPool(1, { netmask: '255.254.0.0', gateway: SERVER, dns: ['198.18.0.53'], leaseTimeS: 3600 });
  const entries = [];
  for (let i = 0; i < CLIENTS; i++) {
    const mac = `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    entries.push([{ mac }, { ip: `198.${18 + (i >> 16)}.${128 + ((i >> 8) & 127)}.${i & 255}`, poolId: 1 }]);
  }
  fp.setSubscribers(entries);
  console.log('XDP fast path:');
  const fpRes = floodOnly ? { rows: [] } : await search('fastpath', quick ? [8000, 16000, 32000] : [8000, 14000, 20000, 25000, 30000, 35000, 40000, 50000], async (rate) => {
    const before = fp.readCounters();
    const r = perfdhcp(lab, ns, rate);
    const after = fp.readCounters();
    r.kernelReplies = Number(after.tx_offer - before.tx_offer + after.tx_ack - before.tx_ack);
    return r;
  });
  const passUp = fp.readCounters().pass_unknown_subscriber;

  // ---- trafgen flood of precomputed DISCOVERs ----
  const cfg = [];
  for (let i = 0; i < 64; i++) {
    const mac = Uint8Array.of(2, 0, 0, 0, 0, i);
    const msg = dhcp4.createDhcp4Message({ op: 1, xid: 0x1000 + i, chaddr: dhcp4.chaddrOf(mac), options: [dhcp4.messageTypeOption(1), { code: 55, data: Uint8Array.of(1, 3, 6) }] });
    const frame = buildUdpFrame({ dstMac: 'ff:ff:ff:ff:ff:ff', srcMac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload: dhcp4.encodeDhcp4(msg) });
    cfg.push(`{ ${[...frame].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }`);
  }
  const cfgPath = join(lab.dir, 'discover.trafgen');
  writeFileSync(cfgPath, cfg.join('\n') + '\n');
  const floodS = Math.max(3, Math.min(DURATION, 10));
  // the generator's end drops the replies in XDP: the measure is the fast path, not that stack
  lab.ip(ns, 'link', 'set', 'dev', cliIf, 'xdpdrv', 'off');
  lab.ip(ns, 'link', 'set', 'dev', cliIf, 'xdpdrv', 'obj', bpfObject('xdp_drop'), 'sec', 'xdp');
  const before = fp.readCounters();
  const t0 = process.hrtime.bigint();
  try {
    lab.exec(ns, 'timeout', ['-s', 'INT', String(floodS), 'trafgen', '--dev', cliIf, '--conf', cfgPath, '--cpus', '2', '-q', '-C'], { timeoutMs: (floodS + 20) * 1000 });
  } catch {
    // timeout ends trafgen with SIGINT: a non-zero exit is expected
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = fp.readCounters();
  const floodReplies = Number(after.tx_offer - before.tx_offer);
  const floodRx = Number(after.rx - before.rx);
  fp.close({ detach: true });
  fp = undefined;

  // ---- loading 100,000 subscribers ----
  const load = DhcpFastPath.load({ serverIp: SERVER, serverMac: '02:00:00:00:00:01' });
  const many = [];
  for (let i = 0; i < 100_000; i++) {
    const mac = `06:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    many.push([{ mac }, { ip: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, poolId: 1 }]);
  }
  const l0 = process.hrtime.bigint();
  const loaded = load.setSubscribers(many);
  const loadMs = Number(process.hrtime.bigint() - l0) / 1e6;
  load.close();

  const k = keaRes.best?.rate ?? 0;
  const f = fpRes.best?.rate ?? 0;
  console.log('\n=== bench/dhcp summary ===');
  console.log(`Kea 2.2       highest rate with <1% loss: ${k} DORA/s (avg latency DO ${keaRes.best?.avgDelayMs.do ?? '-'} ms, RA ${keaRes.best?.avgDelayMs.ra ?? '-'} ms)`);
  console.log(`XDP fast path highest rate with <1% loss: ${f} DORA/s (avg latency DO ${fpRes.best?.avgDelayMs.do ?? '-'} ms, RA ${fpRes.best?.avgDelayMs.ra ?? '-'} ms); unknown passed up: ${passUp}`);
  console.log(`ratio fast path / Kea: ${k ? (f / k).toFixed(2) : 'n/a'}x${fpRes.rows.at(-1)?.loss < LOSS_LIMIT ? ' (fast path not saturated: perfdhcp was the limit)' : ''}`);
  console.log(`trafgen flood: ${floodRx} DISCOVERs seen, ${floodReplies} OFFERs sent by XDP in ${secs.toFixed(1)} s = ${(floodReplies / secs).toFixed(0)} replies/s (${k ? ((floodReplies / secs) / k).toFixed(1) : 'n/a'}x Kea's DORA rate)`);
  console.log(`load 100,000 subscribers into bng_subscribers_by_mac: ${loaded} in ${loadMs.toFixed(0)} ms`);
} finally {
  try {
    fp?.close({ detach: true });
  } catch {
    // gone
  }
  lab.destroy();
  try {
    sh('rm', ['-rf', '/sys/fs/bpf/bng-bench']);
  } catch {
    // nothing pinned
  }
}

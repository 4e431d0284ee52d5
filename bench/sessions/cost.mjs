#!/usr/bin/env node
// bench/sessions: what per-subscriber sessions cost the XDP program per packet, two ways.
//
//   sudo node bench/sessions/cost.mjs [--baseline <another build's dhcp_fastpath.bpf.o>] [--seconds 4]
//
// 1. BPF_PROG_RUN: ns per frame of bng_dhcp_fastpath (200,000 repetitions, median of 15 rounds,
//    the objects and rows interleaved so load changes hit all alike), on frames the program
//    leaves unmodified so every repetition takes the same path: a DISCOVER for an unknown MAC
//    (the whole DHCP parse and option walk), and UDP from an unknown source, from a session
//    without limits, from a rate-limited one and from a walled one to a garden address. With
//    --baseline, the same rows against that object (e.g. the build before sessions; it gets
//    sessions only if it has bng_session_set).
// 2. Real traffic: run time per program run from the kernel's own accounting
//    (kernel.bpf_stats_enabled, set for the run and put back after), XDP and TC egress, during
//    iperf3 uploads and downloads over a veth pair, without a session, with one, with limits.
//    These include the cost of the accounting itself and depend on how warm the caches are
//    (a download's XDP runs are sparse ACKs).
// Needs root, `make build` and iperf3.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
if (args.includes('--help')) {
  console.log('usage: node bench/sessions/cost.mjs [--baseline <object>] [--seconds N]');
  process.exit(0);
}
const seconds = Number(flag('seconds', '4'));
const baseline = flag('baseline', undefined);

const { DhcpFastPath, XdpAttachment, native, defaultObjectPath } = await import('../../packages/datapath/dist/index.js');
const { Lab, buildUdpFrame, waitFor } = await import('../../packages/testkit/dist/index.js');
const { dhcp4 } = await import('../../packages/protocols/dist/index.js');

// ---- 1. BPF_PROG_RUN ----

const mac = [0x52, 0x54, 0, 0, 0, 0x99];
const discover = Buffer.from(
  buildUdpFrame({
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcMac: '52:54:00:00:00:99',
    srcIp: '0.0.0.0',
    dstIp: '255.255.255.255',
    srcPort: 68,
    dstPort: 67,
    payload: dhcp4.encodeDhcp4(
      dhcp4.createDhcp4Message({
        op: 1,
        xid: 1,
        chaddr: dhcp4.chaddrOf(Buffer.from(mac)),
        options: [dhcp4.messageTypeOption(1), { code: 55, data: Uint8Array.of(1, 3, 6, 15, 51) }, { code: 61, data: Uint8Array.of(1, ...mac) }],
      }),
      { pad: true },
    ),
  }),
);
const udp = (src) =>
  Buffer.from(buildUdpFrame({ dstMac: '02:00:00:00:00:01', srcMac: '52:54:00:00:00:0a', srcIp: src, dstIp: '8.8.8.8', srcPort: 5000, dstPort: 443, payload: new Uint8Array(1000) }));
const rows = [
  ['DISCOVER, unknown MAC (passed up)', discover],
  ['UDP, unknown source', udp('10.0.0.99')],
  ['UDP, session without limits', udp('10.0.0.10')],
  ['UDP, session with both rates', udp('10.0.0.11')],
  ['UDP, walled, garden hit', udp('10.0.0.12')],
];

/** Loads an object as it is (no ABI check: a baseline may predate the current layouts). */
function loadRaw(path) {
  const h = native().objectOpen(path);
  native().objectLoad(h);
  const progs = native().objectPrograms(h);
  const set = progs.find((p) => p.name === 'bng_session_set');
  if (set) {
    // struct bng_session_update: ip, flags, up_kbps, down_kbps
    for (const [ip, kbps, walled] of [[[10, 0, 0, 10], 0, 0], [[10, 0, 0, 11], 100_000_000, 0], [[10, 0, 0, 12], 0, 1]]) {
      const ctx = Buffer.alloc(16);
      Buffer.from(ip).copy(ctx, 0);
      ctx.writeUInt32LE(walled, 4);
      ctx.writeUInt32LE(kbps, 8);
      ctx.writeUInt32LE(kbps, 12);
      if (native().progRunSyscall(set.fd, ctx) < 0) throw new Error(`${path}: bng_session_set failed`);
    }
    const garden = native().objectMaps(h).find((m) => m.name === 'bng_walled_garden');
    native().mapUpdate(garden.fd, Buffer.from([24, 0, 0, 0, 8, 8, 8, 0]), Buffer.alloc(4, 1), 0);
  }
  return progs.find((p) => p.name === 'bng_dhcp_fastpath').fd;
}

const objects = { current: defaultObjectPath(), ...(baseline ? { baseline: resolve(baseline) } : {}) };
const fds = Object.fromEntries(Object.entries(objects).map(([n, p]) => [n, loadRaw(p)]));
const runs = {};
for (let round = 0; round < 15; round++) {
  for (const [row, frame] of rows) {
    for (const [n, fd] of Object.entries(fds)) {
      ((runs[row] ??= {})[n] ??= []).push(native().progTestRun(fd, frame, 200_000, frame.length + 64).duration);
    }
  }
}
console.log('BPF_PROG_RUN, ns per frame (median of 15 rounds of 200,000):');
for (const [row] of rows) {
  console.log(`  ${row.padEnd(36)} ${Object.entries(runs[row]).map(([n, d]) => `${n} ${d.sort((a, b) => a - b)[7]}`).join('   ')}`);
}

// ---- 2. real traffic, the kernel's accounting ----

const statsWas = execFileSync('sysctl', ['-n', 'kernel.bpf_stats_enabled']).toString().trim();
const lab = new Lab('bse');
const pinDir = `/sys/fs/bpf/bng-bench/${lab.id}`;
// Also on an exit the finally blocks never see (stdout closed under `| head`, an uncaught
// error): the accounting back as it was, the lab's processes, namespace, links and pins gone.
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  execFileSync('sysctl', ['-q', `kernel.bpf_stats_enabled=${statsWas}`]);
  lab.destroy();
  rmSync(pinDir, { recursive: true, force: true });
};
process.on('exit', cleanup);
try {
  execFileSync('sysctl', ['-q', 'kernel.bpf_stats_enabled=1']);
  const ns = lab.addNs('c');
  const [bngIf, subIf] = lab.veth('b', undefined, 's', ns);
  lab.ip(undefined, 'addr', 'add', '198.18.52.1/24', 'dev', bngIf);
  lab.ip(undefined, 'link', 'set', bngIf, 'up');
  lab.ip(ns, 'addr', 'add', '198.18.52.50/24', 'dev', subIf);
  lab.ip(ns, 'link', 'set', subIf, 'up');
  const fp = DhcpFastPath.attach({ ifname: bngIf, serverIp: '198.18.52.1', mode: 'native', pinDir, detachOnExit: true });
  try {
    const port = String(20000 + (process.pid % 10000));
    const server = lab.spawn(undefined, 'iperf3', ['-s', '-B', '198.18.52.1', '-p', port, '--forceflush']);
    await waitFor('the iperf3 server', () => server.output().includes('Server listening'), 10_000);
    const tcId = JSON.parse(execFileSync('tc', ['-j', 'filter', 'show', 'dev', bngIf, 'egress']).toString()).find((f) => f.options?.prog?.id).options.prog.id;
    const progs = { xdp: XdpAttachment.query(bngIf), tc: tcId };
    const stats = () => Object.fromEntries(Object.entries(progs).map(([n, id]) => [n, JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)]).toString())]));
    console.log(`\nreal traffic (iperf3 ${seconds} s over veth, kernel.bpf_stats_enabled), ns per program run:`);
    for (const [label, policy] of [['no session', undefined], ['session without limits', {}], ['session, 100 Gbit/s limits', { upKbps: 100_000_000, downKbps: 100_000_000 }], ['session, 200 Mbit/s limits (policing)', { upKbps: 200_000, downKbps: 200_000 }]]) {
      if (policy) fp.setSession('198.18.52.50', policy);
      for (const reverse of [false, true]) {
        const a = stats();
        const client = lab.spawn(ns, 'iperf3', ['-c', '198.18.52.1', '-p', port, '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])]);
        await client.exited;
        const b = stats();
        const mbps = JSON.parse(client.output()).end.sum_received.bits_per_second / 1e6;
        // bpftool leaves the fields out while they are zero
        const per = (n) => {
          const cnt = (b[n].run_cnt ?? 0) - (a[n].run_cnt ?? 0);
          return `${n} ${(((b[n].run_time_ns ?? 0) - (a[n].run_time_ns ?? 0)) / cnt).toFixed(0)} ns x ${cnt}`;
        };
        console.log(`  ${`${label}, ${reverse ? 'download' : 'upload'}`.padEnd(48)} ${per('xdp').padEnd(22)} ${per('tc').padEnd(22)} ${mbps.toFixed(0)} Mbit/s`);
      }
    }
    server.child.kill('SIGTERM');
    await server.exited;
  } finally {
    fp.close({ detach: true });
    DhcpFastPath.detach(bngIf, { pinDir, unpin: true });
  }
} finally {
  cleanup();
}

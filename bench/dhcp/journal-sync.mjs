#!/usr/bin/env node
// What one lease-journal commit costs on this machine's disk: a 300-byte entry written and
// fdatasynced, appended to the end of the file (the journal before the seventh session) or
// written over zeros preallocated ahead of it (packages/bng/src/dhcp/lease-journal.ts now:
// the zeros are extended 64 KiB at a time, half a piece before the entries reach them).
// Prints the median and p99 wall time per commit and the process CPU per commit, alternating
// the two modes so both see the same disk.
//
//   node bench/dhcp/journal-sync.mjs [--dir /var/lib/bng] [--n 3000] [--rounds 3]
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const base = arg('dir', '/var/tmp');
const n = Number(arg('n', '3000'));
const rounds = Number(arg('rounds', '3'));
const entry = Buffer.alloc(300, 0x61);
entry[299] = 0x0a;
const piece = 64 * 1024;
const zeros = Buffer.alloc(piece);

function run(mode) {
  const dir = mkdtempSync(join(base, 'bng-journal-sync-'));
  const fd = openSync(join(dir, 'j'), 'w+');
  let tail = 0;
  let size = 0;
  const wall = new Float64Array(n);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    if (mode === 'preallocated' && tail + entry.length + piece / 2 > size) {
      writeSync(fd, zeros, 0, piece, size);
      size += piece;
    }
    writeSync(fd, entry, 0, entry.length, tail);
    tail += entry.length;
    fdatasyncSync(fd);
    wall[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  wall.sort();
  return { p50: wall[n >> 1], p99: wall[Math.floor(n * 0.99)], cpu: (cpu.user + cpu.system) / n };
}

const sum = { appended: [], preallocated: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of ['appended', 'preallocated']) {
    const m = run(mode);
    sum[mode].push(m);
    console.log(`round ${r + 1} ${mode.padEnd(12)} median ${m.p50.toFixed(0)} us  p99 ${m.p99.toFixed(0)} us  cpu ${m.cpu.toFixed(0)} us per commit`);
  }
}
const med = (a, k) => a.map((x) => x[k]).sort((x, y) => x - y)[a.length >> 1];
const ratio = (k) => (med(sum.appended, k) / med(sum.preallocated, k)).toFixed(2);
console.log(`appended / preallocated (median of rounds): wall median ${ratio('p50')}x, p99 ${ratio('p99')}x, cpu ${ratio('cpu')}x`);

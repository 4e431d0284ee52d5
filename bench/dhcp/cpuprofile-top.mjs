#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time and the
// most inclusive (self + callees) time, as shares of the sampled time.
//
//   node bench/dhcp/cpuprofile-top.mjs <file.cpuprofile> [--top 25] [--last <seconds>]
//
// --last N counts only the samples of the profile's final N seconds (the measured window of a
// bench step, without the daemon's start-up and warm-up).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!file) {
  console.error('usage: cpuprofile-top.mjs <file.cpuprofile> [--top N]');
  process.exit(2);
}
const TOP = opt('top') ?? 25;
const LAST = opt('last');

export function summarise(profile, top = 25, lastS = undefined) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  // sample i was taken at startTime + sum(timeDeltas[0..i]) (µs)
  let t = profile.startTime;
  const from = lastS === undefined ? -Infinity : profile.endTime - lastS * 1e6;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas?.[i] ?? 0;
    if (t < from) continue;
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + 1);
    total++;
  }
  const label = (n) => {
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
  };
  const bySelf = new Map();
  const byIncl = new Map();
  for (const [id, count] of self) {
    const n = nodes.get(id);
    bySelf.set(label(n), (bySelf.get(label(n)) ?? 0) + count);
    // inclusive: every distinct function on the stack of this sample
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(nodes.get(cur));
      if (seen.has(l)) continue;
      seen.add(l);
      byIncl.set(l, (byIncl.get(l) ?? 0) + count);
    }
  }
  const fmt = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([l, c]) => `${((100 * c) / total).toFixed(1).padStart(5)}%  ${l}`);
  return { total, self: fmt(bySelf), inclusive: fmt(byIncl) };
}

const s = summarise(JSON.parse(readFileSync(file, 'utf8')), TOP, LAST);
console.log(`${s.total} samples`);
console.log('--- self time ---');
for (const l of s.self) console.log(l);
console.log('--- inclusive time ---');
for (const l of s.inclusive) console.log(l);

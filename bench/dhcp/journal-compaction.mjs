#!/usr/bin/env node
// How long a lease-journal compaction holds the event loop: N bound leases in a store, then the
// journal rewritten in one piece (`compact()`, what the daemon did before the seventh session)
// and in the background (`rewriteInBackground`, what it does when the journal outgrows its
// records). Prints the compaction's duration and the longest gap between two event-loop turns
// while it ran. Pin it to one core to see what a pinned daemon would.
//
//   taskset -c 0 node bench/dhcp/journal-compaction.mjs [--leases 50000] [--dir /var/tmp]
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createMemoryLeaseStore, openLeaseJournal } from '../../packages/bng/dist/dhcp/index.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const n = Number(arg('leases', '50000'));
const base = arg('dir', '/var/tmp');

const record = (i) => {
  const o = [(i >> 16) & 255, (i >> 8) & 255, i & 255];
  return {
    ip: `10.${o.join('.')}`,
    clientKey: `hw:1:02:00:00:${o.map((x) => x.toString(16).padStart(2, '0')).join(':')}`,
    mac: `02:00:00:${o.map((x) => x.toString(16).padStart(2, '0')).join(':')}`,
    pool: 'p',
    state: 'bound',
    expiresAtMs: Date.now() + 3_600_000,
    updatedAtMs: Date.now(),
  };
};

async function measure(mode) {
  const dir = mkdtempSync(join(base, 'bng-compaction-'));
  const journal = openLeaseJournal(join(dir, 'leases.journal'), { groupCommit: true });
  const store = createMemoryLeaseStore({ journal, compactSlack: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < n; i++) store.put(record(i));
  journal.flush();
  let longest = 0;
  let last = performance.now();
  let running = true;
  const turn = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  await new Promise((r) => setTimeout(r, 50));
  longest = 0;
  last = performance.now();
  const t0 = performance.now();
  if (mode === 'one piece') store.compact();
  else await new Promise((resolve, reject) => journal.rewriteInBackground([...store.all()], (err) => (err ? reject(err) : resolve())));
  const took = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 20));
  running = false;
  journal.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`${n} leases, ${mode.padEnd(10)}: compaction ${took.toFixed(0)} ms, longest event-loop gap ${longest.toFixed(1)} ms`);
}

await measure('one piece');
await measure('background');

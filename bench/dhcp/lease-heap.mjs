#!/usr/bin/env node
// What a lease costs the daemon's JavaScript heap: N new clients go through DISCOVER/OFFER and
// REQUEST/ACK in-process (the DHCPv4 server, the memory lease store and its journal, as `bng run`
// wires them; no sockets), then the heap is collected and measured. Prints the heap retained per
// bound lease and the objects that make it up. Every live object is traced by each full
// (Mark-Compact) collection, so this is what the daemon's longest GC pauses grow with.
//
//   node --expose-gc bench/dhcp/lease-heap.mjs [--leases 40000] [--dir /var/tmp] [--by-type]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { dhcp4 } from '../../packages/protocols/dist/index.js';
import { inProcessServer, macOf, requestBytes } from './in-process.mjs';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const n = Number(arg('leases', '40000'));
const dir = mkdtempSync(join(arg('dir', '/var/tmp'), 'bng-lease-heap-'));

const { server, store, journal, meta } = inProcessServer(dir);
const request = (type, mac, options = []) => dhcp4.decodeDhcp4(requestBytes(type, mac, options));

gc();
gc();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < n; i++) {
  const mac = macOf(i);
  const offer = server.handle(request(dhcp4.MessageType.DHCPDISCOVER, mac), meta, Date.now()).find((a) => a.type === 'send');
  if (offer === undefined) throw new Error(`no OFFER for client ${i}`);
  const yiaddr = offer.message.yiaddr;
  server.handle(request(dhcp4.MessageType.DHCPREQUEST, mac, [dhcp4.ipOption(50, yiaddr), dhcp4.ipOption(54, '10.0.0.1')]), meta, Date.now());
  journal.write();
}
gc();
gc();
const after = process.memoryUsage().heapUsed;
const bound = [...store.all()].filter((r) => r.state === 'bound').length;
if (bound !== n) throw new Error(`${bound} bound leases, expected ${n}`);
console.log(`${n} bound leases: heap ${(before / 1048576).toFixed(1)} -> ${(after / 1048576).toFixed(1)} MB, ${((after - before) / n).toFixed(0)} bytes per lease`);

if (process.argv.includes('--by-type')) {
  // what the whole heap holds (code and the modules' objects too), by V8's node type and
  // constructor name, largest first; the last column is that total over the number of leases
  const file = writeHeapSnapshot(join(dir, 'lease-heap.heapsnapshot'));
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byType = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + iType]];
    const key = type === 'object' || type === 'array' ? `${type} ${snap.strings[snap.nodes[i + iName]].slice(0, 30)}` : type;
    const t = byType.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += snap.nodes[i + iSize];
    byType.set(key, t);
  }
  for (const [key, t] of [...byType].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 8)) {
    console.log(`  ${key.padEnd(36)} ${String(t.count).padStart(8)} objects ${(t.bytes / 1048576).toFixed(1).padStart(6)} MB  ${(t.bytes / n).toFixed(0).padStart(5)} bytes / lease`);
  }
}
journal.close();
rmSync(dir, { recursive: true, force: true });

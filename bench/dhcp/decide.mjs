#!/usr/bin/env node
// What the slow path's decision costs in JavaScript, without sockets or a peer: N new clients go
// DISCOVER -> OFFER, then REQUEST -> ACK, through the DHCPv4 server exactly as `bng run` calls it
// (wire bytes in: decode, classify, choose, lease store and its journal, encode), and the time per
// message is printed. The journal is written after every 8 REQUESTs (a receive batch) and never
// synced: the disk is not what this measures. Requests are built before each timed phase.
// The full comparison with Kea (sockets, kernel, perfdhcp) is `run.mjs --slow-only`.
//
//   node bench/dhcp/decide.mjs [--clients 20000] [--rounds 5] [--dir /var/tmp]
//
// Each round adds N more bound leases; the median leaves the first (warm-up) round out.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dhcp4 } from '../../packages/protocols/dist/index.js';
import { inProcessServer, macOf, requestBytes } from './in-process.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const n = Number(arg('clients', '20000'));
const rounds = Number(arg('rounds', '5'));
if (!(n > 0) || !(rounds > 1)) {
  console.error('usage: decide.mjs [--clients N>0] [--rounds R>1] [--dir DIR]');
  process.exit(2);
}
const dir = mkdtempSync(join(arg('dir', '/var/tmp'), 'bng-decide-'));
// with DNS servers and a parameter request list, as real clients' replies carry them
const { server, store, journal, meta } = inProcessServer(dir, { dns: ['10.0.0.53', '10.0.0.54'] });
const PRL = dhcp4.bytesOption(55, Uint8Array.of(1, 3, 6, 15, 51, 54));
const wire = (type, mac, options = []) => requestBytes(type, mac, [PRL, ...options]);
const us = (ns) => Number(ns) / n / 1000;

const results = [];
for (let r = 0; r < rounds; r++) {
  const base = r * n;
  const discovers = Array.from({ length: n }, (_, i) => wire(dhcp4.MessageType.DHCPDISCOVER, macOf(base + i)));
  let t = process.hrtime.bigint();
  const offered = discovers.map((d, i) => {
    const offer = server.handlePacket(d, meta, Date.now()).find((a) => a.type === 'send');
    if (offer === undefined) throw new Error(`no OFFER for client ${base + i}`);
    return offer.message.yiaddr;
  });
  const discover = us(process.hrtime.bigint() - t);
  const requests = offered.map((ip, i) => wire(dhcp4.MessageType.DHCPREQUEST, macOf(base + i), [dhcp4.ipOption(50, ip), dhcp4.ipOption(54, '10.0.0.1')]));
  t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ack = server.handlePacket(requests[i], meta, Date.now()).find((a) => a.type === 'send');
    if (ack === undefined || dhcp4.messageType(ack.message) !== dhcp4.MessageType.DHCPACK) throw new Error(`no ACK for client ${base + i}`);
    if ((i & 7) === 7) journal.write();
  }
  journal.write();
  const request = us(process.hrtime.bigint() - t);
  results.push({ discover, request });
  console.log(`round ${r + 1}: ${store.size} leases, DISCOVER ${discover.toFixed(2)} us, REQUEST ${request.toFixed(2)} us`);
}
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const rest = results.slice(1);
const d = median(rest.map((x) => x.discover));
const q = median(rest.map((x) => x.request));
console.log(`median of rounds 2-${rounds}: DISCOVER ${d.toFixed(2)} us, REQUEST ${q.toFixed(2)} us, DORA ${(d + q).toFixed(2)} us`);
journal.close();
rmSync(dir, { recursive: true, force: true });

// What the in-process benches (decide.mjs, lease-heap.mjs) share: the DHCPv4 server, the memory
// lease store and its journal wired as `bng run` wires them (no sockets), and relayed requests as
// perfdhcp sends them in run.mjs.
import { join } from 'node:path';
import { dhcp4, macToBytes } from '../../packages/protocols/dist/index.js';
import { createDhcp4Server, createMemoryLeaseStore, openLeaseJournal, silentDhcp4Logger } from '../../packages/bng/dist/dhcp/index.js';

/**
 * One /8 pool (no step runs out of addresses) and its journal in `dir`, in the daemon's mode (group
 * commit) without fsync: durability is not what these benches measure. `pool` adds to the pool.
 */
export function inProcessServer(dir, pool = {}) {
  const journal = openLeaseJournal(join(dir, 'leases.journal'), { groupCommit: true, fsync: false });
  const store = createMemoryLeaseStore({ journal });
  const server = createDhcp4Server(
    {
      serverId: '10.0.0.1',
      pools: [{ name: 'bench', network: '10.0.0.0/8', gateway: '10.0.0.1', rangeStart: '10.1.0.0', rangeEnd: '10.255.255.254', leaseTime: 3600, ...pool }],
    },
    { leases: store, clock: { now: () => Date.now() }, log: silentDhcp4Logger },
  );
  return { server, store, journal, meta: { ifname: 'bench0', vlans: [], srcMac: '' } };
}

/** the i-th client's MAC, 02:00:xx:xx:xx:xx */
export const macOf = (i) => `02:00:${[24, 16, 8, 0].map((s) => ((i >>> s) & 255).toString(16).padStart(2, '0')).join(':')}`;

/** A relayed request's wire bytes (giaddr 10.0.0.2, as perfdhcp -l sends them in run.mjs). */
export const requestBytes = (type, mac, options = []) =>
  dhcp4.encodeDhcp4(
    dhcp4.createDhcp4Message({ op: 1, xid: 1, giaddr: '10.0.0.2', hops: 1, chaddr: dhcp4.chaddrOf(macToBytes(mac)), options: [dhcp4.messageTypeOption(type), ...options] }),
  );

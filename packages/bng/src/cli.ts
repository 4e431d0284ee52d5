#!/usr/bin/env node
// The `bng` command line. For now: the XDP DHCPv4 fast path (attach, detach, stats, events),
// provisioning of subscribers and pools into its maps, and the demo lab.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BngError, isBngError } from '@bng/api';
import { DhcpFastPath, XdpModes, XdpAttachment, boottimeNs, defaultObjectPath, type Binding, type SubscriberMatch } from '@bng/datapath';
import { isIpv4, macToBytes } from '@bng/protocols';
import { runDemo } from './demo.js';

function ipArg(field: string) {
  return (v: string): string => {
    if (!isIpv4(v)) throw new InvalidArgumentError(`${field}: '${v}' is not an IPv4 address`);
    return v;
  };
}

function intArg(field: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${field}: '${v}' is not an integer in ${min}..${max}`);
    return n;
  };
}

function macArg(v: string): string {
  try {
    macToBytes(v);
  } catch {
    throw new InvalidArgumentError(`'${v}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  }
  return v.toLowerCase();
}

function vlanArg(v: string): { sTag: number; cTag: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(v);
  if (!m) throw new InvalidArgumentError(`'${v}' is not a VLAN (C-TAG or S-TAG:C-TAG)`);
  const [a, b] = [Number(m[1]), m[2] === undefined ? undefined : Number(m[2])];
  const tags = b === undefined ? { sTag: 0, cTag: a } : { sTag: a, cTag: b };
  if (tags.sTag > 4095 || tags.cTag > 4095 || tags.cTag === 0) throw new InvalidArgumentError(`'${v}': VLAN ids are 1..4095`);
  return tags;
}

interface MatchOpts { mac?: string; vlan?: { sTag: number; cTag: number }; circuitId?: string; remoteId?: string }

function matchOf(o: MatchOpts): SubscriberMatch {
  const given = [o.mac, o.vlan, o.circuitId, o.remoteId].filter((x) => x !== undefined).length;
  if (given !== 1) throw new BngError('BNG_ERR_BAD_REQUEST', 'give exactly one of --mac, --vlan, --circuit-id, --remote-id');
  if (o.mac) return { mac: o.mac };
  if (o.vlan) return { vlan: o.vlan };
  if (o.circuitId !== undefined) return { circuitId: Buffer.from(o.circuitId) };
  return { remoteId: Buffer.from(o.remoteId!) };
}

function describeMatch(m: SubscriberMatch): string {
  if ('mac' in m) return `mac ${m.mac}`;
  if ('vlan' in m) return `vlan ${m.vlan.sTag}:${m.vlan.cTag}`;
  if ('circuitId' in m) return `circuit-id ${Buffer.from(m.circuitId).toString()}`;
  return `remote-id ${Buffer.from(m.remoteId).toString()}`;
}

function bindingState(b: Binding, now: bigint): string {
  if (b.static) return 'static';
  if (!b.leaseExpiresNs) return 'provisioned';
  const left = Number((b.leaseExpiresNs - now) / 1_000_000_000n);
  return left >= 0 ? `bound ${left}s left` : `expired ${-left}s ago`;
}

const json = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString() : x), 2);

function addMatchOptions(c: Command): Command {
  return c
    .option('--mac <mac>', 'match the client hardware address (chaddr)', macArg)
    .option('--vlan <tags>', 'match the line by C-TAG or S-TAG:C-TAG', vlanArg)
    .option('--circuit-id <id>', 'match Option 82 Agent Circuit ID (relayed requests)')
    .option('--remote-id <id>', 'match Option 82 Agent Remote ID (relayed requests)');
}

export function buildCli(): Command {
  const program = new Command('bng')
    .description('eBPF-accelerated Broadband Network Gateway')
    .version('0.1.0')
    .showHelpAfterError();

  const fast = program.command('fastpath').description('the XDP DHCPv4 fast path on a subscriber interface');

  fast
    .command('attach')
    .description('load the fast path and attach it to an interface (state maps pinned under /sys/fs/bpf/bng/<interface>)')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .requiredOption('--server-ip <ip>', 'DHCP server identifier (option 54) and reply source address', ipArg('--server-ip'))
    .option('--server-mac <mac>', 'reply source MAC (default: the interface address)', macArg)
    .addOption(new Option('--xdp-mode <mode>', 'XDP attach mode').choices([...XdpModes]).default('auto'))
    .option('--bpf-path <file>', 'compiled fast path object', defaultObjectPath())
    .option('--disabled', 'attach with the kernel answering nothing (everything goes to userspace)')
    .action((o) => {
      const fp = DhcpFastPath.attach({
        ifname: o.interface,
        serverIp: o.serverIp,
        serverMac: o.serverMac,
        mode: o.xdpMode,
        objectPath: o.bpfPath,
        disabled: Boolean(o.disabled),
      });
      console.log(`attached to ${o.interface} (program id ${XdpAttachment.query(o.interface)}), maps pinned in ${fp.pinDir}`);
      fp.close();
    });

  fast
    .command('detach')
    .description('detach the fast path; --unpin also forgets its subscribers, pools and counters')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .option('--unpin', 'remove the pinned maps too')
    .action((o) => {
      DhcpFastPath.detach(o.interface, { unpin: Boolean(o.unpin) });
      console.log(`detached from ${o.interface}${o.unpin ? ', maps removed' : ''}`);
    });

  fast
    .command('stats')
    .description('counters by reason (enum bng_counter), summed over CPUs')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .option('--json', 'print JSON')
    .option('--all', 'include reasons that are zero')
    .action((o) => {
      const fp = DhcpFastPath.openPinned(o.interface);
      const c = fp.readCounters();
      fp.close();
      if (o.json) return console.log(json(c));
      for (const [k, v] of Object.entries(c)) if (o.all || v > 0n) console.log(`${k.padEnd(28)} ${v}`);
    });

  const sub = program.command('subscriber').description('provision subscribers into the fast path maps');

  addMatchOptions(sub.command('add'))
    .description('add or replace a subscriber binding')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .requiredOption('--ip <ip>', 'the subscriber address (allocated beforehand)', ipArg('--ip'))
    .requiredOption('--pool <id>', 'pool id (see `bng pool set`)', intArg('--pool', 0, 0xffffffff))
    .option('--lease-time <s>', 'lease time for this subscriber (default: the pool)', intArg('--lease-time', 1, 0x7fffffff))
    .option('--static', 'never expires in the kernel')
    .option('--slow-path', 'always hand this subscriber to userspace')
    .action((o) => {
      const m = matchOf(o);
      const fp = DhcpFastPath.openPinned(o.interface);
      fp.setSubscriber(m, { ip: o.ip, poolId: o.pool, leaseTimeS: o.leaseTime, static: Boolean(o.static), slowPath: Boolean(o.slowPath) });
      fp.close();
      console.log(`${describeMatch(m)} -> ${o.ip} (pool ${o.pool})`);
    });

  addMatchOptions(sub.command('del'))
    .description('remove a subscriber binding')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .action((o) => {
      const m = matchOf(o);
      const fp = DhcpFastPath.openPinned(o.interface);
      const gone = fp.deleteSubscriber(m);
      fp.close();
      if (!gone) throw new BngError('BNG_ERR_NOT_FOUND', `${describeMatch(m)} is not provisioned`);
      console.log(`${describeMatch(m)} removed`);
    });

  sub
    .command('list')
    .description('list the bindings in the kernel')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .option('--json', 'print JSON')
    .action((o) => {
      const fp = DhcpFastPath.openPinned(o.interface);
      const now = boottimeNs();
      const rows = [...fp.subscribers()];
      fp.close();
      if (o.json) return console.log(json(rows.map(([m, b]) => ({ match: m, ...b }))));
      for (const [m, b] of rows) console.log(`${describeMatch(m).padEnd(40)} ${b.ip.padEnd(16)} pool ${String(b.poolId).padEnd(5)} ${bindingState(b, now)}`);
      console.log(`${rows.length} subscriber(s)`);
    });

  sub
    .command('load')
    .description('bulk-load bindings from a CSV file: match,ip,pool (match = MAC, S:C VLAN, circuit:<id> or remote:<id>)')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .argument('<file>', 'CSV file, one subscriber per line')
    .action((file: string, o) => {
      const entries: Array<[SubscriberMatch, Binding]> = [];
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const t = line.trim();
          if (!t || t.startsWith('#')) return;
          const [m, ip, pool] = t.split(',').map((x) => x.trim());
          const where = `${file}:${i + 1}`;
          if (!m || !ip || !pool) throw new BngError('BNG_ERR_BAD_REQUEST', `${where}: expected match,ip,pool`);
          if (!isIpv4(ip)) throw new BngError('BNG_ERR_BAD_REQUEST', `${where}: ip '${ip}' is not an IPv4 address`);
          const poolId = Number(pool);
          if (!Number.isInteger(poolId) || poolId < 0) throw new BngError('BNG_ERR_BAD_REQUEST', `${where}: pool '${pool}' is not a pool id`);
          let match: SubscriberMatch;
          if (m.startsWith('circuit:')) match = { circuitId: Buffer.from(m.slice(8)) };
          else if (m.startsWith('remote:')) match = { remoteId: Buffer.from(m.slice(7)) };
          else if (/^\d+(:\d+)?$/.test(m)) match = { vlan: vlanArg(m) };
          else match = { mac: macArg(m) };
          entries.push([match, { ip, poolId }]);
        });
      const fp = DhcpFastPath.openPinned(o.interface);
      const t0 = process.hrtime.bigint();
      const n = fp.setSubscribers(entries);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      fp.close();
      console.log(`loaded ${n} subscriber(s) in ${ms.toFixed(1)} ms`);
    });

  const pool = program.command('pool').description('pools the fast path answers from');
  pool
    .command('set')
    .description('add or replace a pool')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .requiredOption('--id <id>', 'pool id', intArg('--id', 0, 0xffffffff))
    .requiredOption('--netmask <mask>', 'option 1', ipArg('--netmask'))
    .option('--gateway <ip>', 'option 3', ipArg('--gateway'))
    .option('--dns <ip...>', 'option 6 (at most 2)')
    .option('--domain <name>', 'option 15')
    .option('--server-ip <ip>', 'server identifier for this pool (default: the interface one)', ipArg('--server-ip'))
    .option('--lease-time <s>', 'option 51', intArg('--lease-time', 1, 0x7fffffff), 3600)
    .option('--t1 <s>', 'option 58 (default 50% of the lease)', intArg('--t1', 1, 0x7fffffff))
    .option('--t2 <s>', 'option 59 (default 87.5% of the lease)', intArg('--t2', 1, 0x7fffffff))
    .action((o) => {
      for (const d of o.dns ?? []) ipArg('--dns')(d);
      const fp = DhcpFastPath.openPinned(o.interface);
      fp.setPool(o.id, { netmask: o.netmask, gateway: o.gateway, dns: o.dns, domain: o.domain, serverIp: o.serverIp, leaseTimeS: o.leaseTime, t1S: o.t1, t2S: o.t2 });
      fp.close();
      console.log(`pool ${o.id} set`);
    });
  pool
    .command('list')
    .requiredOption('-i, --interface <name>', 'subscriber-facing interface')
    .action((o) => {
      const fp = DhcpFastPath.openPinned(o.interface);
      for (const [id, p] of fp.pools.entries()) {
        const dns = (p.dns as string[]).filter((d) => d !== '0.0.0.0').join(',');
        const domain = Buffer.from(p.domain as Uint8Array).subarray(0, p.domain_len as number).toString();
        console.log(`pool ${id}: mask ${p.netmask} gw ${p.gateway} dns ${dns || '-'} domain ${domain || '-'} lease ${p.lease_time_s}s server ${p.server_ip}`);
      }
      fp.close();
    });

  program
    .command('demo')
    .description('build a network-namespace lab, attach the fast path, run real clients and a perfdhcp burst, show what happens')
    .option('--clients <n>', 'real dhclient/udhcpc clients', intArg('--clients', 1, 64), 24)
    .option('--seconds <n>', 'how long to keep the lab up after the clients are bound', intArg('--seconds', 0, 3600), 20)
    .action(async (o) => {
      await runDemo({ clients: o.clients, seconds: o.seconds });
    });

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (e) {
    if (isBngError(e)) {
      console.error(`bng: ${e.code}: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}

#!/usr/bin/env node
// The `bng` command line: the daemon (`bng run`), queries of a running daemon (`bng leases`,
// `bng stats`), the XDP DHCPv4 fast path (attach, detach, stats), provisioning of subscribers
// and pools into its maps, and the demo lab.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BngError, isBngError } from '@bng/api';
import { DhcpFastPath, XdpModes, XdpAttachment, boottimeNs, defaultObjectPath, type Binding, type SubscriberMatch } from '@bng/datapath';
import { isIpv4, macToBytes } from '@bng/protocols';
import { runDemo } from './demo.js';
import { loadBngConfig } from './config.js';
import { runDaemon } from './daemon/main.js';
import { SINGLE_THREADED_FLAG, applyV8Threads } from './daemon/runtime.js';

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

  program
    .command('run')
    .description('run the BNG daemon (standalone: local pools, no Nexus). Settings: defaults < --config file < BNG_* environment < flags')
    .option('-c, --config <file>', 'YAML (or JSON) configuration file')
    .option('-i, --interface <name>', 'subscriber-facing interface [BNG_INTERFACE] (default eth1)')
    .option('--pool-network <cidr>', 'fallback pool "default": its network [BNG_POOL_NETWORK]')
    .option('--pool-gateway <ip>', 'fallback pool gateway, option 3 and default server id [BNG_POOL_GATEWAY]')
    .option('--pool-range <start-end>', 'fallback pool dynamic range, e.g. 10.0.1.100-10.0.1.199')
    .option('--pool-dns <ip,...>', 'fallback pool DNS servers, option 6 [BNG_POOL_DNS]')
    .option('--pool-lease-time <s>', 'fallback pool lease time in seconds [BNG_POOL_LEASE_TIME]')
    .option('--server-id <ip>', 'DHCP server identifier, option 54 [BNG_DHCP_SERVER_ID]')
    .option('--authoritative', 'NAK/ACK clients this server has no record of (RFC 2131 §4.3.2 default: silent)')
    .option('--state-dir <dir>', 'lease journal directory [BNG_STATE_DIR] (default /var/lib/bng)')
    .option('--bpf-path <file>', 'compiled dhcp_fastpath.bpf.o [BNG_BPF_PATH]')
    .option('--metrics-addr <[host]:port>', 'HTTP for /metrics /healthz /readyz /api [BNG_METRICS_ADDR] (default :9090)')
    .option('--no-fastpath', 'do not attach the XDP fast path (every request in userspace)')
    .addOption(new Option('--fastpath-mode <mode>', 'XDP attach mode [BNG_FASTPATH_MODE]').choices([...XdpModes]))
    .option('--no-relay', 'do not listen on UDP port 67 for relayed requests')
    .option('--radius-enabled', 'authenticate new subscribers with RADIUS before they get an address [BNG_AAA_ENABLED]')
    .option('--radius-servers <ip[:port],...>', 'RADIUS servers of the realm, in priority order (accounting on port+1) [BNG_AAA_RADIUS_SERVERS]')
    .option('--radius-secret <secret>', 'their shared secret (prefer BNG_AAA_RADIUS_SECRET: flags show in ps)')
    .option('--radius-realm <name>', 'the ISP realm of this interface\'s subscribers [BNG_AAA_REALM] (default "default")')
    .addOption(new Option('--log-level <level>', 'log level [BNG_LOG_LEVEL]').choices(['debug', 'info', 'warn', 'error', 'silent']))
    .action(async (o) => {
      const flags: Record<string, unknown> = {
        interface: o.interface,
        'pool.network': o.poolNetwork,
        'pool.gateway': o.poolGateway,
        'pool.dns': o.poolDns,
        'pool.leaseTime': o.poolLeaseTime,
        'dhcp.serverId': o.serverId,
        'dhcp.authoritative': o.authoritative ? true : undefined,
        stateDir: o.stateDir,
        bpfPath: o.bpfPath,
        metricsAddr: o.metricsAddr,
        'fastpath.enabled': o.fastpath === false ? false : undefined,
        'fastpath.mode': o.fastpathMode,
        'relay.enabled': o.relay === false ? false : undefined,
        logLevel: o.logLevel,
        'aaa.enabled': o.radiusEnabled ? true : undefined,
        'aaa.radiusServers': o.radiusServers,
        'aaa.radiusSecret': o.radiusSecret,
        'aaa.realm': o.radiusRealm,
      };
      if (o.poolRange !== undefined) {
        const m = /^([\d.]+)\s*-\s*([\d.]+)$/.exec(o.poolRange);
        if (!m) throw new BngError('BNG_ERR_CONFIG_INVALID', `pool.rangeStart: --pool-range '${o.poolRange}' is not start-end`, { field: 'pool.rangeStart' });
        flags['pool.rangeStart'] = m[1];
        flags['pool.rangeEnd'] = m[2];
      }
      const cfg = loadBngConfig({ file: o.config, env: process.env, flags });
      // before anything is opened: this may replace the process (same PID) with another node command line
      applyV8Threads(cfg.raw.runtime.v8Threads, (err) => console.error(`bng: runtime.v8Threads: cannot restart under ${SINGLE_THREADED_FLAG} (${err.message}); running without it`));
      const d = await runDaemon(cfg);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await d.stop();
    });

  const apiOption = (c: Command): Command =>
    c.option('--api <url>', 'the daemon\'s HTTP address [BNG_API]', process.env.BNG_API ?? 'http://127.0.0.1:9090').option('--json', 'print JSON');

  apiOption(program.command('leases'))
    .description('list the leases of a running daemon')
    .option('--state <state>', 'bound, offered, released, expired or declined')
    .option('--pool <name>', 'only this pool')
    .action(async (o) => {
      const q = new URLSearchParams();
      if (o.state) q.set('state', o.state);
      if (o.pool) q.set('pool', o.pool);
      const rows = (await apiGet(o.api, `leases?${q}`)) as Array<{ ip: string; mac: string; pool: string; state: string; expiresInS: number; hostname?: string; clientKey: string }>;
      if (o.json) return console.log(json(rows));
      for (const r of rows) {
        const left = r.expiresInS >= 0 ? `${r.expiresInS}s left` : `${-r.expiresInS}s ago`;
        console.log(`${r.ip.padEnd(16)} ${r.mac.padEnd(18)} ${r.state.padEnd(9)} ${r.pool.padEnd(14)} ${left.padEnd(14)} ${r.hostname ?? ''}`);
      }
      console.log(`${rows.length} lease(s)`);
    });

  apiOption(program.command('sessions'))
    .description('list the subscriber sessions of a running daemon (RADIUS AAA on)')
    .action(async (o) => {
      const rows = (await apiGet(o.api, 'sessions')) as Array<{
        sessionId: string; userName: string; ip: string; mac: string; startedAtMs: number; upKbps?: number; downKbps?: number; walled: boolean; accounting: string;
        usage?: { rxBytes: string; txBytes: string };
      }>;
      if (o.json) return console.log(json(rows));
      const now = Date.now();
      for (const r of rows) {
        const rate = `${r.upKbps ?? '-'}/${r.downKbps ?? '-'} kbit/s`;
        const bytes = r.usage ? `in ${r.usage.rxBytes} out ${r.usage.txBytes} B` : '';
        console.log(`${r.sessionId} ${r.ip.padEnd(16)} ${r.mac} ${r.userName.padEnd(24)} ${Math.round((now - r.startedAtMs) / 1000)}s ${rate}${r.walled ? ' walled' : ''} ${bytes}`);
      }
      console.log(`${rows.length} session(s)`);
    });

  apiOption(program.command('disconnect'))
    .description('end a subscriber session now (Accounting-Stop with Admin-Reset; the lease is revoked)')
    .argument('<session-id>', 'its Acct-Session-Id (see `bng sessions`)')
    .action(async (id: string, o) => {
      const r = await apiPost(o.api, `sessions/disconnect?id=${encodeURIComponent(id)}`);
      console.log(o.json ? json(r) : `session ${id} disconnected`);
    });

  apiOption(program.command('stats'))
    .description('show the counters of a running daemon: slow path, fast path, pools')
    .action(async (o) => {
      const s = (await apiGet(o.api, 'stats')) as {
        interface: string;
        uptimeS: number;
        slowPath: { requests: Record<string, number>; replies: Record<string, number>; malformedFrames: number; sendErrors: number; journalErrors: number };
        outcomes: Record<string, number>;
        pools: Array<{ pool: string; active: number; offered: number; declined: number; size: number }>;
        fastPath: { programId: number; counters: Record<string, string>; sync: Record<string, number> } | null;
      };
      if (o.json) return console.log(json(s));
      const kv = (r: Record<string, number | string>) => Object.entries(r).filter(([, v]) => Number(v) !== 0).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
      console.log(`interface ${s.interface}, up ${s.uptimeS}s`);
      console.log(`slow path requests  ${kv(s.slowPath.requests)}`);
      console.log(`slow path replies   ${kv(s.slowPath.replies)}`);
      console.log(`slow path outcomes  ${kv(s.outcomes)}`);
      console.log(`errors              malformed=${s.slowPath.malformedFrames} send=${s.slowPath.sendErrors} journal=${s.slowPath.journalErrors}`);
      if (s.fastPath) {
        const c = s.fastPath.counters;
        console.log(`fast path (prog ${s.fastPath.programId}) rx=${c.rx} offer=${c.tx_offer} ack=${c.tx_ack} nak=${c.tx_nak} passed-unknown=${c.pass_unknown_subscriber}`);
        console.log(`fast path sync      ${kv(s.fastPath.sync)}`);
      } else console.log('fast path           off');
      for (const p of s.pools) console.log(`pool ${p.pool.padEnd(14)} bound ${p.active}/${p.size} (${((100 * (p.active + p.offered + p.declined)) / Math.max(1, p.size)).toFixed(1)}% used) offered ${p.offered} declined ${p.declined}`);
    });

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
    .option('--pin-dir <dir>', 'bpffs directory of the maps (default /sys/fs/bpf/bng/<interface>)')
    .option('--json', 'print JSON')
    .option('--all', 'include reasons that are zero')
    .action((o) => {
      const fp = DhcpFastPath.openPinned(o.interface, o.pinDir);
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
    .option('--pin-dir <dir>', 'bpffs directory of the maps (default /sys/fs/bpf/bng/<interface>)')
    .option('--json', 'print JSON')
    .action((o) => {
      const fp = DhcpFastPath.openPinned(o.interface, o.pinDir);
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
    .description('build a network-namespace lab, run `bng run` on it with real dhclient/udhcpc clients and a perfdhcp burst, show leases, fast vs slow path and rates live')
    .option('--clients <n>', 'real dhclient/udhcpc clients', intArg('--clients', 1, 64), 24)
    .option('--seconds <n>', 'how long the demo runs (the default sees two renewal rounds)', intArg('--seconds', 5, 3600), 45)
    .option('--lease-time <s>', 'pool lease time; clients renew at half of it', intArg('--lease-time', 10, 3600), 30)
    .option('--metrics-port <port>', 'daemon HTTP port on 127.0.0.1 (0: a free one)', intArg('--metrics-port', 0, 65535), 0)
    .action(async (o) => {
      process.exitCode = await runDemo({ clients: o.clients, seconds: o.seconds, leaseTime: o.leaseTime, metricsPort: o.metricsPort });
    });

  return program;
}

/** GET reads or POST actions on the running daemon's /api/ */
async function apiCall(base: string, path: string, method: 'GET' | 'POST'): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(`/api/${path}`, base), { method });
  } catch (e) {
    throw new BngError('BNG_ERR_NOT_FOUND', `no daemon answers at ${base} (${(e as Error).message}); is \`bng run\` running, and is --api its --metrics-addr?`);
  }
  const text = await res.text();
  if (!res.ok) {
    let why = text;
    try {
      why = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: the text is the reason
    }
    throw new BngError(res.status === 404 && method === 'POST' ? 'BNG_ERR_NOT_FOUND' : 'BNG_ERR_BAD_REQUEST', `${base}/api/${path}: HTTP ${res.status} ${why}`);
  }
  return JSON.parse(text);
}
const apiGet = (base: string, path: string): Promise<unknown> => apiCall(base, path, 'GET');
const apiPost = (base: string, path: string): Promise<unknown> => apiCall(base, path, 'POST');

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

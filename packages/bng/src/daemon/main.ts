/**
 * `bng run`: the composition root of the BNG daemon in standalone mode (no Nexus). It wires the
 * lease store and its journal, the XDP fast path, the DHCPv4 slow path, RADIUS AAA (sessions,
 * accounting, CoA), metrics and the HTTP endpoint, and nothing else constructs these.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, constants as osConstants } from 'node:os';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { BngError, isBngError } from '@bng/api';
import { randomBytes } from 'node:crypto';
import { DhcpFastPath, XdpAttachment, boottimeNs, defaultPinDir, ifindexOf, interfaceMac } from '@bng/datapath';
import { ipToU32, u32ToIp } from '@bng/protocols';
import type { ResolvedBngConfig } from '../config.js';
import { openLeaseJournal, type LeaseJournal } from '../dhcp/lease-journal.js';
import { SINGLE_THREADED_FLAG, v8ThreadsInEffect } from './runtime.js';
import { LeaseState, createMemoryLeaseStore, type MemoryLeaseStore } from '../dhcp/lease-store.js';
import type { Dhcp4Logger } from '../dhcp/types.js';
import { DhcpService } from './dhcp-service.js';
import { startDaemonHttp, type HealthReport } from './http.js';
import { createDaemonMetrics, registerDaemonMetrics, registerSessionMetrics } from './metrics.js';
import { createAaaService, type AaaService } from '../aaa/aaa-service.js';
import { createAccountingManager, type AccountingManager } from '../aaa/accounting.js';
import { createCoaServer, type CoaServer } from '../aaa/coa-server.js';
import { registerAaaMetrics } from '../aaa/metrics.js';
import { systemClock } from '../aaa/types.js';
import { dgramSocketFactory } from '../aaa/udp.js';
import { SubscriberSessions, type SessionDatapath } from './subscriber-sessions.js';

export interface RunningDaemon {
  readonly dhcp: DhcpService;
  readonly sessions: SubscriberSessions | undefined;
  readonly store: MemoryLeaseStore;
  readonly fastPath: DhcpFastPath | undefined;
  readonly http: Server;
  /** the bound HTTP port (useful with metricsAddr :0) */
  readonly port: number;
  stop(): Promise<void>;
}

function operstate(ifname: string): string {
  try {
    return readFileSync(`/sys/class/net/${ifname}/operstate`, 'utf8').trim();
  } catch {
    return 'absent';
  }
}

export async function runDaemon(cfg: ResolvedBngConfig, log: Dhcp4Logger = pino({ name: 'bng', level: cfg.raw.logLevel, base: { pid: process.pid } })): Promise<RunningDaemon> {
  const raw = cfg.raw;
  const ifname = raw.interface;
  try {
    ifindexOf(ifname);
  } catch {
    throw new BngError('BNG_ERR_INTERFACE', `interface: ${ifname} does not exist on this host`, { field: 'interface' });
  }
  const serverMac = interfaceMac(ifname);

  mkdirSync(raw.stateDir, { recursive: true });
  const journalPath = join(raw.stateDir, `dhcp4-leases-${ifname}.journal`);
  let journal: LeaseJournal;
  try {
    journal = openLeaseJournal(journalPath, { groupCommit: true, fsync: raw.dhcp.journalFsync });
  } catch (e) {
    throw new BngError('BNG_ERR_CONFIG_INVALID', `stateDir: cannot open ${journalPath}: ${(e as Error).message}`, { field: 'stateDir' });
  }
  if (journal.truncatedBytes > 0) log.warn({ journal: journalPath, bytes: journal.truncatedBytes }, 'lease journal had a torn tail (crash mid-write); cut at the last whole entry');
  const store = createMemoryLeaseStore({
    journal,
    onCompactError: (err) => log.error({ journal: journalPath, err: err.message }, 'lease journal compaction failed; the journal goes on in its old file'),
  });
  const cpus = availableParallelism();
  const syncInline = raw.dhcp.journalSync === 'inline' || (raw.dhcp.journalSync === 'auto' && cpus === 1);
  log.info({ journalSync: syncInline ? 'inline' : 'thread', fsync: raw.dhcp.journalFsync, cpus }, 'lease journal sync mode');
  // runtime.v8Threads (daemon/runtime.ts): the CLI restarted the process under the flag when wanted
  const { v8Threads, asConfigured } = v8ThreadsInEffect(raw.runtime.v8Threads, cpus, process.execArgv);
  if (!asConfigured) {
    log.warn({ setting: raw.runtime.v8Threads, cpus, v8Threads }, `runtime.v8Threads: node was not started as the setting asks (run through \`bng run\` or pass ${SINGLE_THREADED_FLAG} to node)`);
  } else log.info({ setting: raw.runtime.v8Threads, cpus, v8Threads }, 'V8 helper threads');
  if (!raw.dhcp.journalFsync) log.warn({ journal: journalPath }, 'dhcp.journalFsync is off: leases survive a daemon crash but not a power cut or kernel crash');
  const bound = [...store.all()].filter((r) => r.state === LeaseState.BOUND).length;
  log.info({ journal: journalPath, records: store.size, bound }, 'lease store loaded');

  // Fast path: attached once and left attached on stop, so the kernel keeps answering renewals
  // of known subscribers while the daemon restarts (`bng fastpath detach` removes it).
  let fastPath: DhcpFastPath | undefined;
  let programId = 0;
  const pinDir = raw.fastpath.pinDir ?? defaultPinDir(ifname);
  if (raw.fastpath.enabled) {
    const serverIp = u32ToIp(cfg.dhcp.pools[0]!.serverId);
    fastPath = DhcpFastPath.attach({ ifname, serverIp, serverMac, mode: raw.fastpath.mode, pinDir, ...(raw.bpfPath ? { objectPath: raw.bpfPath } : {}) });
    programId = XdpAttachment.query(ifname);
    log.info({ interface: ifname, mode: raw.fastpath.mode, programId, pinDir }, 'XDP fast path attached');
  } else if (existsSync(pinDir) && XdpAttachment.query(ifname) !== 0) {
    // "fast path off" must be true: a program left by an earlier run would still answer
    DhcpFastPath.detach(ifname, { pinDir, unpin: true });
    log.info({ interface: ifname }, 'fast path disabled: detached the program an earlier run left');
  }

  // ---- AAA (RADIUS): sessions in front of the DHCP server, accounting, CoA ----
  let aaa: AaaService | undefined;
  let accounting: AccountingManager | undefined;
  let sessions: SubscriberSessions | undefined;
  // the DHCP service is built after the sessions it takes; they reach it through this
  let dhcpRef: DhcpService | undefined;
  const aaaCfg = cfg.aaa;
  if (aaaCfg) {
    aaa = createAaaService(aaaCfg.service, { clock: systemClock, log, socketFactory: dgramSocketFactory });
    const datapath: SessionDatapath | undefined = fastPath
      ? { setSession: (ip, p) => fastPath!.setSession(ip, p), deleteSession: (ip) => fastPath!.deleteSession(ip), sessionUsage: (ip) => fastPath!.sessionUsage(ip) }
      : undefined;
    if (!datapath) log.warn({}, 'aaa without the fast path: accounting reports zero octets and packets, Idle-Timeout, rates and the walled garden are not enforced');
    if (aaaCfg.accounting) {
      const acctPath = join(raw.stateDir, `accounting-${ifname}.journal`);
      try {
        accounting = await createAccountingManager(
          { journalPath: acctPath, nasIdentifier: aaaCfg.nasIdentifier, ...(aaaCfg.service.nasIpAddress ? { nasIpAddress: aaaCfg.service.nasIpAddress } : {}), ...aaaCfg.accounting },
          { clock: systemClock, log, clientFor: (realm) => aaa!.clientFor(realm), readCounters: (id) => sessions!.readCounters(id) },
        );
      } catch (e) {
        aaa.close();
        throw new BngError('BNG_ERR_CONFIG_INVALID', `stateDir: cannot open ${acctPath}: ${(e as Error).message}`, { field: 'stateDir' });
      }
    }
    sessions = new SubscriberSessions(
      {
        realm: aaaCfg.realm,
        rejectHoldMs: aaaCfg.rejectHoldMs,
        grantTtlMs: Math.max(60_000, raw.dhcp.offerHoldSeconds * 2000),
        ...(aaaCfg.walledGarden.pool !== undefined ? { walledGardenPool: aaaCfg.walledGarden.pool } : {}),
        walledGardenFilterId: aaaCfg.walledGarden.filterId,
        nasPortIdTemplate: aaaCfg.service.nasPortId ?? '',
        maxPending: 16_384,
      },
      {
        aaa,
        ...(accounting ? { accounting } : {}),
        ...(datapath ? { datapath } : {}),
        store,
        log,
        now: () => Date.now(),
        boottimeNs,
        end: (ip, cause) => void dhcpRef?.endSession(ip, cause),
        persist: () => dhcpRef?.persist(),
        newSessionId: () => accounting?.newSessionId() ?? randomBytes(8).toString('hex'),
      },
    );
    if (fastPath) fastPath.setWalledGarden([...aaaCfg.walledGarden.allow]);
    const restored = sessions.restore(Date.now());
    log.info({ realm: aaaCfg.realm, sessions: restored.sessions }, 'aaa: sessions restored from the lease store');
    // RFC 2866 §5.1 Accounting-On tells the ISP that every earlier session of this NAS is over:
    // only true on a cold start. After a restart the bound subscribers' sessions go on (the
    // kernel kept serving them), so it is not sent for a realm that has sessions to resume.
    if (accounting && !restored.realms.has(aaaCfg.realm)) {
      accounting.accountingOn(aaaCfg.realm).catch((e: unknown) => log.error({ err: (e as Error).message }, 'accounting: Accounting-On not journaled'));
    }
  }

  const metrics = createDaemonMetrics();
  const dhcp = new DhcpService({
    ifname,
    serverMac,
    dhcpInput: cfg.dhcpInput,
    store,
    journal,
    ...(fastPath ? { fastPath } : {}),
    ...(raw.relay.enabled ? { relayPort: raw.relay.port, ...(raw.relay.address ? { relayAddress: raw.relay.address } : {}) } : {}),
    expireIntervalMs: raw.dhcp.expireIntervalSeconds * 1000,
    log,
    observe: metrics.observe,
    syncInline,
    ...(sessions ? { sessions } : {}),
  });
  dhcpRef = dhcp;
  let coa: CoaServer | undefined;
  const closeAaa = async (): Promise<void> => {
    coa?.close();
    await accounting?.close();
    aaa?.close();
  };
  try {
    await dhcp.start();
    if (aaaCfg?.coa && sessions) {
      try {
        coa = await createCoaServer(aaaCfg.coa, { clock: systemClock, log, socketFactory: dgramSocketFactory, sessions: sessions.registry, actions: sessions.actions });
      } catch (e) {
        throw new BngError('BNG_ERR_CONFIG_INVALID', `aaa.coa.port: cannot listen on ${aaaCfg.coa.listenAddress}:${aaaCfg.coa.port}/udp: ${(e as Error).message}`, { field: 'aaa.coa.port' });
      }
    }
  } catch (e) {
    dhcp.close();
    await closeAaa();
    fastPath?.close();
    journal.close();
    if (isBngError(e, 'BNG_ERR_SYSCALL') && e.details?.['errno'] === osConstants.errno.EADDRINUSE) throw new BngError('BNG_ERR_CONFIG_INVALID', `relay.port: UDP port ${raw.relay.port} is in use (another DHCP server?)`, { field: 'relay.port' });
    throw e;
  }
  const daemonMetrics = registerDaemonMetrics(metrics, dhcp, fastPath);
  if (aaa && sessions) {
    registerAaaMetrics(metrics.registry, { clients: () => aaa!.clients(), ...(accounting ? { accounting } : {}), ...(coa ? { coa } : {}) });
    registerSessionMetrics(metrics, sessions);
  }
  // Render the metrics once before serving. The first rendering changes the layout V8 assumed for
  // some small objects (prom-client sets a `value` field a second time, and V8 then marks that field
  // mutable). That discards the optimised code of everything that assumed the layout, the DHCP path
  // included. Left to the first Prometheus scrape, this cost 200-300 ms of unoptimised serving
  // under load (at 2,000 DORA/s, p50 2-6 ms right after the scrape; bench/dhcp, `--trace-deopt`).
  // (`warm` then forgets what it read: a scrape right after start reads fresh values)
  await daemonMetrics.warm();

  let lastTick = Date.now();
  const loopTimer = setInterval(() => (lastTick = Date.now()), 1000);
  loopTimer.unref();

  const health = (): HealthReport => {
    const lag = Date.now() - lastTick;
    const checks = { eventLoop: { ok: lag < 5000, detail: `${lag} ms since the last tick` } };
    return { ok: checks.eventLoop.ok, checks };
  };
  const ready = (): HealthReport => {
    const state = operstate(ifname);
    const checks: HealthReport['checks'] = {
      interface: { ok: state === 'up' || state === 'unknown', detail: `${ifname} operstate ${state}` },
      packetSocket: { ok: dhcp.listening.packet, detail: dhcp.listening.packet ? 'open' : 'closed' },
      relaySocket: { ok: !raw.relay.enabled || dhcp.listening.udp, detail: raw.relay.enabled ? (dhcp.listening.udp ? `${dhcp.relayAddress}:${raw.relay.port}/udp` : 'closed') : 'disabled' },
      leaseJournal: { ok: dhcp.stats.journalErrors === 0, detail: `${journalPath}, ${dhcp.stats.journalErrors} errors` },
    };
    if (fastPath) {
      let now = 0;
      try {
        now = XdpAttachment.query(ifname);
      } catch {
        now = 0;
      }
      checks.fastPath = { ok: now !== 0 && now === programId, detail: now === 0 ? 'no XDP program attached' : now === programId ? `program ${now} attached` : `another program (${now}) replaced ours (${programId})` };
    }
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  };

  const http = await startDaemonHttp(cfg.http.host, cfg.http.port, {
    registry: metrics.registry,
    health,
    ready,
    api: {
      leases: (q) => {
        const state = q.get('state');
        const pool = q.get('pool');
        const now = Date.now();
        return [...store.all()]
          .filter((r) => (state ? r.state === state : true) && (pool ? r.pool === pool : true))
          .sort((a, b) => ipToU32(a.ip) - ipToU32(b.ip))
          .map((r) => ({ ...r, expiresInS: Math.round((r.expiresAtMs - now) / 1000) }));
      },
      stats: () => ({
        interface: ifname,
        uptimeS: Math.round(dhcp.uptimeMs / 1000),
        slowPath: dhcp.stats,
        outcomes: dhcp.server.counters(),
        pools: dhcp.poolUsage(),
        fastPath: fastPath ? { programId, counters: fastPath.readCounters(), sync: dhcp.sync?.stats } : null,
        journal: { path: journalPath, entries: journal.entries },
      }),
      subscribers: () => (fastPath ? [...fastPath.subscribers()].map(([m, b]) => ({ match: m, ...b })) : []),
      sessions: () =>
        (sessions?.list() ?? []).map(({ lease, session, acctStarted, usage }) => ({
          sessionId: session.id,
          userName: session.userName,
          realm: session.realm,
          ip: lease.ip,
          mac: lease.mac,
          startedAtMs: session.startedAtMs,
          upKbps: session.upKbps,
          downKbps: session.downKbps,
          walled: session.walled === true,
          sessionTimeoutSec: session.sessionTimeoutSec,
          idleTimeoutSec: session.idleTimeoutSec,
          accounting: session.accounting ? (acctStarted ? 'started' : 'waiting for the ACK') : 'off',
          ...(usage ? { usage } : {}),
        })),
    },
    post: {
      // POST /api/sessions/disconnect?id=<Acct-Session-Id>: an administrator ends a session (Admin-Reset)
      'sessions/disconnect': (q) => {
        const id = q.get('id');
        if (!sessions) throw new BngError('BNG_ERR_NOT_FOUND', 'AAA is not enabled: there are no sessions');
        if (!id) throw new BngError('BNG_ERR_BAD_REQUEST', 'id: the Acct-Session-Id to disconnect');
        if (!sessions.disconnect(id)) throw new BngError('BNG_ERR_NOT_FOUND', `no session ${id}`);
        return { disconnected: id };
      },
    },
  });
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.http.port;
  log.info({ interface: ifname, metrics: `http://${cfg.http.host}:${port}/metrics`, pools: cfg.dhcp.pools.map((p) => p.name), fastPath: raw.fastpath.enabled }, 'bng running');

  let stopped = false;
  return {
    dhcp,
    sessions,
    store,
    fastPath,
    http,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(loopTimer);
      dhcp.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections?.();
      // sessions stay open across a restart (their leases and datapath entries live on), so no
      // Stop and no Accounting-Off here: records in flight are answered, the rest wait on disk
      await closeAaa();
      journal.close();
      fastPath?.close();
      log.info({ interface: ifname }, 'bng stopped; the XDP program stays attached and keeps answering known subscribers');
    },
  };
}

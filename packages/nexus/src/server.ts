/**
 * The only place that wires Nexus components together. createNexus() builds everything from one
 * validated config; start() listens; stop() closes in reverse order and flushes the log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { BngError } from '@bng/api';
import { createAllocations } from './allocations.js';
import { buildApi } from './api.js';
import { createAuditLog } from './audit.js';
import { createAuth } from './auth.js';
import { createGroupCommit } from './commit.js';
import type { NexusConfig } from './config.js';
import { systemClock, type Clock, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createReplication } from './replication.js';
import { createNexusService } from './service.js';
import { createStore } from './store.js';
import { createWatchers } from './watch.js';

export interface Nexus {
  readonly nodeId: string;
  start(): Promise<{ host: string; port: number }>;
  stop(): Promise<void>;
}

function resolveNodeId(config: NexusConfig): string {
  if (config.node_id) return config.node_id;
  // The allocator id must survive restarts: a new id would move block ownership for no reason.
  const file = path.join(config.data_dir, 'node-id');
  try { return fs.readFileSync(file, 'utf8').trim(); } catch { /* first start */ }
  const id = `nx-${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(file, `${id}\n`);
  return id;
}

export async function createNexus(config: NexusConfig, deps: { log: Logger; clock?: Clock }): Promise<Nexus> {
  const clock = deps.clock ?? systemClock;
  fs.mkdirSync(config.data_dir, { recursive: true });
  const nodeId = resolveNodeId(config);
  const log = deps.log.child({ node: nodeId });
  if (config.replication.peers.length > 0 && !config.replication.secret) {
    throw new BngError('BNG_ERR_CONFIG_INVALID', 'replication.secret: required when replication.peers is set', { field: 'replication.secret' });
  }
  const metrics = createMetrics();

  const store = createStore({ dataDir: path.join(config.data_dir, 'state'), fsync: config.persistence.fsync, compactBytes: config.persistence.compact_bytes }, { log });
  const replication = createReplication({
    nodeId, peers: config.replication.peers, secret: config.replication.secret, reconnectMs: config.replication.reconnect_ms,
    pingMs: config.replication.ping_ms, tls: config.replication.tls,
  }, { store, log, clock });
  const audit = createAuditLog({ file: path.join(config.data_dir, 'audit.log'), node: nodeId }, { clock, log });
  const auth = createAuth({ adminToken: config.auth.admin_token, bootstrapKey: config.auth.bootstrap_key, peerSecret: config.replication.secret }, { store });
  let service: ReturnType<typeof createNexusService> | undefined;
  const allocations = createAllocations(
    { defaultBlockSize: config.allocation.block_size, defaultQuarantineSeconds: config.allocation.quarantine_seconds },
    {
      store, clock, log, membership: replication.membership,
      onConflict: (e) => { metrics.conflicts.inc({ pool: e.pool_id }); service?.onConflict(e); },
      onOutcome: (pool, result) => metrics.allocationOutcome(pool, result),
    },
  );
  service = createNexusService({ offlineAfterSeconds: config.devices.offline_after_seconds }, { store, allocations, auth, audit, clock, log, node: nodeId });
  const svc = service;
  const watchers = createWatchers({ nodeId }, { store, log, scope: (p) => svc.watchDocs(p) });
  const watchWss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  replication.onMembershipChange((live) => {
    log.info({ live }, 'live allocators changed');
    allocations.recheck();
  });

  let ready = false;
  const tls = config.listen.tls;
  const commits = createGroupCommit({ commit: () => { audit.flush(); return store.flush(); }, batch: (pools, fn) => allocations.batch(pools, fn) });
  const app = await buildApi({
    service: svc, auth, log, metrics, flush: () => commits.flush(), group: (pools, fn) => commits.run(pools, fn), ready: () => ready,
    deviceBySerial: (serial) => svc.deviceIdBySerial(serial),
    refreshMetrics: () => refreshGauges(),
    admin: {
      replicationStatus: () => ({ node: nodeId, enabled: replication.enabled(), live: replication.membership.live(), peers: replication.status() }),
      setReplication: (on) => replication.setEnabled(on),
      state: (content) => ({ node: nodeId, digest: store.stateDigest(), ...(content ? { hash: store.contentHash() } : {}), documents: store.names().length, duplicates: allocations.duplicates(), live: replication.membership.live(), ...svc.counts() }),
      compact: () => store.compact(),
      audit: (limit) => audit.tail(limit),
    },
  }, tls ? { https: { cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key), ca: tls.ca ? fs.readFileSync(tls.ca) : undefined, clientAuth: tls.client_auth ?? false } } : {});

  const refreshGauges = () => {
    for (const pool of allocations.pools()) {
      const u = allocations.utilisation(pool.id);
      metrics.poolUtilisation.set({ pool: pool.id, type: pool.type }, u.utilisation);
      metrics.poolAllocated.set({ pool: pool.id, type: pool.type }, u.allocated);
    }
    const peers = replication.status();
    metrics.peers.set(peers.filter((p) => p.node).length);
    metrics.liveAllocators.set(replication.membership.live().length);
    metrics.rtt.reset(); metrics.lagBytes.reset();
    for (const p of peers) if (p.node) {
      if (p.rtt_ms !== null) metrics.rtt.set({ peer: p.node }, p.rtt_ms / 1000);
      metrics.lagBytes.set({ peer: p.node }, p.buffered_bytes);
    }
    metrics.watchers.set(watchers.count());
    metrics.subscribers.set(svc.counts().subscribers);
    metrics.docs.set(store.names().length);
  };

  app.server.on('upgrade', (req, socket, head) => {
    const url = (req.url ?? '').split('?')[0];
    if (url === '/replicate') return replication.handleUpgrade(req, socket, head);
    if (url === '/api/v1/watch') {
      const header = req.headers.authorization ?? '';
      let p = header.startsWith('Bearer ') ? auth.resolve(header.slice(7).trim()) : undefined;
      const sock = socket as Partial<TLSSocket>;
      if (!p && tls?.client_auth && sock.authorized && sock.getPeerCertificate) {
        const cn = sock.getPeerCertificate().subject?.CN;
        const id = typeof cn === 'string' ? svc.deviceIdBySerial(cn) : undefined;
        if (id) p = { kind: 'device', id };
      }
      const deny = (status: number, text: string, body: string) => {
        socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        socket.destroy();
      };
      if (!p) return deny(401, 'Unauthorized', JSON.stringify({ error: { code: 'BNG_ERR_UNAUTHENTICATED', message: 'missing or unknown credential' } }));
      if (p.kind !== 'device' && p.kind !== 'admin') return deny(403, 'Forbidden', JSON.stringify({ error: { code: 'BNG_ERR_FORBIDDEN', message: `${p.kind} may not watch` } }));
      return watchWss.handleUpgrade(req, socket, head, (ws) => watchers.attach(ws, p));
    }
    socket.destroy();
  });

  const maintenance = (what: string, fn: () => void) => () => {
    try { fn(); } catch (e) { log.error({ err: (e as Error).message, what }, 'periodic maintenance failed'); }
  };
  // Expired quarantine entries are dropped on the configured cadence; duplicates left by a merge
  // whose designated resolver is silent are re-examined every 2 s (cheap when there are none).
  const sweep = setInterval(maintenance('quarantine sweep', () => allocations.sweepQuarantine()), config.allocation.sweep_seconds * 1000);
  const recheck = setInterval(maintenance('conflict recheck', () => allocations.recheck()), 2000);
  sweep.unref();
  recheck.unref();

  return {
    nodeId,
    async start() {
      await app.listen({ host: config.listen.host, port: config.listen.port });
      ready = true;
      const addr = app.server.address() as AddressInfo;
      log.info({ host: addr.address, port: addr.port, peers: config.replication.peers, tls: Boolean(tls) }, 'nexus serving');
      return { host: addr.address, port: addr.port };
    },
    async stop() {
      ready = false;
      clearInterval(sweep);
      clearInterval(recheck);
      watchers.close();
      await replication.close();
      await app.close();
      await store.flush();
      store.close();
      audit.close();
    },
  };
}

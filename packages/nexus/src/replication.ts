/**
 * Peer replication between Nexus replicas over WebSocket (wss when TLS is configured). Every
 * replica dials every configured peer and also accepts peers on /replicate; a pair may hold two
 * connections, which costs bandwidth, not correctness (Yjs integrates an update once, and an
 * update that changes nothing emits nothing, so relaying cannot loop).
 *
 * Partitions: a replica keeps accepting writes whatever its connections; on reconnect both sides
 * exchange state vectors (SyncStep1) and the missing updates (SyncStep2), and the CRDT merge is
 * order-independent, so every replica ends with the same state.
 *
 * Liveness for the allocator is "self plus every peer with an open connection that said hello".
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as fs from 'node:fs';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import * as Y from 'yjs';
import type { Membership } from './allocations.js';
import type { Clock, Logger } from './logger.js';
import { decodeFrame, encodeHello, encodePing, encodeStep1, encodeUpdate, MessageTypes, readSyncMessage, stateFrames } from './protocol.js';
import { isValidDocName, type Store } from './store.js';

export interface ReplicationConfig {
  nodeId: string;
  peers: string[];
  secret?: string | undefined;
  reconnectMs: number;
  pingMs: number;
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined;
}

export interface PeerStatus {
  node: string | null; url: string | null; direction: 'in' | 'out'; rtt_ms: number | null; buffered_bytes: number; connected_at: number;
}

interface Peer {
  ws: WebSocket;
  direction: 'in' | 'out';
  url: string | null;
  node: string | null;
  rttMs: number | null;
  connectedAt: number;
  pending: Map<string, Uint8Array[]>;
  /** SyncStep1 requests not answered yet (document, the peer's state vector), oldest first. */
  step2Queue: Array<{ name: string; stateVector: Uint8Array; next?: () => Uint8Array | undefined }>;
  /** A SyncStep2 is on its way into the socket. */
  sending: boolean;
  /** The buffer SyncStep2 frames are written into, while there are any to send. */
  frameBuffer: { bytes?: Uint8Array<ArrayBuffer> };
}

export interface Replication {
  membership: Membership;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  setEnabled(enabled: boolean): void;
  enabled(): boolean;
  status(): PeerStatus[];
  /** Fired when the live set changes (peer said hello or went away). */
  onMembershipChange(cb: (live: readonly string[]) => void): void;
  close(): Promise<void>;
}

const SYNC_PART_BYTES = 256 * 1024;

export function createReplication(config: ReplicationConfig, deps: { store: Store; log: Logger; clock: Clock }): Replication {
  const { store, clock } = deps;
  const log = deps.log.child({ component: 'replication' });
  const peers = new Set<Peer>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 512 * 1024 * 1024, perMessageDeflate: false });
  const timers = new Map<string, NodeJS.Timeout>();
  const membershipListeners: Array<(live: readonly string[]) => void> = [];
  let enabled = true;
  let closed = false;
  let flushScheduled = false;
  let liveCache: string[] | undefined;

  const tlsOptions = () => {
    const t = config.tls;
    if (!t) return {};
    return {
      ...(t.ca ? { ca: fs.readFileSync(t.ca) } : {}),
      ...(t.cert ? { cert: fs.readFileSync(t.cert) } : {}),
      ...(t.key ? { key: fs.readFileSync(t.key) } : {}),
    };
  };

  const membershipChanged = () => {
    liveCache = undefined;
    const live = membership.live();
    for (const cb of membershipListeners) cb(live);
  };

  const membership: Membership = {
    self: config.nodeId,
    live() {
      if (!liveCache) {
        const ids = new Set<string>([config.nodeId]);
        for (const p of peers) if (p.node && p.ws.readyState === WebSocket.OPEN) ids.add(p.node);
        liveCache = [...ids].sort();
      }
      return liveCache;
    },
  };

  const send = (peer: Peer, data: Uint8Array) => {
    if (peer.ws.readyState === WebSocket.OPEN) peer.ws.send(data);
  };

  const flush = () => {
    flushScheduled = false;
    for (const peer of peers) {
      if (peer.pending.size === 0) continue;
      for (const [name, updates] of peer.pending) {
        // Updates made in one turn of the event loop travel as one merged update per document.
        send(peer, encodeUpdate(name, updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates)));
      }
      peer.pending.clear();
    }
  };

  store.onUpdate((name, update, origin) => {
    for (const peer of peers) {
      // Also to a peer whose hello has not arrived yet: it was sent our state vectors when it
      // connected, so a document created since then (before its hello) reaches it only this way.
      // Skipping such peers lost that document on them until the next reconnect.
      if (peer === origin) continue;
      let list = peer.pending.get(name);
      if (!list) peer.pending.set(name, (list = []));
      list.push(update);
    }
    if (!flushScheduled) { flushScheduled = true; setImmediate(flush); }
  });

  /**
   * Answer SyncStep1 requests one part at a time (stateFrames: ~256 KB of a document each), encoding
   * the next part only once the previous one is in the socket (the frame's buffer is then reused).
   * A new replica asks for everything at once; encoding every document up front held the whole
   * state (tens of megabytes) in send buffers, and the receiver merged each pool's 100,000 entries
   * in one transaction.
   */
  const pump = (peer: Peer) => {
    while (!peer.sending && peer.ws.readyState === WebSocket.OPEN) {
      const head = peer.step2Queue[0];
      if (!head) { peer.frameBuffer.bytes = undefined; return; }
      const doc = store.get(head.name);
      head.next ??= doc ? stateFrames(head.name, doc, head.stateVector, SYNC_PART_BYTES, peer.frameBuffer) : () => undefined;
      const frame = head.next();
      if (!frame) { peer.step2Queue.shift(); continue; }
      peer.sending = true;
      peer.ws.send(frame, () => { peer.sending = false; pump(peer); });
    }
  };

  const attach = (ws: WebSocket, direction: 'in' | 'out', url: string | null) => {
    const peer: Peer = { ws, direction, url, node: null, rttMs: null, connectedAt: clock.now(), pending: new Map(), step2Queue: [], sending: false, frameBuffer: {} };
    peers.add(peer);
    ws.binaryType = 'nodebuffer';
    send(peer, encodeHello(config.nodeId));
    // Our state vector for every document: the peer answers with what we are missing.
    for (const name of store.names()) if (name !== undefined) send(peer, encodeStep1(name, store.get(name)!));
    const ping = setInterval(() => send(peer, encodePing(MessageTypes.ping, clock.now())), config.pingMs);
    ws.on('message', (data: RawData) => {
      try {
        const buf = data instanceof Buffer ? data : Buffer.concat(data as Buffer[]);
        const msg = decodeFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
        if (msg.type === 'hello') {
          if (msg.nodeId === config.nodeId) { log.warn({ url }, 'connected to myself; closing'); ws.close(); return; }
          peer.node = msg.nodeId;
          log.info({ peer: msg.nodeId, direction, url }, 'peer connected');
          membershipChanged();
        } else if (msg.type === 'sync') {
          if (!isValidDocName(msg.doc)) return;
          const known = store.get(msg.doc) !== undefined;
          const sync = readSyncMessage(msg.decoder);
          if (sync.kind === 'step1') {
            store.doc(msg.doc);
            peer.step2Queue.push({ name: msg.doc, stateVector: sync.stateVector.slice() });
            pump(peer);
          } else {
            try {
              store.applyRemote(msg.doc, sync.update, peer);
            } catch (e) {
              // As y-protocols does: an update that fails to merge (or an observer that throws) is
              // reported, and the connection stays up.
              log.error({ err: (e as Error).message, peer: peer.node, doc: msg.doc }, 'failed to merge an update from a peer');
            }
          }
          // A document we did not have: ask the peer for all of it.
          if (!known) send(peer, encodeStep1(msg.doc, store.doc(msg.doc)));
        } else if (msg.type === 'ping') {
          send(peer, encodePing(MessageTypes.pong, msg.ts));
        } else if (msg.type === 'pong') {
          peer.rttMs = clock.now() - msg.ts;
        }
      } catch (e) {
        log.error({ err: (e as Error).message, peer: peer.node }, 'bad replication frame; dropping connection');
        ws.terminate();
      }
    });
    ws.on('close', () => {
      clearInterval(ping);
      peers.delete(peer);
      if (peer.node) { log.info({ peer: peer.node, direction }, 'peer disconnected'); membershipChanged(); }
      if (direction === 'out' && url) scheduleDial(url);
    });
    ws.on('error', (err) => log.debug({ err: err.message, url }, 'peer socket error'));
  };

  const dial = (url: string) => {
    timers.delete(url);
    if (!enabled || closed) return;
    const ws = new WebSocket(url, {
      headers: config.secret ? { authorization: `Bearer ${config.secret}` } : {},
      maxPayload: 512 * 1024 * 1024,
      perMessageDeflate: false,
      handshakeTimeout: 5000,
      ...tlsOptions(),
    });
    let opened = false;
    ws.on('open', () => { opened = true; attach(ws, 'out', url); });
    ws.on('error', (err) => { log.debug({ url, err: err.message }, 'dial failed'); if (!opened) scheduleDial(url); });
    ws.on('unexpected-response', (_req, res) => {
      // 503: the peer paused replication (partition drill): retry at the normal pace so the heal is
      // quick. Anything else (401: wrong secret) will not fix itself soon: retry slowly.
      const paused = res.statusCode === 503;
      if (paused) log.debug({ url }, 'peer has paused replication'); else log.warn({ url, status: res.statusCode }, 'peer refused replication');
      ws.terminate();
      scheduleDial(url, paused ? config.reconnectMs : Math.max(config.reconnectMs, 5000));
    });
  };

  const scheduleDial = (url: string, delayMs = config.reconnectMs) => {
    if (!enabled || closed || timers.has(url)) return;
    timers.set(url, setTimeout(() => dial(url), delayMs));
  };

  for (const url of config.peers) dial(url);

  return {
    membership,
    handleUpgrade(req, socket, head) {
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      const refuse = (status: number, text: string) => {
        socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        socket.destroy();
      };
      if (!enabled || closed) return refuse(503, 'Replication Paused');
      if (!config.secret || token.length === 0 || !safeSecret(token, config.secret)) return refuse(401, 'Unauthorized');
      wss.handleUpgrade(req, socket, head, (ws) => attach(ws, 'in', null));
    },
    setEnabled(on) {
      if (on === enabled) return;
      enabled = on;
      log.warn({ enabled: on }, on ? 'replication resumed' : 'replication paused: all peer connections closed');
      if (!on) {
        for (const t of timers.values()) clearTimeout(t);
        timers.clear();
        for (const p of peers) p.ws.terminate();
      } else {
        for (const url of config.peers) dial(url);
      }
    },
    enabled: () => enabled,
    status: () => [...peers].map((p) => ({
      node: p.node, url: p.url, direction: p.direction, rtt_ms: p.rttMs, buffered_bytes: p.ws.bufferedAmount, connected_at: p.connectedAt,
    })),
    onMembershipChange(cb) { membershipListeners.push(cb); },
    async close() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      for (const p of peers) p.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function safeSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * The watch stream an edge agent subscribes to (/api/v1/watch). Same framing as replication, but
 * scoped and read-only: the server sends the list of documents the caller may see, its state
 * vector for each (so the agent can send back what the server lacks is NOT accepted: agents write
 * through the HTTP API), answers the agent's SyncStep1 with SyncStep2, and then streams updates.
 * The scope is recomputed when documents appear (a new pool the device may use, a new ISP).
 */
import type * as Y from 'yjs';
import type { WebSocket, RawData } from 'ws';
import type { Principal } from './auth.js';
import type { Logger } from './logger.js';
import { decodeFrame, encodeHello, encodePing, encodeScope, encodeStep2, encodeUpdate, handleSync, MessageTypes } from './protocol.js';
import { LOAD_ORIGIN, type Store } from './store.js';

export interface Watchers {
  attach(ws: WebSocket, principal: Principal): void;
  count(): number;
  close(): void;
}

interface Watcher { ws: WebSocket; principal: Principal; docs: Set<string> }

export function createWatchers(config: { nodeId: string }, deps: { store: Store; log: Logger; scope: (p: Principal) => string[] }): Watchers {
  const { store } = deps;
  const log = deps.log.child({ component: 'watch' });
  const watchers = new Set<Watcher>();

  const send = (w: Watcher, data: Uint8Array) => { if (w.ws.readyState === 1) w.ws.send(data); };

  const rescope = (w: Watcher) => {
    const next = deps.scope(w.principal);
    const added = next.filter((n) => !w.docs.has(n));
    const removed = [...w.docs].filter((n) => !next.includes(n));
    if (added.length === 0 && removed.length === 0) return;
    w.docs = new Set(next);
    send(w, encodeScope(next));
    // Push whole new documents at once: the agent has nothing of them yet.
    for (const name of added) { const doc = store.get(name); if (doc) send(w, encodeStep2(name, doc)); }
  };

  let rescopeScheduled = false;
  const scheduleRescope = () => {
    if (rescopeScheduled) return;
    rescopeScheduled = true;
    setImmediate(() => { rescopeScheduled = false; for (const w of watchers) rescope(w); });
  };

  store.onDoc((name, doc: Y.Doc) => {
    scheduleRescope();
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === LOAD_ORIGIN) return;
      for (const w of watchers) if (w.docs.has(name)) send(w, encodeUpdate(name, update));
      // Device records and pool definitions decide scope; re-evaluate when they change.
      if (name.startsWith('device:') || name.startsWith('pool:')) scheduleRescope();
    });
  });

  return {
    attach(ws, principal) {
      const w: Watcher = { ws, principal, docs: new Set(deps.scope(principal)) };
      watchers.add(w);
      send(w, encodeHello(config.nodeId));
      send(w, encodeScope([...w.docs].sort()));
      for (const name of w.docs) { const doc = store.get(name); if (doc) send(w, encodeStep2(name, doc)); }
      ws.on('message', (data: RawData) => {
        try {
          const buf = data instanceof Buffer ? data : Buffer.concat(data as Buffer[]);
          const msg = decodeFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
          if (msg.type === 'sync') {
            const doc = w.docs.has(msg.doc) ? store.get(msg.doc) : undefined;
            if (!doc) return; // out of scope: say nothing, not even that it exists
            const reply = handleSync(msg.doc, msg.decoder, doc, w, true);
            if (reply) send(w, reply);
          } else if (msg.type === 'ping') {
            send(w, encodePing(MessageTypes.pong, msg.ts));
          }
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'bad watch frame; closing');
          ws.terminate();
        }
      });
      ws.on('close', () => watchers.delete(w));
      ws.on('error', () => ws.terminate());
    },
    count: () => watchers.size,
    close() { for (const w of watchers) w.ws.terminate(); },
  };
}

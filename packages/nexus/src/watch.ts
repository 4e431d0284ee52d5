/**
 * The watch stream an edge agent subscribes to (/api/v1/watch). Same framing as replication, but
 * scoped and read-only: the server sends the list of documents the caller may see and their
 * content; updates the agent sends are dropped (agents write through the HTTP API); it answers
 * the agent's SyncStep1 with SyncStep2, and then streams updates.
 * The scope is recomputed when documents appear (a new pool the device may use, a new ISP) and
 * when the device's own record changes.
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

  // Scope changes only when documents appear (a new ISP, pool or device) or when a device's own
  // record changes (its NetCo); pool filters are immutable. Re-evaluate just those watchers.
  let rescopeAll = false;
  const rescopeDevices = new Set<string>();
  let rescopeScheduled = false;
  const scheduleRescope = (deviceId?: string) => {
    if (deviceId === undefined) rescopeAll = true; else rescopeDevices.add(deviceId);
    if (rescopeScheduled) return;
    rescopeScheduled = true;
    setImmediate(() => {
      rescopeScheduled = false;
      const all = rescopeAll;
      const devices = new Set(rescopeDevices);
      rescopeAll = false;
      rescopeDevices.clear();
      for (const w of watchers) {
        if (all || (w.principal.kind === 'device' && devices.has(w.principal.id))) rescope(w);
      }
    });
  };

  store.onDoc((name, doc: Y.Doc) => {
    scheduleRescope();
    const deviceId = name.startsWith('device:') ? name.slice('device:'.length) : undefined;
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === LOAD_ORIGIN) return;
      for (const w of watchers) if (w.docs.has(name)) send(w, encodeUpdate(name, update));
      if (deviceId !== undefined && watchers.size > 0) scheduleRescope(deviceId);
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

/**
 * The watch stream an edge agent subscribes to (/api/v1/watch). Same framing as replication, but
 * scoped and read-only: the server sends the list of documents the caller may see and their
 * content; updates the agent sends are dropped (agents write through the HTTP API); it answers
 * the agent's SyncStep1 with SyncStep2, and then streams updates.
 * The scope is recomputed when documents appear (a new pool the device may use, a new ISP) and
 * when the device's own record changes.
 */
import type { WebSocket, RawData } from 'ws';
import type { Principal } from './auth.js';
import type { Logger } from './logger.js';
import { decodeFrame, encodeHello, encodePing, encodeScope, encodeUpdate, MessageTypes, readSyncMessage, stateFrames } from './protocol.js';
import type { Store } from './store.js';

export interface Watchers {
  attach(ws: WebSocket, principal: Principal): void;
  count(): number;
  close(): void;
}

interface Watcher {
  ws: WebSocket;
  principal: Principal;
  docs: Set<string>;
  /** Documents to send (what the agent lacks of them), oldest first; see pump(). */
  queue: Array<{ name: string; stateVector?: Uint8Array | undefined; next?: () => Uint8Array | undefined }>;
  sending: boolean;
  frameBuffer: { bytes?: Uint8Array<ArrayBuffer> };
}

const PART_BYTES = 256 * 1024;

export function createWatchers(config: { nodeId: string }, deps: { store: Store; log: Logger; scope: (p: Principal) => string[] }): Watchers {
  const { store } = deps;
  const log = deps.log.child({ component: 'watch' });
  const watchers = new Set<Watcher>();

  const send = (w: Watcher, data: Uint8Array) => { if (w.ws.readyState === 1) w.ws.send(data); };

  /**
   * Documents go out in parts (stateFrames), the next part encoded once the previous one is in the
   * socket, as to a peer: a device in scope of two 100,000-subscriber pools is not sent 10 MB at
   * once, per device. A document that left the scope meanwhile is not sent further.
   */
  const pump = (w: Watcher) => {
    while (!w.sending && w.ws.readyState === 1) {
      const head = w.queue[0];
      if (!head) { w.frameBuffer.bytes = undefined; return; }
      const doc = w.docs.has(head.name) ? store.get(head.name) : undefined;
      if (!doc) { w.queue.shift(); continue; }
      head.next ??= stateFrames(head.name, doc, head.stateVector, PART_BYTES, w.frameBuffer);
      const frame = head.next();
      if (!frame) { w.queue.shift(); continue; }
      w.sending = true;
      w.ws.send(frame, () => { w.sending = false; pump(w); });
    }
  };
  /** Queue a document for the agent; its state vector, when it sends one, narrows an answer not yet started. */
  const enqueue = (w: Watcher, name: string, stateVector?: Uint8Array) => {
    const waiting = w.queue.find((q) => q.name === name && q.next === undefined);
    if (waiting) { if (stateVector) waiting.stateVector = stateVector; } else w.queue.push({ name, stateVector });
    pump(w);
  };

  const rescope = (w: Watcher) => {
    const next = deps.scope(w.principal);
    const added = next.filter((n) => !w.docs.has(n));
    const removed = [...w.docs].filter((n) => !next.includes(n));
    if (added.length === 0 && removed.length === 0) return;
    w.docs = new Set(next);
    send(w, encodeScope(next));
    // Whole new documents: the agent has nothing of them yet.
    for (const name of added) enqueue(w, name);
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

  store.onDoc(() => scheduleRescope());
  store.onUpdate((name, update) => {
    if (watchers.size === 0) return;
    for (const w of watchers) if (w.docs.has(name)) send(w, encodeUpdate(name, update));
    if (name.startsWith('device:')) scheduleRescope(name.slice('device:'.length));
  });

  return {
    attach(ws, principal) {
      const w: Watcher = { ws, principal, docs: new Set(deps.scope(principal)), queue: [], sending: false, frameBuffer: {} };
      watchers.add(w);
      send(w, encodeHello(config.nodeId));
      send(w, encodeScope([...w.docs].sort()));
      for (const name of [...w.docs].sort()) enqueue(w, name);
      ws.on('message', (data: RawData) => {
        try {
          const buf = data instanceof Buffer ? data : Buffer.concat(data as Buffer[]);
          const msg = decodeFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
          if (msg.type === 'sync') {
            const doc = w.docs.has(msg.doc) ? store.get(msg.doc) : undefined;
            if (!doc) return; // out of scope: say nothing, not even that it exists
            // Read-only: answer a state vector with what the agent lacks; ignore its updates.
            const sync = readSyncMessage(msg.decoder);
            if (sync.kind === 'step1') enqueue(w, msg.doc, sync.stateVector.slice());
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

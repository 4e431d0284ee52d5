/**
 * Client side of the watch stream, for edge agents: connects to /api/v1/watch with the device's
 * credential, keeps a local Y.Doc per document in scope, and reconnects with state vectors so a
 * reconnect after a partition transfers only what changed. Read-only by design (see watch.ts).
 */
import { WebSocket, type RawData } from 'ws';
import * as Y from 'yjs';
import { decodeFrame, encodeStep1, handleSync } from './protocol.js';

export interface WatchClientOptions {
  /** ws://host:port or wss://host:port (the Nexus API address). */
  url: string;
  token: string;
  reconnectMs?: number;
  /** Extra TLS options for wss (ca, cert, key). */
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
}

export interface WatchClient {
  readonly docs: ReadonlyMap<string, Y.Doc>;
  scope(): readonly string[];
  connected(): boolean;
  /** Called after any document changed from the stream. */
  onChange(cb: (doc: string) => void): void;
  close(): void;
}

export function createWatchClient(opts: WatchClientOptions): WatchClient {
  const docs = new Map<string, Y.Doc>();
  const listeners: Array<(doc: string) => void> = [];
  let scope: string[] = [];
  let ws: WebSocket | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const ORIGIN = Symbol('watch');

  const docFor = (name: string) => {
    let d = docs.get(name);
    if (!d) {
      d = new Y.Doc();
      docs.set(name, d);
      d.on('update', (_u: Uint8Array, origin: unknown) => { if (origin === ORIGIN) for (const cb of listeners) cb(name); });
    }
    return d;
  };

  const connect = () => {
    if (closed) return;
    // An empty token means "authenticate with the client certificate in opts.tls" (mTLS).
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const sock = new WebSocket(`${opts.url.replace(/\/$/, '')}/api/v1/watch`, { headers, ...(opts.tls ?? {}) });
    ws = sock;
    sock.on('open', () => {
      // Our state vector per known document: the server sends only what we lack.
      for (const [name, d] of docs) sock.send(encodeStep1(name, d));
    });
    sock.on('message', (data: RawData) => {
      const buf = data instanceof Buffer ? data : Buffer.concat(data as Buffer[]);
      const msg = decodeFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      if (msg.type === 'scope') {
        scope = msg.docs;
        for (const name of [...docs.keys()]) if (!scope.includes(name)) docs.delete(name);
      } else if (msg.type === 'sync') {
        const known = docs.has(msg.doc);
        const d = docFor(msg.doc);
        const reply = handleSync(msg.doc, msg.decoder, d, ORIGIN);
        if (reply) sock.send(reply);
        if (!known) sock.send(encodeStep1(msg.doc, d));
      }
    });
    sock.on('close', () => { ws = undefined; if (!closed) timer = setTimeout(connect, opts.reconnectMs ?? 1000); });
    sock.on('error', () => undefined);
  };
  connect();

  return {
    docs,
    scope: () => scope,
    connected: () => ws?.readyState === WebSocket.OPEN,
    onChange(cb) { listeners.push(cb); },
    close() { closed = true; if (timer) clearTimeout(timer); ws?.terminate(); },
  };
}

/**
 * The replicated state: a set of Yjs documents, sharded so that an edge agent syncs only what it
 * owns (DESIGN.md §4). Document names:
 *   auth             credential hashes (replicated between Nexus peers only, never to devices)
 *   events           conflict and churn events
 *   netco:<id>       one NetCo           map rec
 *   ispco:<id>       one ISP             map rec (RADIUS, realm, pools, QoS templates)
 *   device:<id>      one OLT             map rec (device), phys/svc (its subscribers), disc (ONTs)
 *   pool:<id>        one pool            map def, alloc (subscriber -> unit), quar, resv
 * Every update, local or from a peer, is appended to the local log before anything else sees it.
 */
import { createHash } from 'node:crypto';
import * as Y from 'yjs';
import type { Logger } from './logger.js';
import { createPersistence, type PersistenceConfig } from './persistence.js';

export const DocPrefixes = { netco: 'netco:', ispco: 'ispco:', device: 'device:', pool: 'pool:' } as const;
export const AUTH_DOC = 'auth';
export const EVENTS_DOC = 'events';
const DOC_NAME = /^(auth|events|(netco|ispco|device|pool):[A-Za-z0-9][A-Za-z0-9._:-]{0,127})$/;

/** Origin of updates replayed from disk: they are already in the log. */
export const LOAD_ORIGIN = Symbol('load');

export function isValidDocName(name: string): boolean { return DOC_NAME.test(name); }

export interface Store {
  doc(name: string): Y.Doc;
  get(name: string): Y.Doc | undefined;
  names(): string[];
  /** Called once for every document, existing ones at registration time included. */
  onDoc(cb: (name: string, doc: Y.Doc) => void): void;
  flush(): Promise<void>;
  /** Digest of the documents' content: equal on two replicas iff they hold the same state. */
  contentHash(): string;
  /**
   * Digest of what each document has integrated (state vector + delete set). Equal on two
   * replicas iff they merged the same updates, which for a CRDT means the same content; far
   * cheaper than contentHash() on large documents.
   */
  stateDigest(): string;
  compact(): void;
  close(): void;
}

export function createStore(config: PersistenceConfig, deps: { log: Logger }): Store {
  const log = deps.log.child({ component: 'store' });
  const persistence = createPersistence(config, { log });
  const docs = new Map<string, Y.Doc>();
  /** Per-document snapshot encodings, dropped when the document changes (digests are polled). */
  const snapshots = new Map<string, Uint8Array>();
  const listeners: Array<(name: string, doc: Y.Doc) => void> = [];
  let compactScheduled = false;
  let closed = false;

  const scheduleCompaction = () => {
    if (compactScheduled || persistence.logBytes() < config.compactBytes) return;
    compactScheduled = true;
    setImmediate(() => {
      compactScheduled = false;
      if (!closed) store.compact();
    });
  };

  const open = (name: string): Y.Doc => {
    const doc = new Y.Doc({ gc: true });
    // Declare the array before any remote update can arrive, so it is never mistaken for a map.
    if (name === EVENTS_DOC) doc.getArray('list');
    docs.set(name, doc);
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      snapshots.delete(name);
      if (origin === LOAD_ORIGIN || closed) return;
      persistence.append(name, update);
      scheduleCompaction();
    });
    for (const cb of listeners) cb(name, doc);
    return doc;
  };

  const store: Store = {
    doc(name) {
      const existing = docs.get(name);
      if (existing) return existing;
      if (!isValidDocName(name)) throw new Error(`invalid document name ${name}`);
      const doc = open(name);
      // Persist the document's existence even before its first change, so a restart lists it.
      persistence.append(name, Y.encodeStateAsUpdate(doc));
      return doc;
    },
    get: (name) => docs.get(name),
    names: () => [...docs.keys()],
    onDoc(cb) {
      listeners.push(cb);
      for (const [name, doc] of docs) cb(name, doc);
    },
    flush: () => persistence.flush(),
    contentHash() {
      const h = createHash('sha256');
      for (const name of [...docs.keys()].sort()) {
        const doc = docs.get(name)!;
        h.update(name);
        for (const key of [...doc.share.keys()].sort()) {
          // The events list is the only array; every other shared type is a map.
          const value = name === EVENTS_DOC && key === 'list' ? doc.getArray(key).toJSON() : doc.getMap(key).toJSON();
          // An empty type exists only where some code looked it up: it is not state.
          if ((Array.isArray(value) ? value.length : Object.keys(value).length) === 0) continue;
          h.update(key);
          h.update(canonicalJson(value));
        }
      }
      return h.digest('hex');
    },
    stateDigest() {
      const h = createHash('sha256');
      for (const name of [...docs.keys()].sort()) {
        let snap = snapshots.get(name);
        if (!snap) snapshots.set(name, (snap = Y.encodeSnapshot(Y.snapshot(docs.get(name)!))));
        h.update(name);
        h.update(snap);
      }
      return h.digest('hex');
    },
    compact() {
      const state = [...docs].map(([doc, d]) => ({ doc, update: Y.encodeStateAsUpdate(d) }));
      persistence.compact(state);
    },
    close() {
      closed = true;
      persistence.close();
    },
  };

  const t0 = Date.now();
  const records = persistence.load();
  const byDoc = new Map<string, Uint8Array[]>();
  for (const r of records) {
    if (!isValidDocName(r.doc)) continue;
    let list = byDoc.get(r.doc);
    if (!list) byDoc.set(r.doc, (list = []));
    list.push(r.update);
  }
  for (const [name, updates] of byDoc) {
    const doc = open(name);
    // Merging first makes one integration pass instead of one per logged update.
    Y.applyUpdate(doc, updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates), LOAD_ORIGIN);
  }
  log.info({ docs: docs.size, records: records.length, ms: Date.now() - t0 }, 'state loaded from disk');
  return store;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  const keys = Object.keys(value as Record<string, unknown>).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

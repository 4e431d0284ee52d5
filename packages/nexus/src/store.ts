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
import { createHash, randomInt } from 'node:crypto';
import * as Y from 'yjs';
import type { Logger } from './logger.js';
import { createPersistence, type PersistenceConfig } from './persistence.js';
import { stateUpdates } from './protocol.js';

export const DocPrefixes = { netco: 'netco:', ispco: 'ispco:', device: 'device:', pool: 'pool:' } as const;
export const AUTH_DOC = 'auth';
export const EVENTS_DOC = 'events';
const DOC_NAME = /^(auth|events|(netco|ispco|device|pool):[A-Za-z0-9][A-Za-z0-9._:-]{0,127})$/;

/** Origin of updates replayed from disk: they are already in the log. */
export const LOAD_ORIGIN = Symbol('load');

export function isValidDocName(name: string): boolean { return DOC_NAME.test(name); }

/** Called for every change to a document (local or merged from a peer), not for replay from disk. */
export type UpdateListener = (name: string, update: Uint8Array, origin: unknown) => void;

export interface Store {
  doc(name: string): Y.Doc;
  get(name: string): Y.Doc | undefined;
  names(): string[];
  /** Called once for every document, existing ones at registration time included. */
  onDoc(cb: (name: string, doc: Y.Doc) => void): void;
  /** Every change as a Yjs update, after it was appended to the log. */
  onUpdate(cb: UpdateListener): void;
  /**
   * Merge an update received from a peer. When it integrates completely (nothing was or stays
   * pending), the received bytes themselves are logged and passed on, instead of letting Yjs encode
   * the same change again (a full sync is tens of megabytes); an update that changes nothing is
   * neither logged nor passed on, so relaying cannot loop.
   */
  applyRemote(name: string, update: Uint8Array, origin: unknown): void;
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

const SNAPSHOT_PART_BYTES = 256 * 1024;
const LOAD_BATCH_BYTES = 1024 * 1024;

export function createStore(config: PersistenceConfig, deps: { log: Logger }): Store {
  const log = deps.log.child({ component: 'store' });
  const persistence = createPersistence(config, { log });
  const docs = new Map<string, Y.Doc>();
  /** Per-document snapshot encodings, dropped when the document changes (digests are polled). */
  const snapshots = new Map<string, Uint8Array>();
  const listeners: Array<(name: string, doc: Y.Doc) => void> = [];
  const updateListeners: UpdateListener[] = [];
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

  const changed = (name: string, update: Uint8Array, origin: unknown) => {
    snapshots.delete(name);
    if (origin === LOAD_ORIGIN || closed) return;
    persistence.append(name, update);
    scheduleCompaction();
    for (const cb of updateListeners) cb(name, update, origin);
  };
  const onYjsUpdate = new Map<string, (update: Uint8Array, origin: unknown) => void>();

  const open = (name: string): Y.Doc => {
    const doc = new Y.Doc({ gc: true });
    // A client id below 2^31, and a small integer (`| 0`) rather than a double of the same value:
    // V8 then keeps every item's ID.client inline. One double-valued client id anywhere (Yjs draws
    // from 2^32; randomInt returns doubles) turns the field into a boxed double for every ID in the
    // process: 16 bytes more per item, ~6 MB at 100,000 subscribers. Still random per document
    // and session, as Yjs requires.
    doc.clientID = randomInt(1, 0x7fffffff) | 0;
    // Declare the array before any remote update can arrive, so it is never mistaken for a map.
    if (name === EVENTS_DOC) doc.getArray('list');
    docs.set(name, doc);
    const handler = (update: Uint8Array, origin: unknown) => changed(name, update, origin);
    onYjsUpdate.set(name, handler);
    doc.on('update', handler);
    doc.on('afterTransaction', (tr: Y.Transaction) => { if (!tr.local) compactDecoded(doc, tr); });
    for (const cb of listeners) cb(name, doc);
    return doc;
  };

  const clean = (doc: Y.Doc) => doc.store.pendingStructs === null && doc.store.pendingDs === null;
  /** Whether a transaction integrated anything (what Yjs checks before emitting 'update'). */
  const changes = (tr: Y.Transaction) => tr.deleteSet.clients.size > 0 || [...tr.afterState].some(([client, clock]) => tr.beforeState.get(client) !== clock);

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
    onUpdate(cb) { updateListeners.push(cb); },
    applyRemote(name, update, origin) {
      const doc = store.doc(name);
      // Something pending could be completed by this update, and then the update alone would not
      // describe the change: let Yjs encode it.
      if (!clean(doc)) { Y.applyUpdate(doc, update, origin); return; }
      const handler = onYjsUpdate.get(name)!;
      let applied: Y.Transaction | undefined;
      const nested: Y.Transaction[] = [];
      const seen = (tr: Y.Transaction) => { if (applied === undefined && !tr.local && tr.origin === origin) applied = tr; else nested.push(tr); };
      let failure: unknown;
      // Without an 'update' listener Yjs does not encode the change it just integrated.
      doc.off('update', handler);
      doc.on('afterTransactionCleanup', seen);
      try {
        Y.applyUpdate(doc, update, origin);
      } catch (e) {
        failure = e;
      } finally {
        doc.off('afterTransactionCleanup', seen);
        doc.on('update', handler);
      }
      const since = (tr: Y.Transaction) => Y.encodeStateAsUpdate(doc, Y.encodeStateVector(tr.beforeState));
      if (applied && changes(applied)) {
        // A failure part-way (a broken update, a throwing observer): log what did merge, encoded
        // from the document. Otherwise the received bytes are the change.
        changed(name, failure === undefined ? update : since(applied), origin);
      } else if (failure === undefined && !clean(doc)) {
        // Structs still missing a dependency stay pending in memory only: log the update holding them.
        changed(name, update, origin);
      }
      // A write made by an observer while the update was merged (none of ours does): encoded from
      // its starting state (with the whole delete set: more bytes, same result).
      for (const t of nested) if (changes(t)) changed(name, since(t), t.origin);
      if (failure !== undefined) throw failure;
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
      // Each document in parts of ~256 KB (in an order that integrates part by part), written as
      // they are produced into one reused buffer: the snapshot never exists whole in memory, and
      // loading it later merges a part at a time.
      const buffer = {};
      function* state() {
        for (const [doc, d] of docs) {
          const next = stateUpdates(d, SNAPSHOT_PART_BYTES, buffer);
          for (let update = next(); update; update = next()) yield { doc, update };
        }
      }
      persistence.compact(state());
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
    // Records are merged into one integration pass per ~1 MB (many small logged updates become
    // one transaction; a large document is not integrated in one huge transaction whose garbage
    // would be promoted to V8's old space).
    let batch: Uint8Array[] = [];
    let bytes = 0;
    const apply = () => {
      if (batch.length > 0) Y.applyUpdate(doc, batch.length === 1 ? batch[0]! : Y.mergeUpdates(batch), LOAD_ORIGIN);
      batch = [];
      bytes = 0;
    };
    for (const u of updates) {
      if (bytes > 0 && bytes + u.length > LOAD_BATCH_BYTES) apply();
      batch.push(u);
      bytes += u.length;
    }
    apply();
  }
  log.info({ docs: docs.size, records: records.length, ms: Date.now() - t0 }, 'state loaded from disk');
  return store;
}

/**
 * Yjs decodes a map value into an array grown by push() (ContentAny.arr): room for 17 values, 152
 * bytes, for the one it holds. Every value merged from a peer or loaded from disk is decoded, so
 * a replica that synced 100,000 subscribers carried ~50 MB of empty array slots. Give each newly
 * integrated value an exact-size copy (same contents; Yjs only reads the array).
 */
function compactDecoded(doc: Y.Doc, tr: Y.Transaction): void {
  for (const [client, after] of tr.afterState) {
    const before = tr.beforeState.get(client) ?? 0;
    if (after <= before) continue;
    const structs = doc.store.clients.get(client);
    if (!structs) continue;
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const s = structs[i];
      if (s instanceof Y.Item && s.content instanceof Y.ContentAny) s.content.arr = s.content.arr.slice();
    }
  }
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  const keys = Object.keys(value as Record<string, unknown>).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

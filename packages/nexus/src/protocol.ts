/**
 * Wire format shared by peer replication (/replicate) and the edge watch stream (/api/v1/watch).
 * One WebSocket carries many documents, so every binary frame starts with a message type and,
 * for sync frames, the document name; the rest is a standard y-protocols sync message
 * (SyncStep1 = state vector, SyncStep2 = missing updates, Update).
 */
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';

export const MessageTypes = { hello: 0, sync: 1, ping: 2, pong: 3, scope: 4 } as const;

export function encodeHello(nodeId: string): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.hello);
  encoding.writeVarString(enc, nodeId);
  return encoding.toUint8Array(enc);
}

export function encodeStep1(name: string, doc: Y.Doc): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.sync);
  encoding.writeVarString(enc, name);
  syncProtocol.writeSyncStep1(enc, doc);
  return encoding.toUint8Array(enc);
}

export function encodeStep2(name: string, doc: Y.Doc, stateVector?: Uint8Array): Uint8Array {
  return withHeader(name, syncProtocol.messageYjsSyncStep2, Y.encodeStateAsUpdate(doc, stateVector));
}

export function encodeUpdate(name: string, update: Uint8Array): Uint8Array {
  return withHeader(name, syncProtocol.messageYjsUpdate, update);
}

/**
 * [sync][name][kind][length] followed by the update, copied once: a full document can be several
 * megabytes, and writing it through a lib0 encoder would copy it twice more.
 */
function withHeader(name: string, kind: number, update: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.sync);
  encoding.writeVarString(enc, name);
  encoding.writeVarUint(enc, kind);
  encoding.writeVarUint(enc, update.length);
  const head = encoding.toUint8Array(enc);
  const out = new Uint8Array(head.length + update.length);
  out.set(head, 0);
  out.set(update, head.length);
  return out;
}

export function encodePing(type: typeof MessageTypes.ping | typeof MessageTypes.pong, ts: number): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, type);
  encoding.writeFloat64(enc, ts);
  return encoding.toUint8Array(enc);
}

/** Sent on the watch stream: the documents this client may see (sorted). */
export function encodeScope(names: readonly string[]): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.scope);
  encoding.writeVarUint(enc, names.length);
  for (const n of names) encoding.writeVarString(enc, n);
  return encoding.toUint8Array(enc);
}

export type Decoded =
  | { type: 'hello'; nodeId: string }
  | { type: 'sync'; doc: string; decoder: decoding.Decoder }
  | { type: 'ping' | 'pong'; ts: number }
  | { type: 'scope'; docs: string[] };

export function decodeFrame(data: Uint8Array): Decoded {
  const dec = decoding.createDecoder(data);
  const type = decoding.readVarUint(dec);
  switch (type) {
    case MessageTypes.hello: return { type: 'hello', nodeId: decoding.readVarString(dec) };
    case MessageTypes.sync: return { type: 'sync', doc: decoding.readVarString(dec), decoder: dec };
    case MessageTypes.ping: return { type: 'ping', ts: decoding.readFloat64(dec) };
    case MessageTypes.pong: return { type: 'pong', ts: decoding.readFloat64(dec) };
    case MessageTypes.scope: {
      const n = decoding.readVarUint(dec);
      const docs: string[] = [];
      for (let i = 0; i < n; i++) docs.push(decoding.readVarString(dec));
      return { type: 'scope', docs };
    }
    default: throw new Error(`unknown message type ${type}`);
  }
}

/** The body of a sync frame: a state vector (SyncStep1) or an update (SyncStep2, Update). */
export type SyncMessage = { kind: 'step1'; stateVector: Uint8Array } | { kind: 'update'; update: Uint8Array };

export function readSyncMessage(decoder: decoding.Decoder): SyncMessage {
  const kind = decoding.readVarUint(decoder);
  switch (kind) {
    case syncProtocol.messageYjsSyncStep1: return { kind: 'step1', stateVector: decoding.readVarUint8Array(decoder) };
    case syncProtocol.messageYjsSyncStep2:
    case syncProtocol.messageYjsUpdate: return { kind: 'update', update: decoding.readVarUint8Array(decoder) };
    default: throw new Error(`unknown sync message ${kind}`);
  }
}

/**
 * Apply one sync frame to `doc`. Returns the reply to send (SyncStep2 for a SyncStep1), if any.
 * `readOnly` drops incoming updates: edge watchers read, they write through the HTTP API.
 */
export function handleSync(name: string, decoder: decoding.Decoder, doc: Y.Doc, origin: unknown, readOnly = false): Uint8Array | undefined {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.sync);
  encoding.writeVarString(enc, name);
  const headerLength = encoding.length(enc);
  if (readOnly) {
    const kind = decoding.readVarUint(decoder);
    if (kind !== syncProtocol.messageYjsSyncStep1) return undefined;
    syncProtocol.readSyncStep1(decoder, enc, doc);
  } else {
    syncProtocol.readSyncMessage(decoder, enc, doc, origin);
  }
  return encoding.length(enc) > headerLength ? encoding.toUint8Array(enc) : undefined;
}

/**
 * What a peer lacks of a document (everything after `stateVector`), as SyncStep2 frames of about
 * `maxBytes` each, produced one at a time from the document as it is when asked, then a last frame
 * with its delete set. Same result as one SyncStep2 (encodeStep2): Yjs merges updates in any order.
 *
 * Why: a full sync of 100,000 subscribers is ~40 MB of updates. As one message per document, the
 * sender held every encoding at once and the receiver merged each pool's 100,000 entries in one
 * transaction, whose garbage lived long enough to be promoted into V8's old space. Here structs
 * come in an order in which every struct's dependencies on other clients precede it, so each part
 * integrates completely (nothing pending) in a transaction of a few thousand items.
 *
 * Each frame is written into one reusable buffer: a returned frame is valid until the next call
 * (the caller sends it and waits for the socket before asking for the next one), so a sync does
 * not leave tens of megabytes of freed buffers behind in malloc. Counts and lengths that are only
 * known at the end are written as 5-byte variable-length integers (continuation bits set on
 * leading zero groups), which every LEB128 reader, lib0's included, decodes to the same value.
 */
export function stateFrames(
  name: string, doc: Y.Doc, stateVector: Uint8Array | undefined, maxBytes: number,
  /** Where the reusable buffer lives: share one between the documents sent over one connection. */
  buffer: { bytes?: Uint8Array<ArrayBuffer> } = {},
): () => Uint8Array | undefined {
  return stateParts(doc, stateVector, maxBytes, buffer, name);
}

/**
 * The updates stateFrames() frames, without the frame (for the snapshot file): each is valid until
 * the next call.
 */
export function stateUpdates(doc: Y.Doc, maxBytes: number, buffer: { bytes?: Uint8Array<ArrayBuffer> } = {}): () => Uint8Array | undefined {
  return stateParts(doc, undefined, maxBytes, buffer, undefined);
}

function stateParts(
  doc: Y.Doc, stateVector: Uint8Array | undefined, maxBytes: number, buffer: { bytes?: Uint8Array<ArrayBuffer> }, name: string | undefined,
): () => Uint8Array | undefined {
  const frame = (update: Uint8Array) => (name === undefined ? update : withHeader(name, syncProtocol.messageYjsSyncStep2, update));
  const known = stateVector ? Y.decodeStateVector(stateVector) : new Map<number, number>();
  /** Next clock to send per client; a client absent here has nothing the receiver lacks. */
  const next = new Map<number, number>();
  for (const [client, structs] of doc.store.clients) {
    const last = structs[structs.length - 1];
    const from = known.get(client) ?? 0;
    if (last && last.id.clock + last.length > from) next.set(client, from);
  }
  let deletesSent = false;
  const structEncoder = new Y.UpdateEncoderV1();
  const sentBelow = (id: Y.ID) => !next.has(id.client) || id.clock < next.get(id.client)!;
  const ready = (s: Y.Item | Y.GC, offset: number): boolean => {
    if (!(s instanceof Y.Item)) return true;
    if (offset === 0 && s.origin !== null && !sentBelow(s.origin)) return false;
    if (s.rightOrigin !== null && !sentBelow(s.rightOrigin)) return false;
    if (s.origin === null && s.rightOrigin === null) {
      const parentItem = (s.parent as Y.AbstractType<unknown> | null)?._item;
      if (parentItem && !sentBelow(parentItem.id)) return false;
    }
    return true;
  };
  return () => {
    if (next.size === 0) {
      if (deletesSent) return undefined;
      deletesSent = true;
      // Structs all sent: the delete set (an update without structs).
      return frame(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)));
    }
    if (!buffer.bytes || buffer.bytes.length < maxBytes) buffer.bytes = new Uint8Array(maxBytes + 64 * 1024);
    const scratch = buffer.bytes;
    const enc = encoding.createEncoder();
    enc.cbuf = scratch;
    enc.cpos = 0;
    structEncoder.restEncoder = enc;
    let lengthAt = -1;
    if (name !== undefined) {
      encoding.writeVarUint(enc, MessageTypes.sync);
      encoding.writeVarString(enc, name);
      encoding.writeVarUint(enc, syncProtocol.messageYjsSyncStep2);
      lengthAt = reserve(enc);
    }
    const updateStart = encoding.length(enc);
    const runsAt = reserve(enc);
    const runs: Array<{ at: number; count: number }> = [];
    // One run per client per frame (an update lists each client once); higher client ids first,
    // as Yjs writes them. A client blocked on another's struct resumes in the next frame.
    for (const client of [...next.keys()].sort((a, b) => b - a)) {
      const structs = doc.store.clients.get(client)!;
      let clock = next.get(client)!;
      let run: { at: number; count: number } | undefined;
      for (let i = Y.findIndexSS(structs, clock); i < structs.length && encoding.length(enc) - updateStart < maxBytes; i++) {
        const s = structs[i]!;
        const offset = clock - s.id.clock;
        if (!ready(s, offset)) break;
        if (!run) {
          runs.push((run = { at: reserve(enc), count: 0 }));
          encoding.writeVarUint(enc, client);
          encoding.writeVarUint(enc, clock);
        }
        s.write(structEncoder, offset);
        run.count++;
        clock = s.id.clock + s.length;
        next.set(client, clock);
      }
      const last = structs[structs.length - 1]!;
      if (clock >= last.id.clock + last.length) next.delete(client);
      if (encoding.length(enc) - updateStart >= maxBytes) break;
    }
    if (runs.length === 0) {
      // Nothing could go first (cannot happen for a causally built document): the rest in one piece.
      const sent = new Map<number, number>();
      for (const [client, structs] of doc.store.clients) {
        const last = structs[structs.length - 1]!;
        sent.set(client, next.get(client) ?? last.id.clock + last.length);
      }
      next.clear();
      deletesSent = true;
      return frame(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(sent)));
    }
    encoding.writeVarUint(enc, 0); // no deletions in this part
    const total = encoding.length(enc);
    let out: Uint8Array;
    if (enc.bufs.length === 0) {
      out = scratch.subarray(0, total);
    } else {
      // A struct larger than the buffer: this frame is copied out, the next one gets more room.
      out = encoding.toUint8Array(enc);
      buffer.bytes = new Uint8Array(out.length + 64 * 1024);
    }
    if (lengthAt >= 0) patch(out, lengthAt, total - updateStart);
    patch(out, runsAt, runs.length);
    for (const r of runs) patch(out, r.at, r.count);
    return out;
  };
}

const PADDED = 5;
const reserve = (enc: encoding.Encoder): number => {
  const at = encoding.length(enc);
  for (let i = 0; i < PADDED; i++) encoding.writeUint8(enc, 0);
  return at;
};
/** A variable-length unsigned integer in exactly 5 bytes (values below 2^35). */
const patch = (buf: Uint8Array, at: number, value: number) => {
  for (let i = 0; i < PADDED - 1; i++) { buf[at + i] = (value % 128) | 0x80; value = Math.floor(value / 128); }
  buf[at + PADDED - 1] = value;
};

/**
 * Wire format shared by peer replication (/replicate) and the edge watch stream (/api/v1/watch).
 * One WebSocket carries many documents, so every binary frame starts with a message type and,
 * for sync frames, the document name; the rest is a standard y-protocols sync message
 * (SyncStep1 = state vector, SyncStep2 = missing updates, Update).
 */
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import type * as Y from 'yjs';

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
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.sync);
  encoding.writeVarString(enc, name);
  syncProtocol.writeSyncStep2(enc, doc, stateVector);
  return encoding.toUint8Array(enc);
}

export function encodeUpdate(name: string, update: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, MessageTypes.sync);
  encoding.writeVarString(enc, name);
  syncProtocol.writeUpdate(enc, update);
  return encoding.toUint8Array(enc);
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

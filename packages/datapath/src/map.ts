// Typed maps over the generated ABI: keys and values are plain objects (structs), numbers
// (u32 keys) or bigints (u64 values).
import { BngError } from '@bng/api';
import { maps as abiMaps, type MapName, type StructName, structs } from './generated/abi.js';
import { native, wrapNative } from './native.js';
import { decodeStruct, encodeStruct, type StructValue } from './struct.js';

export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;
const PERCPU_TYPES = new Set(['percpu_array', 'percpu_hash', 'lru_percpu_hash']);

function isStruct(name: string | null): name is StructName {
  return name !== null && name in structs;
}

export class BpfMap<K, V> {
  readonly name: MapName;
  readonly fd: number;
  readonly keySize: number;
  readonly valueSize: number;
  private readonly keyType: string | null;
  private readonly valueType: string | null;
  private readonly percpu: boolean;
  private readonly cpus: number;

  private constructor(name: MapName, fd: number) {
    const want = abiMaps[name];
    const info = native().mapInfo(fd);
    // The kernel's word on the map's shape against what this build was generated from.
    if (info.keySize !== want.keySize || info.valueSize !== want.valueSize) {
      native().closeFd(fd);
      throw new BngError(
        'BNG_ERR_ABI_MISMATCH',
        `map ${name}: kernel says key/value ${info.keySize}/${info.valueSize} bytes, this build expects ${want.keySize}/${want.valueSize}`,
        { map: name },
      );
    }
    this.name = name;
    this.fd = fd;
    this.keySize = want.keySize;
    this.valueSize = want.valueSize;
    this.keyType = want.key;
    this.valueType = want.value;
    this.percpu = PERCPU_TYPES.has(want.type);
    this.cpus = this.percpu ? native().numPossibleCpus() : 1;
  }

  static fromFd<K, V>(name: MapName, fd: number): BpfMap<K, V> {
    return new BpfMap<K, V>(name, fd);
  }

  /** Opens a map pinned in bpffs and checks its shape. */
  static fromPin<K, V>(name: MapName, path: string): BpfMap<K, V> {
    return new BpfMap<K, V>(name, wrapNative(() => native().objGet(path)));
  }

  encodeKey(k: K): Buffer {
    if (isStruct(this.keyType)) return encodeStruct(this.keyType, k as StructValue);
    const b = Buffer.alloc(this.keySize);
    if (this.keySize === 4) b.writeUInt32LE(Number(k));
    else if (this.keySize === 8) b.writeBigUInt64LE(BigInt(k as unknown as bigint));
    else throw new BngError('BNG_ERR_ENCODE', `map ${this.name}: cannot encode key`);
    return b;
  }

  decodeKey(b: Buffer): K {
    if (isStruct(this.keyType)) return decodeStruct(this.keyType, b) as K;
    return (this.keySize === 4 ? b.readUInt32LE(0) : b.readBigUInt64LE(0)) as K;
  }

  encodeValue(v: V): Buffer {
    if (isStruct(this.valueType)) return encodeStruct(this.valueType, v as StructValue);
    const b = Buffer.alloc(this.valueSize);
    if (this.valueSize === 8) b.writeBigUInt64LE(BigInt(v as unknown as bigint));
    else if (this.valueSize === 4) b.writeUInt32LE(Number(v));
    else throw new BngError('BNG_ERR_ENCODE', `map ${this.name}: cannot encode value`);
    return b;
  }

  decodeValue(b: Buffer, at = 0): V {
    if (isStruct(this.valueType)) return decodeStruct(this.valueType, b, at) as V;
    return (this.valueSize === 8 ? b.readBigUInt64LE(at) : b.readUInt32LE(at)) as V;
  }

  private get rawValueSize(): number {
    // per-CPU values come as one 8-byte-aligned slot per possible CPU
    return this.percpu ? Math.ceil(this.valueSize / 8) * 8 * this.cpus : this.valueSize;
  }

  get(k: K): V | undefined {
    const raw = wrapNative(() => native().mapLookup(this.fd, this.encodeKey(k), this.rawValueSize));
    return raw ? this.decodeValue(raw) : undefined;
  }

  /** Per-CPU maps: one value per possible CPU. */
  getPerCpu(k: K): V[] {
    const raw = wrapNative(() => native().mapLookup(this.fd, this.encodeKey(k), this.rawValueSize));
    if (!raw) return [];
    const slot = Math.ceil(this.valueSize / 8) * 8;
    return Array.from({ length: this.cpus }, (_, i) => this.decodeValue(raw, i * slot));
  }

  set(k: K, v: V, flags: number = UpdateFlags.ANY): void {
    wrapNative(() => native().mapUpdate(this.fd, this.encodeKey(k), this.encodeValue(v), flags));
  }

  delete(k: K): boolean {
    return wrapNative(() => native().mapDelete(this.fd, this.encodeKey(k)));
  }

  /** Writes many entries with one BPF_MAP_UPDATE_BATCH call per chunk. */
  setMany(entries: Array<[K, V]>, chunk = 16384): number {
    let done = 0;
    for (let i = 0; i < entries.length; i += chunk) {
      const part = entries.slice(i, i + chunk);
      const keys = Buffer.alloc(part.length * this.keySize);
      const vals = Buffer.alloc(part.length * this.valueSize);
      const keyStruct = isStruct(this.keyType) ? this.keyType : undefined;
      const valueStruct = isStruct(this.valueType) ? this.valueType : undefined;
      part.forEach(([k, v], j) => {
        // structs are written in place: no per-entry buffers to allocate and copy
        if (keyStruct) encodeStruct(keyStruct, k as StructValue, keys, j * this.keySize);
        else this.encodeKey(k).copy(keys, j * this.keySize);
        if (valueStruct) encodeStruct(valueStruct, v as StructValue, vals, j * this.valueSize);
        else this.encodeValue(v).copy(vals, j * this.valueSize);
      });
      done += wrapNative(() => native().mapUpdateBatch(this.fd, keys, vals, part.length));
    }
    return done;
  }

  deleteMany(keys: K[]): number {
    if (keys.length === 0) return 0;
    const buf = Buffer.alloc(keys.length * this.keySize);
    keys.forEach((k, j) => this.encodeKey(k).copy(buf, j * this.keySize));
    return wrapNative(() => native().mapDeleteBatch(this.fd, buf, keys.length));
  }

  /** Iterates with BPF_MAP_LOOKUP_BATCH (hash maps), falling back to get_next_key. */
  *entries(): Generator<[K, V]> {
    if (!this.percpu) {
      let cursor: Buffer | null = null;
      let batched = true;
      try {
        for (;;) {
          const r = native().mapLookupBatch(this.fd, this.keySize, this.valueSize, 4096, cursor);
          for (let i = 0; i < r.count; i++) {
            yield [this.decodeKey(r.keys.subarray(i * this.keySize, (i + 1) * this.keySize)), this.decodeValue(r.values, i * this.valueSize)];
          }
          if (!r.cursor) return;
          cursor = r.cursor;
        }
      } catch (e) {
        if (cursor !== null) throw e;
        batched = false; // map type without batch support
      }
      if (batched) return;
    }
    let key: Buffer | null = null;
    for (;;) {
      const next: Buffer | null = native().mapGetNextKey(this.fd, key, this.keySize);
      if (!next) return;
      const raw = native().mapLookup(this.fd, next, this.rawValueSize);
      if (raw) yield [this.decodeKey(next), this.decodeValue(raw)];
      key = next;
    }
  }

  keys(): K[] {
    return [...this.entries()].map(([k]) => k);
  }

  pin(path: string): void {
    wrapNative(() => native().objPin(this.fd, path));
  }

  close(): void {
    native().closeFd(this.fd);
  }
}

// Encodes and decodes the structs of bpf/include/bng/abi.h using the layouts generated from BTF.
import { BngError } from '@bng/api';
import { structs, type StructName } from './generated/abi.js';

type FieldDef =
  | { offset: number; kind: string; size: number; struct?: string; count?: number; element?: { kind: string; size: number } };

export type StructValue = Record<string, unknown>;

function ipv4ToBytes(ip: string, field: string): number[] {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new BngError('BNG_ERR_ENCODE', `${field}: '${ip}' is not an IPv4 address`);
  return parts.map((p) => {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) throw new BngError('BNG_ERR_ENCODE', `${field}: '${ip}' is not an IPv4 address`);
    return n;
  });
}

function writeScalar(buf: Buffer, off: number, def: { kind: string; size: number }, v: unknown, field: string): void {
  switch (def.kind) {
    case 'u8': buf.writeUInt8(Number(v ?? 0), off); return;
    case 'u16': buf.writeUInt16LE(Number(v ?? 0), off); return;
    case 'u32': buf.writeUInt32LE(Number(v ?? 0) >>> 0, off); return;
    case 'u64': buf.writeBigUInt64LE(BigInt((v as bigint | number | undefined) ?? 0), off); return;
    case 'i32': buf.writeInt32LE(Number(v ?? 0), off); return;
    case 'i64': buf.writeBigInt64LE(BigInt((v as bigint | number | undefined) ?? 0), off); return;
    case 'be16': buf.writeUInt16BE(Number(v ?? 0), off); return;
    case 'ipv4': {
      const b = ipv4ToBytes(typeof v === 'string' ? v : '0.0.0.0', field);
      for (let i = 0; i < 4; i++) buf[off + i] = b[i]!;
      return;
    }
    default:
      throw new BngError('BNG_ERR_ENCODE', `${field}: unsupported field kind ${def.kind}`);
  }
}

function readScalar(buf: Buffer, off: number, def: { kind: string }): unknown {
  switch (def.kind) {
    case 'u8': return buf.readUInt8(off);
    case 'u16': return buf.readUInt16LE(off);
    case 'u32': return buf.readUInt32LE(off);
    case 'u64': return buf.readBigUInt64LE(off);
    case 'i32': return buf.readInt32LE(off);
    case 'i64': return buf.readBigInt64LE(off);
    case 'be16': return buf.readUInt16BE(off);
    case 'ipv4': return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
    default: throw new BngError('BNG_ERR_DECODE', `unsupported field kind ${def.kind}`);
  }
}

export function structSize(name: StructName): number {
  return structs[name].size;
}

/** Writes `value` into a new zeroed buffer of the struct's size. Missing fields are zero. */
const fieldLists = new Map<StructName, Array<[string, FieldDef]>>();
function fieldsOf(name: StructName): Array<[string, FieldDef]> {
  let f = fieldLists.get(name);
  if (!f) fieldLists.set(name, (f = Object.entries(structs[name].fields) as Array<[string, FieldDef]>));
  return f;
}

export function encodeStruct(name: StructName, value: StructValue, into?: Buffer, at = 0): Buffer {
  const layout = structs[name];
  const buf = into ?? Buffer.alloc(layout.size);
  for (const [fname, f] of fieldsOf(name)) {
    const v = value[fname];
    if (v === undefined) continue;
    const off = at + f.offset;
    const field = `${name}.${fname}`;
    if (f.kind === 'bytes') {
      const src = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v as Uint8Array);
      if (src.length > f.size) throw new BngError('BNG_ERR_ENCODE', `${field}: ${src.length} bytes do not fit in ${f.size}`);
      src.copy(buf, off);
    } else if (f.kind === 'struct') {
      encodeStruct(f.struct as StructName, v as StructValue, buf, off);
    } else if (f.kind === 'array') {
      const arr = v as unknown[];
      if (arr.length > f.count!) throw new BngError('BNG_ERR_ENCODE', `${field}: at most ${f.count} elements`);
      arr.forEach((el, i) => writeScalar(buf, off + i * f.element!.size, f.element!, el, `${field}[${i}]`));
    } else {
      writeScalar(buf, off, f, v, field);
    }
  }
  return buf;
}

export function decodeStruct(name: StructName, buf: Buffer, at = 0): StructValue {
  const layout = structs[name];
  if (buf.length < at + layout.size) {
    throw new BngError('BNG_ERR_DECODE', `${name}: need ${layout.size} bytes, have ${buf.length - at}`);
  }
  const out: StructValue = {};
  for (const [fname, f] of Object.entries(layout.fields) as Array<[string, FieldDef]>) {
    const off = at + f.offset;
    if (f.kind === 'bytes') out[fname] = Buffer.from(buf.subarray(off, off + f.size));
    else if (f.kind === 'struct') out[fname] = decodeStruct(f.struct as StructName, buf, off);
    else if (f.kind === 'array') {
      out[fname] = Array.from({ length: f.count! }, (_, i) => readScalar(buf, off + i * f.element!.size, f.element!));
    } else out[fname] = readScalar(buf, off, f);
  }
  return out;
}

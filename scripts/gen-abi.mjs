#!/usr/bin/env node
// Generates packages/datapath/src/generated/abi.ts from the BTF of the compiled eBPF objects,
// so the TypeScript side never restates a layout of bpf/include/bng/abi.h by hand.
//   node scripts/gen-abi.mjs --write OUT.ts OBJ.o [OBJ.o ...]
//   node scripts/gen-abi.mjs --check OUT.ts OBJ.o [OBJ.o ...]   (exit 1 when OUT.ts has drifted)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';

const [mode, out, ...objects] = process.argv.slice(2);
if (!['--write', '--check'].includes(mode) || !out || objects.length === 0) {
  console.error('usage: gen-abi.mjs --write|--check OUT.ts OBJ.o [OBJ.o ...]');
  process.exit(2);
}

const MAP_TYPES = { 1: 'hash', 2: 'array', 5: 'percpu_hash', 6: 'percpu_array', 9: 'lru_hash', 10: 'lru_percpu_hash', 11: 'lpm_trie', 27: 'ringbuf' };

const structs = new Map();
const enums = new Map();
const maps = new Map();

function load(obj) {
  const json = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', obj], { maxBuffer: 64 << 20 }).toString();
  const types = new Map();
  for (const t of JSON.parse(json).types) types.set(t.id, t);
  return types;
}

// Follows typedef/const/volatile, remembering the first typedef name (__be32 means an address).
function resolve(types, id) {
  let t = types.get(id);
  let typedef;
  while (t && ['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT'].includes(t.kind)) {
    if (t.kind === 'TYPEDEF' && !typedef) typedef = t.name;
    t = types.get(t.type_id);
  }
  return { t, typedef };
}

function sizeOf(types, id) {
  const { t } = resolve(types, id);
  if (t.kind === 'ARRAY') return t.nr_elems * sizeOf(types, t.type_id);
  return t.size;
}

function fieldKind(types, id) {
  const { t, typedef } = resolve(types, id);
  if (typedef === '__be32') return { kind: 'ipv4', size: 4 };
  if (typedef === '__be16') return { kind: 'be16', size: 2 };
  if (t.kind === 'INT') {
    const signed = t.encoding === 'SIGNED';
    if (t.size === 1 && t.encoding === 'CHAR') return { kind: 'u8', size: 1 };
    return { kind: `${signed ? 'i' : 'u'}${t.size * 8}`, size: t.size };
  }
  if (t.kind === 'ENUM') return { kind: `u${t.size * 8}`, size: t.size, enum: t.name };
  if (t.kind === 'STRUCT') return { kind: 'struct', size: t.size, struct: t.name };
  if (t.kind === 'ARRAY') {
    const el = fieldKind(types, t.type_id);
    if (el.size === 1 && el.kind !== 'struct') return { kind: 'bytes', size: t.nr_elems };
    return { kind: 'array', size: el.size * t.nr_elems, count: t.nr_elems, element: el };
  }
  throw new Error(`unsupported BTF kind ${t.kind} (type ${id})`);
}

function addStruct(types, t, obj) {
  if (!t.name || !t.name.startsWith('bng_')) return;
  const fields = {};
  for (const m of t.members) {
    if (m.bits_offset % 8) throw new Error(`${t.name}.${m.name}: bit fields are not part of the ABI`);
    fields[m.name] = { offset: m.bits_offset / 8, ...fieldKind(types, m.type_id) };
  }
  const def = { size: t.size, fields };
  const prev = structs.get(t.name);
  if (prev && JSON.stringify(prev.def) !== JSON.stringify(def))
    throw new Error(`struct ${t.name} differs between ${prev.obj} and ${obj}`);
  structs.set(t.name, { def, obj });
}

function mapDef(types, v) {
  const { t } = resolve(types, v.type_id);
  const def = {};
  for (const m of t.members) {
    const p = types.get(m.type_id); // every member is a pointer
    const target = types.get(p.type_id);
    if (m.name === 'type' || m.name === 'max_entries') {
      def[m.name] = target.nr_elems;
    } else if (m.name === 'key' || m.name === 'value') {
      const r = resolve(types, p.type_id);
      def[m.name] = r.t.name || r.typedef || r.t.kind.toLowerCase();
      def[`${m.name}Size`] = sizeOf(types, p.type_id);
    }
  }
  return {
    type: MAP_TYPES[def.type] ?? `type_${def.type}`,
    key: def.key ?? null,
    keySize: def.keySize ?? 0,
    value: def.value ?? null,
    valueSize: def.valueSize ?? 0,
    maxEntries: def.max_entries ?? 0,
  };
}

for (const obj of objects) {
  const types = load(obj);
  const mapVars = new Set();
  for (const t of types.values()) {
    if (t.kind === 'DATASEC' && t.name === '.maps') for (const v of t.vars) mapVars.add(v.type_id);
  }
  for (const t of types.values()) {
    if (t.kind === 'STRUCT') addStruct(types, t, obj);
    if (t.kind === 'ENUM' && t.name?.startsWith('bng_')) {
      enums.set(t.name, Object.fromEntries(t.values.map((v) => [v.name, v.val])));
    }
    if (t.kind === 'VAR' && mapVars.has(t.id)) {
      const def = mapDef(types, t);
      const prev = maps.get(t.name);
      if (prev && JSON.stringify(prev) !== JSON.stringify(def)) throw new Error(`map ${t.name} differs between objects`);
      maps.set(t.name, def);
    }
  }
}

const sorted = (m) => Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)));
const structOut = Object.fromEntries([...structs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.def]));
const srcs = objects.map((o) => relative(process.cwd(), o)).join(', ');
const text = `// GENERATED by scripts/gen-abi.mjs from the BTF of ${srcs}.
// Do not edit: change bpf/include/bng/abi.h and run \`make abi-gen\`. \`make\` fails when this drifts.

export const structs = ${JSON.stringify(structOut, null, 2)} as const;

export const enums = ${JSON.stringify(sorted(enums), null, 2)} as const;

export const maps = ${JSON.stringify(sorted(maps), null, 2)} as const;

export type StructName = keyof typeof structs;
export type MapName = keyof typeof maps;
`;

if (mode === '--write') {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.log(`gen-abi: wrote ${out}`);
} else {
  let cur = '';
  try { cur = readFileSync(out, 'utf8'); } catch { /* missing counts as drift */ }
  if (cur !== text) {
    console.error(`gen-abi: ${out} does not match the BTF of ${srcs}.`);
    console.error('abi.h changed without regenerating the TypeScript layouts: run `make abi-gen` and commit the result.');
    process.exit(1);
  }
  console.log(`gen-abi: ${out} matches ${srcs}`);
}

/**
 * One validated configuration schema. Sources layer defaults < file (YAML or JSON) < environment
 * (NEXUS_<PATH>, e.g. NEXUS_LISTEN_PORT, NEXUS_REPLICATION_PEERS=a,b) < command-line flags.
 * A bad value fails start-up with the field's path and the reason.
 */
import * as fs from 'node:fs';
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { BngError } from '@bng/api';

const TlsFiles = Type.Object({
  cert: Type.String({ minLength: 1, description: 'PEM certificate file' }),
  key: Type.String({ minLength: 1, description: 'PEM private key file' }),
  ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle: peers/clients are verified against it' })),
}, { additionalProperties: false });

export const NexusConfigSchema = Type.Object({
  node_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'stable allocator id; default: generated once and kept in data_dir/node-id' })),
  data_dir: Type.String({ minLength: 1, default: './nexus-data' }),
  log_level: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')], { default: 'info' }),
  listen: Type.Object({
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8480 }),
    tls: Type.Optional(Type.Object({
      ...TlsFiles.properties,
      client_auth: Type.Optional(Type.Boolean({ description: 'ask clients for a certificate (devices: CN = serial)' })),
    }, { additionalProperties: false })),
  }, { default: {}, additionalProperties: false }),
  auth: Type.Object({
    admin_token: Type.String({ minLength: 16, description: 'operator credential (Bearer)' }),
    bootstrap_key: Type.Optional(Type.String({ minLength: 16, description: 'pre-shared key devices present to /devices/register' })),
  }, { default: {}, additionalProperties: false }),
  replication: Type.Object({
    peers: Type.Array(Type.String({ pattern: '^wss?://' }), { default: [] }),
    secret: Type.Optional(Type.String({ minLength: 16, description: 'shared by all Nexus peers' })),
    reconnect_ms: Type.Integer({ minimum: 10, maximum: 60000, default: 250 }),
    ping_ms: Type.Integer({ minimum: 100, maximum: 60000, default: 1000 }),
    tls: Type.Optional(Type.Object({ ca: Type.Optional(Type.String()), cert: Type.Optional(Type.String()), key: Type.Optional(Type.String()) }, { additionalProperties: false })),
  }, { default: {}, additionalProperties: false }),
  persistence: Type.Object({
    fsync: Type.Boolean({ default: true }),
    compact_bytes: Type.Integer({ minimum: 65536, default: 64 * 1024 * 1024 }),
  }, { default: {}, additionalProperties: false }),
  allocation: Type.Object({
    block_size: Type.Integer({ minimum: 1, maximum: 1048576, default: 64 }),
    quarantine_seconds: Type.Integer({ minimum: 0, maximum: 31536000, default: 300 }),
    sweep_seconds: Type.Integer({ minimum: 1, maximum: 86400, default: 30 }),
  }, { default: {}, additionalProperties: false }),
  devices: Type.Object({
    offline_after_seconds: Type.Integer({ minimum: 1, maximum: 86400, default: 90 }),
  }, { default: {}, additionalProperties: false }),
}, { additionalProperties: false });

export type NexusConfig = Static<typeof NexusConfigSchema>;
const check = Compile(NexusConfigSchema);

interface Leaf { path: string[]; kind: 'string' | 'number' | 'boolean' | 'array' }

function leaves(schema: TSchema, path: string[] = []): Leaf[] {
  const s = schema as { type?: string; properties?: Record<string, TSchema>; allOf?: TSchema[] };
  if (s.allOf) return s.allOf.flatMap((x) => leaves(x, path));
  if (s.type === 'object' && s.properties) return Object.entries(s.properties).flatMap(([k, v]) => leaves(v, [...path, k]));
  const kind = s.type === 'integer' || s.type === 'number' ? 'number' : s.type === 'boolean' ? 'boolean' : s.type === 'array' ? 'array' : 'string';
  return [{ path, kind }];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    if (!isObject(cur[key])) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

function coerce(leaf: Leaf, raw: string, source: string): unknown {
  const field = leaf.path.join('.');
  if (leaf.kind === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new BngError('BNG_ERR_CONFIG_INVALID', `${field}: ${source} value "${raw}" is not a number`, { field });
    return n;
  }
  if (leaf.kind === 'boolean') {
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new BngError('BNG_ERR_CONFIG_INVALID', `${field}: ${source} value "${raw}" is not true/false`, { field });
  }
  if (leaf.kind === 'array') return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return raw;
}

export interface ConfigSources {
  file?: string | undefined;
  env?: Record<string, string | undefined>;
  /** Flag overrides as dotted paths (e.g. { 'listen.port': '8080' }); strings are coerced. */
  flags?: Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources): NexusConfig {
  let layered: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try { text = fs.readFileSync(sources.file, 'utf8'); } catch (e) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', `config file ${sources.file}: ${(e as Error).message}`, { field: 'config' });
    }
    const parsed: unknown = parseYaml(text); // YAML is a superset of JSON
    if (parsed !== null && parsed !== undefined && !isObject(parsed)) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', `config file ${sources.file}: top level must be a mapping`, { field: 'config' });
    }
    layered = merge(layered, (parsed ?? {}) as Record<string, unknown>);
  }
  const all = leaves(NexusConfigSchema);
  const envLayer: Record<string, unknown> = {};
  for (const leaf of all) {
    const name = `NEXUS_${leaf.path.join('_').toUpperCase()}`;
    const raw = sources.env?.[name];
    if (raw !== undefined) setPath(envLayer, leaf.path, coerce(leaf, raw, `environment ${name}`));
  }
  layered = merge(layered, envLayer);
  const flagLayer: Record<string, unknown> = {};
  for (const [dotted, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    const path = dotted.split('.');
    const leaf = all.find((l) => l.path.join('.') === dotted);
    if (!leaf) throw new BngError('BNG_ERR_CONFIG_INVALID', `${dotted}: unknown setting`, { field: dotted });
    setPath(flagLayer, path, typeof value === 'string' ? coerce(leaf, value, 'flag') : value);
  }
  layered = merge(layered, flagLayer);
  const withDefaults = Value.Default(NexusConfigSchema, Value.Clone(layered));
  if (!check.Check(withDefaults)) {
    const errors = [...check.Errors(withDefaults)];
    const first = errors.find((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf') ?? errors[0];
    let field = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const params = first?.params as { requiredProperties?: string[]; additionalProperties?: string[] } | undefined;
    if (first?.keyword === 'required' && params?.requiredProperties) field = [field, ...params.requiredProperties].filter(Boolean).join('.');
    if (first?.keyword === 'additionalProperties' && params?.additionalProperties) {
      field = [field, ...params.additionalProperties].filter(Boolean).join('.');
      throw new BngError('BNG_ERR_CONFIG_INVALID', `${field}: unknown setting`, { field });
    }
    throw new BngError('BNG_ERR_CONFIG_INVALID', `${field || '(root)'}: ${first?.message ?? 'invalid'}`, { field });
  }
  return withDefaults as NexusConfig;
}

/**
 * The layered configuration loader both daemons use: schema defaults < file (YAML or JSON) <
 * environment (<PREFIX>_<PATH>, e.g. BNG_HTTP_PORT) < command-line flags (dotted paths). The
 * result is checked against one TypeBox schema; a bad value fails start-up with
 * BNG_ERR_CONFIG_INVALID naming the field and the reason.
 */
import * as fs from 'node:fs';
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { BngError } from './errors.js';

interface Leaf {
  path: string[];
  kind: 'string' | 'number' | 'boolean' | 'array';
}

/** The settings an environment variable or a flag can set: scalars and lists of scalars. */
function leaves(schema: TSchema, path: string[] = []): Leaf[] {
  const s = schema as { type?: string; properties?: Record<string, TSchema>; allOf?: TSchema[]; items?: { type?: string } };
  if (s.allOf) return s.allOf.flatMap((x) => leaves(x, path));
  if (s.type === 'object' && s.properties) return Object.entries(s.properties).flatMap(([k, v]) => leaves(v, [...path, k]));
  if (s.type === 'array' && s.items?.type === 'object') return []; // lists of mappings only come from the file
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
  /** Flag overrides as dotted paths (e.g. { 'http.port': '8080' }); strings are coerced. */
  flags?: Record<string, unknown>;
  /** a mapping merged over the file and under the environment (e.g. settings a flag expands to) */
  overlay?: Record<string, unknown>;
}

/**
 * The environment variable that sets a dotted path: ('BNG', 'fastpath.mode') → BNG_FASTPATH_MODE,
 * ('BNG', 'pool.leaseTime') → BNG_POOL_LEASE_TIME.
 */
export function envName(prefix: string, dotted: string): string {
  return `${prefix}_${dotted.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase()}`;
}

/** Reads and validates a configuration; `envPrefix` names the daemon's variables (BNG, NEXUS). */
export function loadLayeredConfig<S extends TSchema>(schema: S, envPrefix: string, sources: ConfigSources): Static<S> {
  let layered: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try {
      text = fs.readFileSync(sources.file, 'utf8');
    } catch (e) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', `config file ${sources.file}: ${(e as Error).message}`, { field: 'config' });
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text); // YAML is a superset of JSON
    } catch (e) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', `config file ${sources.file}: ${(e as Error).message}`, { field: 'config' });
    }
    if (parsed !== null && parsed !== undefined && !isObject(parsed)) {
      throw new BngError('BNG_ERR_CONFIG_INVALID', `config file ${sources.file}: top level must be a mapping`, { field: 'config' });
    }
    layered = merge(layered, (parsed ?? {}) as Record<string, unknown>);
  }
  if (sources.overlay) layered = merge(layered, sources.overlay);
  const all = leaves(schema);
  const envLayer: Record<string, unknown> = {};
  for (const leaf of all) {
    const name = envName(envPrefix, leaf.path.join('.'));
    const raw = sources.env?.[name];
    if (raw !== undefined) setPath(envLayer, leaf.path, coerce(leaf, raw, `environment ${name}`));
  }
  layered = merge(layered, envLayer);
  const flagLayer: Record<string, unknown> = {};
  for (const [dotted, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    const leaf = all.find((l) => l.path.join('.') === dotted);
    if (!leaf) throw new BngError('BNG_ERR_CONFIG_INVALID', `${dotted}: unknown setting`, { field: dotted });
    setPath(flagLayer, dotted.split('.'), typeof value === 'string' ? coerce(leaf, value, 'flag') : value);
  }
  layered = merge(layered, flagLayer);
  const check = Compile(schema);
  const withDefaults = Value.Default(schema, Value.Clone(layered));
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
    if (first?.keyword === 'const') {
      // a choice among literals: name them all
      const allowed = errors.filter((e) => e.keyword === 'const' && e.instancePath === first.instancePath).map((e) => JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue));
      const got = JSON.stringify(first.instancePath.split('/').slice(1).reduce<unknown>((o, k) => (isObject(o) ? o[k] : Array.isArray(o) ? o[Number(k)] : undefined), withDefaults));
      throw new BngError('BNG_ERR_CONFIG_INVALID', `${field}: ${got} is not one of ${allowed.join(', ')}`, { field });
    }
    throw new BngError('BNG_ERR_CONFIG_INVALID', `${field || '(root)'}: ${first?.message ?? 'invalid'}`, { field });
  }
  return withDefaults as Static<S>;
}

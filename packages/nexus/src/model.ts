/**
 * Records and request bodies, one typebox schema each. The same objects validate HTTP input
 * (fastify/ajv), describe the OpenAPI document and type the code. Field names follow the seeds'
 * CLSet schema (snake_case) so an operator can read the replicated state against that document.
 */
import { Type, type Static } from 'typebox';

export const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$', description: 'identifier' });
export const Timestamp = Type.Number({ description: 'milliseconds since the Unix epoch' });

export const PrincipalKinds = { admin: 'admin', netco: 'netco', ispco: 'ispco', device: 'device', peer: 'peer' } as const;
export type PrincipalKind = (typeof PrincipalKinds)[keyof typeof PrincipalKinds];

export const DeviceStatuses = {
  pending: 'pending', approved: 'approved', booting: 'booting', ready: 'ready', offline: 'offline',
} as const;
export type DeviceStatus = (typeof DeviceStatuses)[keyof typeof DeviceStatuses];

export const PoolTypes = { ipv4: 'ipv4', ipv6: 'ipv6', vlan: 'vlan' } as const;
export type PoolType = (typeof PoolTypes)[keyof typeof PoolTypes];


// ---- NetCo ----
export const NetcoCreate = Type.Object({
  id: Id,
  name: Type.String({ minLength: 1, maxLength: 200 }),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}, { additionalProperties: false });
export type NetcoCreate = Static<typeof NetcoCreate>;
export interface NetcoRecord extends NetcoCreate { created_at: number; updated_at: number }

// ---- ISPCo ----
export const QosPolicy = Type.Object({
  down_kbps: Type.Integer({ minimum: 1 }),
  up_kbps: Type.Integer({ minimum: 1 }),
  burst_kbytes: Type.Optional(Type.Integer({ minimum: 1 })),
}, { additionalProperties: false });
export const RadiusConfig = Type.Object({
  servers: Type.Array(Type.String({ pattern: '^[^\\s]+:\\d{1,5}$' }), { minItems: 1, maxItems: 16 }),
  secret_ref: Type.Optional(Type.String({ maxLength: 500 })),
  realm: Type.String({ pattern: '^@?[A-Za-z0-9.-]+$' }),
}, { additionalProperties: false });
export const IspcoCreate = Type.Object({
  id: Id,
  name: Type.String({ minLength: 1, maxLength: 200 }),
  radius: RadiusConfig,
  pools: Type.Optional(Type.Object({
    ipv4: Type.Optional(Type.Array(Id, { maxItems: 64 })),
    ipv6: Type.Optional(Type.Array(Id, { maxItems: 64 })),
  }, { additionalProperties: false })),
  qos_policies: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), QosPolicy)),
}, { additionalProperties: false });
export type IspcoCreate = Static<typeof IspcoCreate>;
export const IspcoPatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  radius: Type.Optional(RadiusConfig),
  pools: Type.Optional(IspcoCreate.properties.pools),
  qos_policies: Type.Optional(IspcoCreate.properties.qos_policies),
}, { additionalProperties: false });
export type IspcoPatch = Static<typeof IspcoPatch>;
export interface IspcoRecord {
  id: string; name: string;
  radius: Static<typeof RadiusConfig>;
  pools: { ipv4: string[]; ipv6: string[] };
  qos_policies: Record<string, Static<typeof QosPolicy>>;
  created_at: number; updated_at: number;
}

// ---- Pools ----
const TagRange = Type.Object({
  from: Type.Integer({ minimum: 1, maximum: 4094 }),
  to: Type.Integer({ minimum: 1, maximum: 4094 }),
}, { additionalProperties: false });
export const PoolCreate = Type.Object({
  id: Id,
  type: Type.Union([Type.Literal('ipv4'), Type.Literal('ipv6'), Type.Literal('vlan')]),
  owner_kind: Type.Optional(Type.Union([Type.Literal('netco'), Type.Literal('ispco')])),
  owner_id: Type.Optional(Id),
  cidr: Type.Optional(Type.String({ description: 'IPv4 pool, e.g. 100.64.0.0/16' })),
  gateway: Type.Optional(Type.String({ description: 'IPv4 gateway inside cidr (never allocated)' })),
  exclude: Type.Optional(Type.Array(Type.String(), { maxItems: 1024 })),
  prefix: Type.Optional(Type.String({ description: 'IPv6 pool prefix, e.g. 2001:db8::/40' })),
  delegated_length: Type.Optional(Type.Integer({ minimum: 1, maximum: 128 })),
  s_tag: Type.Optional(TagRange),
  c_tag: Type.Optional(TagRange),
  block_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1048576 })),
  quarantine_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 31536000 })),
  device_filter: Type.Optional(Type.Array(Id, { maxItems: 4096 })),
}, { additionalProperties: false });
export type PoolCreate = Static<typeof PoolCreate>;
export interface PoolRecord extends PoolCreate {
  owner_kind: 'netco' | 'ispco'; owner_id: string; created_at: number;
}

// ---- Devices ----
export const DeviceCreate = Type.Object({
  id: Id,
  serial: Type.String({ minLength: 1, maxLength: 128 }),
  netco_id: Type.Optional(Id),
  model: Type.Optional(Type.String({ maxLength: 128 })),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}, { additionalProperties: false });
export type DeviceCreate = Static<typeof DeviceCreate>;
export const DevicePatch = Type.Object({
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  netco_id: Type.Optional(Id),
  model: Type.Optional(Type.String({ maxLength: 128 })),
}, { additionalProperties: false });
export type DevicePatch = Static<typeof DevicePatch>;
export const Mac = Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' });
export const RegisterRequest = Type.Object({
  serial: Type.String({ minLength: 1, maxLength: 128 }),
  mac: Mac,
  model: Type.String({ minLength: 1, maxLength: 128 }),
  capabilities: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
  image: Type.Optional(Type.String({ maxLength: 256 })),
}, { additionalProperties: false });
export type RegisterRequest = Static<typeof RegisterRequest>;
export const ApproveRequest = Type.Object({
  netco_id: Id,
  id: Type.Optional(Id),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}, { additionalProperties: false });
export type ApproveRequest = Static<typeof ApproveRequest>;
export const HeartbeatRequest = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('booting'), Type.Literal('ready')])),
  image: Type.Optional(Type.String({ maxLength: 256 })),
}, { additionalProperties: false });
export type HeartbeatRequest = Static<typeof HeartbeatRequest>;
export interface DeviceRecord {
  id: string; serial: string; netco_id?: string; model?: string; mac?: string;
  capabilities?: string[]; image?: string; status: DeviceStatus;
  config: Record<string, unknown>; last_seen?: number; registered_at?: number;
  created_at: number; updated_at: number;
}

// ---- Discovery (ONTs seen by an OLT) ----
export const DiscoveryReport = Type.Object({
  nte_serial: Type.String({ minLength: 1, maxLength: 64 }),
  port: Type.String({ minLength: 1, maxLength: 32 }),
  status: Type.Optional(Type.Union([Type.Literal('discovered'), Type.Literal('provisioned')])),
  vendor: Type.Optional(Type.String({ maxLength: 64 })),
  model: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: false });
export type DiscoveryReport = Static<typeof DiscoveryReport>;
export interface DiscoveryRecord extends DiscoveryReport { device_id: string; first_seen: number; last_seen: number }

// ---- Subscribers ----
export const Vlan = Type.String({ pattern: '^\\d{1,4}:\\d{1,4}$', description: 'S-TAG:C-TAG' });
export const ServiceFields = {
  ispco_id: Type.Optional(Id),
  radius_realm: Type.Optional(Type.String({ maxLength: 128 })),
  service_tier: Type.Optional(Type.String({ maxLength: 64 })),
  qos_policy: Type.Optional(Type.String({ maxLength: 64 })),
  ipv4_pool: Type.Optional(Id),
  ipv6_pool: Type.Optional(Id),
  mac: Type.Optional(Mac),
};
export const SubscriberCreate = Type.Object({
  id: Id,
  nte_id: Type.String({ minLength: 1, maxLength: 64 }),
  device_id: Id,
  netco_id: Type.Optional(Id),
  vlan: Type.Optional(Vlan),
  vlan_pool: Type.Optional(Id),
  ...ServiceFields,
}, { additionalProperties: false });
export type SubscriberCreate = Static<typeof SubscriberCreate>;
export const SubscriberPatch = Type.Object({
  // Claiming a line for a new ISP (churn) needs proof of the line: the ONT serial.
  nte_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  device_id: Type.Optional(Id),
  vlan: Type.Optional(Vlan),
  ...ServiceFields,
}, { additionalProperties: false });
export type SubscriberPatch = Static<typeof SubscriberPatch>;
export const BulkSubscriberCreate = Type.Object({
  subscribers: Type.Array(SubscriberCreate, { minItems: 1, maxItems: 5000 }),
}, { additionalProperties: false });
export type BulkSubscriberCreate = Static<typeof BulkSubscriberCreate>;
export interface PhysicalLayer { id: string; nte_id: string; device_id: string; vlan?: string; netco_id: string; created_at: number }
export interface ServiceLayer {
  ispco_id?: string; radius_realm?: string; service_tier?: string; qos_policy?: string;
  ipv4_pool?: string; ipv6_pool?: string; mac?: string; updated_at: number;
}

/**
 * Stored form of the two subscriber layers in a device document: one JSON string per subscriber,
 * keyed by subscriber id (the id is the key, not repeated). Format 2, written since the 100,000-
 * subscriber memory work: a JSON array of the fields in a fixed order, without field names
 * (absent fields are null, trailing ones left out), about half the text of format 1 (a JSON object):
 * ~10 MB less heap per replica at 100,000 subscribers and a quarter less to sync. Format 1 is still
 * read; a replica older than format 2 cannot read format 2 (upgrade all replicas together).
 * Edge agents reading the watch stream decode with these helpers.
 *
 *   physical  [created_at, nte_id, device_id, netco_id, vlan?]
 *   service   [updated_at, ispco_id, radius_realm, service_tier, qos_policy, ipv4_pool, ipv6_pool, mac]
 */
const PHYSICAL_FIELDS = ['created_at', 'nte_id', 'device_id', 'netco_id', 'vlan'] as const;
const SERVICE_FIELDS = ['updated_at', 'ispco_id', 'radius_realm', 'service_tier', 'qos_policy', 'ipv4_pool', 'ipv6_pool', 'mac'] as const;

export function encodePhysical(p: PhysicalLayer): string {
  return encodeFields(p as unknown as Record<string, unknown>, PHYSICAL_FIELDS);
}
export function decodePhysical(id: string, stored: string): PhysicalLayer {
  if (stored.charCodeAt(0) !== 0x5b /* [ */) return { id, ...(JSON.parse(stored) as Omit<PhysicalLayer, 'id'>) };
  const v = JSON.parse(stored) as unknown[];
  // The object is built in the API's field order.
  const out = { id, nte_id: v[1], device_id: v[2] } as PhysicalLayer;
  if (v[4] != null) out.vlan = v[4] as string;
  out.netco_id = v[3] as string;
  out.created_at = v[0] as number;
  return out;
}
export const encodeService = (s: ServiceLayer): string => encodeFields(s as unknown as Record<string, unknown>, SERVICE_FIELDS);
export function decodeService(stored: string): ServiceLayer {
  if (stored.charCodeAt(0) !== 0x5b /* [ */) return JSON.parse(stored) as ServiceLayer;
  const v = JSON.parse(stored) as unknown[];
  const out = {} as Record<string, unknown>;
  for (let i = 1; i < SERVICE_FIELDS.length; i++) if (v[i] != null) out[SERVICE_FIELDS[i]!] = v[i];
  out['updated_at'] = v[0];
  return out as unknown as ServiceLayer;
}
/**
 * The ISP of a stored service layer without parsing all of it (it is the second field; ids cannot
 * contain a quote or a backslash). Anything unexpected is parsed.
 */
export function serviceIspco(stored: string): string | undefined {
  if (stored.charCodeAt(0) === 0x5b /* [ */) {
    const comma = stored.indexOf(',');
    if (comma < 0) return undefined; // [updated_at]: no ISP
    if (stored.charCodeAt(comma + 1) === 0x22 /* " */) {
      const end = stored.indexOf('"', comma + 2);
      if (end > 0) return stored.slice(comma + 2, end);
    }
  }
  return decodeService(stored).ispco_id;
}

/**
 * A record's fields as a JSON array in `fields` order, built as one flat string: V8's
 * JSON.stringify returns a cons string for these lengths, and once flattened (Yjs encoding reads
 * it) the 32-byte cons shell stays in front of the flat copy for as long as the value is stored.
 */
function encodeFields(record: Record<string, unknown>, fields: readonly string[]): string {
  let n = fields.length;
  while (n > 0 && record[fields[n - 1]!] === undefined) n--;
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const v = record[fields[i]!];
    parts[i] = v === undefined ? 'null' : JSON.stringify(v);
  }
  return ['[', parts.join(','), ']'].join('');
}

export const AllocateRequest = Type.Object({ pool_id: Id }, { additionalProperties: false });
export const ReserveRequest = Type.Object({ subscriber_id: Id, address: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
export type ReserveRequest = Static<typeof ReserveRequest>;
export const ReplicationControl = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });

/** What a pool doc stores per allocation; short keys because there is one per subscriber per pool. */
export interface AllocationValue { i: number; a: string; t: number; n: string }
export interface QuarantineValue { s: string; u: number }

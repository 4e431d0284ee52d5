/**
 * One validated configuration schema. Sources layer defaults < file (YAML or JSON) < environment
 * (NEXUS_<PATH>, e.g. NEXUS_LISTEN_PORT, NEXUS_REPLICATION_PEERS=a,b) < command-line flags.
 * A bad value fails start-up with the field's path and the reason.
 */
import { Type, type Static } from 'typebox';
import { loadLayeredConfig, type ConfigSources } from '@bng/api';

export type { ConfigSources };

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

export function loadConfig(sources: ConfigSources): NexusConfig {
  return loadLayeredConfig(NexusConfigSchema, 'NEXUS', sources);
}

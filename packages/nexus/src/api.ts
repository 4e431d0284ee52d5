/**
 * The HTTP API (fastify). Every route declares its schemas (typebox, validated by typebox's
 * compiler so errors name the field), the principals that may call it, and whether it writes.
 * A write is acknowledged only after the state log has it (and, with fsync on, after fdatasync);
 * the requests of one event-loop turn share that commit (commit.ts). The same route table
 * produces the OpenAPI document at /openapi.json.
 */
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { BngError, ErrorCodes, isBngError, type ErrorCode } from '@bng/api';
import { requireKind, type Auth, type Principal, type PrincipalKindName } from './auth.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import {
  AllocateRequest, ApproveRequest, BulkSubscriberCreate, DeviceCreate, DevicePatch, DiscoveryReport, HeartbeatRequest, Id,
  IspcoCreate, IspcoPatch, NetcoCreate, PoolCreate, RegisterRequest, ReplicationControl, ReserveRequest, SubscriberCreate,
  SubscriberPatch,
} from './model.js';
import type { NexusService } from './service.js';

export interface ApiDeps {
  service: NexusService;
  auth: Auth;
  log: Logger;
  metrics: Metrics;
  /** Resolves once every write made so far is durable (group commit across requests: commit.ts). */
  flush(): Promise<void>;
  /**
   * Run a write with the other requests' writes to the same pools in this turn (one transaction per
   * pool document, one commit); resolves with its result once durable (commit.ts).
   */
  group<T>(poolIds: readonly string[], fn: () => T): Promise<T>;
  ready(): boolean;
  /** Bring the gauges up to date (called per scrape, not per request). */
  refreshMetrics(): void;
  admin: {
    replicationStatus(): unknown;
    setReplication(enabled: boolean): void;
    state(content: boolean): unknown;
    compact(): void;
    audit(limit: number): unknown;
  };
  deviceBySerial(serial: string): string | undefined;
}

export interface ApiOptions {
  https?: { cert: Buffer; key: Buffer; ca?: Buffer | undefined; clientAuth: boolean } | undefined;
  bodyLimit?: number;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  BNG_ERR_BAD_REQUEST: 400, BNG_ERR_CONFIG_INVALID: 400, BNG_ERR_UNAUTHENTICATED: 401, BNG_ERR_FORBIDDEN: 403,
  BNG_ERR_NOT_FOUND: 404, BNG_ERR_CONFLICT: 409, BNG_ERR_POOL_EXHAUSTED: 409,
};

interface RouteSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /**
   * The pools a call writes, when they are known from the request alone: the call then runs with
   * the other such calls of the same event-loop turn in one transaction per pool (deps.group).
   * Its handler must be synchronous (the transaction closes when it returns).
   */
  pools?: (ctx: Omit<Ctx, 'reply' | 'req' | 'p'>) => readonly string[];
  url: string;
  summary: string;
  tag: string;
  allow: readonly PrincipalKindName[] | 'public';
  body?: TSchema;
  query?: TSchema;
  params?: TSchema;
  status?: number;
}

type Ctx = { p: Principal; body: any; query: any; params: any; reply: FastifyReply; req: FastifyRequest };

const IdParams = Type.Object({ id: Id });
const Page = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  after: Type.Optional(Type.String({ maxLength: 128 })),
}, { additionalProperties: false });
const SubscriberQuery = Type.Object({ ...Page.properties, device_id: Type.Optional(Id) }, { additionalProperties: false });
const LimitQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }) }, { additionalProperties: false });

interface SchemaIssue { keyword: string; instancePath: string; schemaPath: string; params: Record<string, unknown>; message: string }

/** The most useful first error, as "field: reason". */
export function describeSchemaError(part: string, issues: SchemaIssue[]): { field: string; message: string } {
  const primary = issues.find((e) => e.keyword !== 'boolean' && !/\/anyOf\/\d+/.test(e.schemaPath)) ?? issues[0];
  if (!primary) return { field: part, message: `${part}: invalid` };
  const segs = primary.instancePath.split('/').filter(Boolean);
  let reason = primary.message;
  if (primary.keyword === 'required') {
    const missing = (primary.params['requiredProperties'] as string[] | undefined) ?? [];
    if (missing[0]) segs.push(missing[0]);
    reason = 'is required';
  } else if (primary.keyword === 'additionalProperties') {
    const extra = (primary.params['additionalProperties'] as string[] | undefined) ?? [];
    if (extra[0]) segs.push(extra[0]);
    reason = 'is not a known field';
  } else if (primary.keyword === 'anyOf') {
    const allowed = issues.filter((e) => e.instancePath === primary.instancePath && e.keyword === 'const').map((e) => String(e.params['allowedValue']));
    if (allowed.length > 0) reason = `must be one of ${allowed.join(', ')}`;
  }
  const field = segs.length > 0 ? segs.join('.') : part;
  return { field, message: `${field}: ${reason}` };
}

export function errorBody(code: ErrorCode, message: string, field?: string) {
  return { error: { code, message, ...(field ? { field } : {}) } };
}

export async function buildApi(deps: ApiDeps, opts: ApiOptions = {}): Promise<FastifyInstance> {
  const { service, auth, metrics } = deps;
  const log = deps.log.child({ component: 'api' });
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024,
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key, ...(opts.https.ca ? { ca: opts.https.ca } : {}), requestCert: opts.https.clientAuth, rejectUnauthorized: false } } : {}),
  }) as unknown as FastifyInstance;
  const specs: RouteSpec[] = [];

  app.setValidatorCompiler(({ schema, httpPart }) => {
    const compiled = Compile(schema as TSchema);
    const part = httpPart === 'querystring' ? 'query' : httpPart ?? 'body';
    // Path parameters that are all strings (ids) pass as they are: cloning, defaulting and
    // converting them first cost more than the rest of the validation of a single allocation.
    const asIs = part === 'body' || !JSON.stringify(schema).includes('"default"');
    return (data: unknown) => {
      if (asIs && compiled.Check(data)) return { value: data };
      // Query strings and path parameters are text: convert before checking; bodies are JSON
      // and must already have the right types.
      let value = data;
      if (part !== 'body') value = Value.Convert(schema as TSchema, Value.Default(schema as TSchema, Value.Clone(data)));
      if (value !== data && compiled.Check(value)) return { value };
      const { field, message } = describeSchemaError(part, [...compiled.Errors(value)] as SchemaIssue[]);
      const err = new BngError('BNG_ERR_BAD_REQUEST', part === 'body' ? message : `${part}: ${message}`, { field });
      return { error: Object.assign(err, { statusCode: 400 }) };
    };
  });

  app.setErrorHandler((error: unknown, req, reply) => {
    if (isBngError(error)) {
      const status = STATUS[error.code] ?? 500;
      if (status === 401) reply.header('www-authenticate', 'Bearer realm="nexus"');
      if (status >= 500) log.error({ err: error.message, code: error.code, url: req.url }, 'request failed');
      return reply.code(status).send(errorBody(error.code, error.message, error.details?.['field'] as string | undefined));
    }
    const e = error as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      // fastify's own 4xx: unparsable JSON, wrong content type, body too large...
      const field = e.code?.startsWith('FST_ERR_CTP') ? 'body' : undefined;
      return reply.code(e.statusCode).send(errorBody('BNG_ERR_BAD_REQUEST', e.message ?? 'bad request', field));
    }
    log.error({ err: e.message, stack: (error as Error).stack, url: req.url }, 'unhandled error');
    return reply.code(500).send(errorBody('BNG_ERR_INTERNAL', 'internal error'));
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('BNG_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  app.addHook('onResponse', (req, reply, done) => {
    const route = (req.routeOptions?.url ?? 'unmatched');
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  const principalOf = (req: FastifyRequest): Principal | undefined => {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) return auth.resolve(header.slice(7).trim(), req.raw.socket);
    const sock = req.raw.socket as Partial<TLSSocket>;
    if (opts.https?.clientAuth && sock.authorized && sock.getPeerCertificate) {
      // mTLS: a client certificate signed by the configured CA whose CN is a device's serial.
      const cn = sock.getPeerCertificate().subject?.CN;
      const id = typeof cn === 'string' ? deps.deviceBySerial(cn) : undefined;
      if (id) return { kind: 'device', id };
    }
    return undefined;
  };

  const route = (spec: RouteSpec, handler: (ctx: Ctx) => unknown) => {
    specs.push(spec);
    const writes = spec.method !== 'GET';
    app.route({
      method: spec.method,
      url: spec.url,
      schema: { ...(spec.body ? { body: spec.body } : {}), ...(spec.query ? { querystring: spec.query } : {}), ...(spec.params ? { params: spec.params } : {}) },
      // Authenticate before validating: a caller without credentials learns nothing, not even the schema.
      // An async hook, not a callback one: the handler then runs after the body parser's frames
      // have returned, so a bulk request's raw text (hundreds of KB) is not kept alive (and
      // promoted to V8's old space) for the whole request, as it was with a callback hook.
      preValidation: async (req) => {
        if (spec.allow === 'public') return;
        (req as unknown as { principal: Principal }).principal = requireKind(principalOf(req), spec.allow);
      },
      handler: async (req, reply) => {
        const p = (req as unknown as { principal?: Principal }).principal ?? { kind: 'bootstrap' };
        const ctx = { p, body: req.body, query: req.query, params: req.params, reply, req };
        let result: unknown;
        if (spec.pools) result = await deps.group(spec.pools(ctx), () => handler(ctx)); // committed with its group
        else {
          result = await handler(ctx);
          if (writes) await deps.flush();
        }
        if (reply.sent) return reply;
        if (spec.status && reply.statusCode === 200) reply.code(spec.status);
        return result === undefined ? reply.code(204).send() : reply.send(result);
      },
    });
  };

  // ---- operations ----
  route({ method: 'GET', url: '/healthz', summary: 'liveness', tag: 'ops', allow: 'public' }, () => ({ status: 'ok' }));
  route({ method: 'GET', url: '/readyz', summary: 'readiness: state loaded and serving', tag: 'ops', allow: 'public' }, ({ reply }) => {
    if (!deps.ready()) return reply.code(503).send({ status: 'starting' });
    return { status: 'ready' };
  });
  route({ method: 'GET', url: '/metrics', summary: 'Prometheus metrics', tag: 'ops', allow: 'public' }, async ({ reply }) => {
    deps.refreshMetrics();
    reply.header('content-type', metrics.registry.contentType);
    return reply.send(await metrics.registry.metrics());
  });
  route({ method: 'GET', url: '/openapi.json', summary: 'this document', tag: 'ops', allow: 'public' }, () => openApi(specs));

  // ---- NetCos ----
  route({ method: 'POST', url: '/api/v1/netcos', summary: 'create a NetCo; returns its credential once', tag: 'netcos', allow: ['admin'], body: NetcoCreate, status: 201 },
    ({ p, body }) => service.createNetco(p, body));
  route({ method: 'GET', url: '/api/v1/netcos', summary: 'list NetCos', tag: 'netcos', allow: ['admin', 'netco'] }, ({ p }) => ({ items: service.listNetcos(p) }));
  route({ method: 'GET', url: '/api/v1/netcos/:id', summary: 'one NetCo', tag: 'netcos', allow: ['admin', 'netco'], params: IdParams }, ({ p, params }) => service.getNetco(p, params.id));

  // ---- ISPs ----
  route({ method: 'POST', url: '/api/v1/ispcos', summary: 'create an ISP (RADIUS, realm, pools, QoS templates); returns its credential once', tag: 'ispcos', allow: ['admin', 'netco'], body: IspcoCreate, status: 201 },
    ({ p, body }) => service.createIspco(p, body));
  route({ method: 'GET', url: '/api/v1/ispcos', summary: 'list ISPs', tag: 'ispcos', allow: ['admin', 'netco', 'ispco'] }, ({ p }) => ({ items: service.listIspcos(p) }));
  route({ method: 'GET', url: '/api/v1/ispcos/:id', summary: 'one ISP', tag: 'ispcos', allow: ['admin', 'netco', 'ispco'], params: IdParams }, ({ p, params }) => service.getIspco(p, params.id));
  route({ method: 'PATCH', url: '/api/v1/ispcos/:id', summary: 'change an ISP', tag: 'ispcos', allow: ['admin', 'ispco'], params: IdParams, body: IspcoPatch },
    ({ p, params, body }) => service.patchIspco(p, params.id, body));

  // ---- pools ----
  route({ method: 'POST', url: '/api/v1/pools', summary: 'create an IPv4, IPv6 (delegated prefixes) or VLAN pool', tag: 'pools', allow: ['admin', 'netco', 'ispco'], body: PoolCreate, status: 201 },
    ({ p, body }) => service.createPool(p, body));
  route({ method: 'GET', url: '/api/v1/pools', summary: 'list visible pools with utilisation', tag: 'pools', allow: ['admin', 'netco', 'ispco', 'device'] }, ({ p }) => ({ items: service.listPools(p) }));
  route({ method: 'GET', url: '/api/v1/pools/:id', summary: 'one pool with utilisation', tag: 'pools', allow: ['admin', 'netco', 'ispco', 'device'], params: IdParams }, ({ p, params }) => service.getPool(p, params.id));
  route({ method: 'GET', url: '/api/v1/pools/:id/allocations', summary: 'allocations in a pool (paged by subscriber id)', tag: 'pools', allow: ['admin', 'netco', 'ispco', 'device'], params: IdParams, query: Page },
    ({ p, params, query }) => ({ items: service.listAllocations(p, params.id, query.limit, query.after) }));
  route({ method: 'POST', url: '/api/v1/pools/:id/reservations', summary: 'static reservation of a unit for a subscriber', tag: 'pools', allow: ['admin', 'netco', 'ispco'], params: IdParams, body: ReserveRequest, status: 201 },
    ({ p, params, body }) => service.reserve(p, params.id, body));

  // ---- devices and bootstrap ----
  route({ method: 'POST', url: '/api/v1/devices/register', summary: 'zero-touch registration: known serial gets its config (200), unknown is pending (202)', tag: 'bootstrap', allow: ['bootstrap', 'admin'], body: RegisterRequest },
    ({ p, body, reply }) => { const r = service.register(p, body); reply.code(r.code); return r.body; });
  route({ method: 'POST', url: '/api/v1/devices', summary: 'pre-provision a device (its serial becomes known)', tag: 'devices', allow: ['admin', 'netco'], body: DeviceCreate, status: 201 },
    ({ p, body }) => service.createDevice(p, body));
  route({ method: 'GET', url: '/api/v1/devices', summary: 'list devices', tag: 'devices', allow: ['admin', 'netco', 'device'] }, ({ p }) => ({ items: service.listDevices(p) }));
  route({ method: 'GET', url: '/api/v1/devices/:id', summary: 'one device', tag: 'devices', allow: ['admin', 'netco', 'device'], params: IdParams }, ({ p, params }) => service.visibleDevice(p, params.id));
  route({ method: 'PATCH', url: '/api/v1/devices/:id', summary: 'change a device\'s configuration', tag: 'devices', allow: ['admin', 'netco'], params: IdParams, body: DevicePatch },
    ({ p, params, body }) => service.patchDevice(p, params.id, body));
  route({ method: 'POST', url: '/api/v1/devices/:id/approve', summary: 'approve a pending device', tag: 'bootstrap', allow: ['admin', 'netco'], params: IdParams, body: ApproveRequest },
    ({ p, params, body }) => service.approve(p, params.id, body));
  route({ method: 'GET', url: '/api/v1/devices/:id/config', summary: 'full device configuration', tag: 'bootstrap', allow: ['admin', 'netco', 'device'], params: IdParams },
    ({ p, params }) => service.config(p, params.id));
  route({ method: 'POST', url: '/api/v1/devices/:id/heartbeat', summary: 'heartbeat: sets last_seen (and status)', tag: 'bootstrap', allow: ['device'], params: IdParams, body: HeartbeatRequest },
    ({ p, params, body }) => service.heartbeat(p, params.id, body ?? {}));
  route({ method: 'GET', url: '/api/v1/devices/:id/status', summary: 'device status and last_seen', tag: 'devices', allow: ['admin', 'netco', 'device'], params: IdParams },
    ({ p, params }) => service.status(p, params.id));
  route({ method: 'POST', url: '/api/v1/devices/:id/discovery', summary: 'report an ONT seen on a PON port', tag: 'discovery', allow: ['device', 'admin'], params: IdParams, body: DiscoveryReport },
    ({ p, params, body }) => service.reportDiscovery(p, params.id, body));
  route({ method: 'GET', url: '/api/v1/devices/:id/discovery', summary: 'ONTs seen by a device', tag: 'discovery', allow: ['admin', 'netco', 'device'], params: IdParams },
    ({ p, params }) => ({ items: service.listDiscovery(p, params.id) }));

  // ---- subscribers ----
  route({ method: 'POST', url: '/api/v1/subscribers', summary: 'create a line (physical layer)', tag: 'subscribers', allow: ['admin', 'netco'], body: SubscriberCreate, status: 201 },
    ({ p, body }) => service.createSubscriber(p, body));
  route({ method: 'POST', url: '/api/v1/subscribers/bulk', summary: 'create many lines', tag: 'subscribers', allow: ['admin', 'netco'], body: BulkSubscriberCreate },
    ({ p, body }) => service.bulkCreate(p, body));
  route({ method: 'GET', url: '/api/v1/subscribers', summary: 'list visible subscribers (paged)', tag: 'subscribers', allow: ['admin', 'netco', 'ispco', 'device'], query: SubscriberQuery },
    ({ p, query }) => service.listSubscribers(p, query));
  route({ method: 'GET', url: '/api/v1/subscribers/:id', summary: 'one subscriber, as the caller may see it', tag: 'subscribers', allow: ['admin', 'netco', 'ispco', 'device'], params: IdParams },
    ({ p, params }) => service.getSubscriber(p, params.id));
  route({ method: 'PATCH', url: '/api/v1/subscribers/:id', summary: 'change the physical (NetCo) or service (ISP) layer; an ISP claims a line with ispco_id + nte_id (churn)', tag: 'subscribers', allow: ['admin', 'netco', 'ispco'], params: IdParams, body: SubscriberPatch },
    ({ p, params, body }) => service.patchSubscriber(p, params.id, body));
  route({ method: 'DELETE', url: '/api/v1/subscribers/:id', summary: 'remove a line (its addresses go to quarantine)', tag: 'subscribers', allow: ['admin', 'netco'], params: IdParams },
    ({ p, params }) => { service.deleteSubscriber(p, params.id); return undefined; });
  // Called once per subscriber at authentication by every BNG: grouped per event-loop turn.
  route({ method: 'POST', url: '/api/v1/subscribers/:id/allocations', summary: 'allocate from a pool (sticky: the same subscriber gets the same unit)', tag: 'allocations', allow: ['admin', 'netco', 'ispco'], params: IdParams, body: AllocateRequest, status: 201,
    pools: ({ body }) => [body.pool_id] },
    ({ p, params, body }) => service.allocate(p, params.id, body.pool_id));
  route({ method: 'DELETE', url: '/api/v1/subscribers/:id/allocations/:pool', summary: 'release to quarantine', tag: 'allocations', allow: ['admin', 'netco', 'ispco'], params: Type.Object({ id: Id, pool: Id }),
    pools: ({ params }) => [params.pool] },
    ({ p, params }) => service.release(p, params.id, params.pool));
  route({ method: 'POST', url: '/api/v1/pools/:id/allocations', summary: 'allocate for many subscribers at once (migration, bulk provisioning)', tag: 'allocations', allow: ['admin', 'ispco'], params: IdParams,
    body: Type.Object({ subscriber_ids: Type.Array(Id, { minItems: 1, maxItems: 10000 }) }, { additionalProperties: false }) },
    ({ p, params, body }) => service.bulkAllocate(p, params.id, body.subscriber_ids));
  route({ method: 'GET', url: '/api/v1/events', summary: 'allocation conflicts and churn events', tag: 'events', allow: ['admin', 'ispco'], query: LimitQuery },
    ({ p, query }) => ({ items: service.events(p, query.limit) }));

  // ---- administration ----
  route({ method: 'GET', url: '/api/v1/audit', summary: 'recent audit entries (this replica)', tag: 'admin', allow: ['admin'], query: LimitQuery },
    ({ query }) => ({ items: deps.admin.audit(query.limit) }));
  route({ method: 'GET', url: '/api/v1/admin/replication', summary: 'peers, live allocators', tag: 'admin', allow: ['admin'] }, () => deps.admin.replicationStatus());
  route({ method: 'PUT', url: '/api/v1/admin/replication', summary: 'pause (partition) or resume replication', tag: 'admin', allow: ['admin'], body: ReplicationControl },
    ({ body }) => { deps.admin.setReplication(body.enabled); return deps.admin.replicationStatus(); });
  route({ method: 'GET', url: '/api/v1/admin/state', summary: 'state digest (and content hash), document count, duplicate allocations', tag: 'admin', allow: ['admin'],
    query: Type.Object({ content: Type.Boolean({ default: true }) }, { additionalProperties: false }) }, ({ query }) => deps.admin.state(query.content));
  route({ method: 'POST', url: '/api/v1/admin/compact', summary: 'write a snapshot and start a new log', tag: 'admin', allow: ['admin'] }, () => { deps.admin.compact(); return { compacted: true }; });

  return app;
}

function openApi(specs: RouteSpec[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const s of specs) {
    const path = s.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const params: unknown[] = [];
    const addParams = (schema: TSchema | undefined, where: 'path' | 'query') => {
      const props = (schema as { properties?: Record<string, unknown>; required?: string[] } | undefined);
      for (const [name, sch] of Object.entries(props?.properties ?? {})) {
        params.push({ name, in: where, required: where === 'path' || (props?.required ?? []).includes(name), schema: sch });
      }
    };
    addParams(s.params, 'path');
    addParams(s.query, 'query');
    const op: Record<string, unknown> = {
      summary: s.summary, tags: [s.tag],
      ...(s.allow === 'public' ? { security: [] } : { security: [{ bearer: [] }], 'x-principals': s.allow }),
      ...(params.length ? { parameters: params } : {}),
      ...(s.body ? { requestBody: { required: true, content: { 'application/json': { schema: s.body } } } } : {}),
      responses: {
        [String(s.status ?? 200)]: { description: 'success' },
        ...(s.body || s.query || s.params ? { 400: { $ref: '#/components/responses/Error' } } : {}),
        ...(s.allow === 'public' ? {} : { 401: { $ref: '#/components/responses/Error' }, 403: { $ref: '#/components/responses/Error' } }),
      },
    };
    (paths[path] ??= {})[s.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Nexus', version: '0.1.0', description: 'BNG coordinator: replicated state, hashring allocation, zero-touch bootstrap' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      responses: {
        Error: {
          description: 'error',
          content: { 'application/json': { schema: {
            type: 'object', required: ['error'],
            properties: { error: { type: 'object', required: ['code', 'message'], properties: {
              code: { type: 'string', enum: Object.keys(ErrorCodes) }, message: { type: 'string' }, field: { type: 'string' },
            } } },
          } } },
        },
      },
    },
    paths,
  };
}

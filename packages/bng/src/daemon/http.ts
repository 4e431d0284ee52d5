/**
 * The daemon's HTTP endpoint: /metrics (Prometheus), /healthz (the process runs and its event
 * loop turns), /readyz (it can serve: interface up, socket open, program attached), and a small
 * API under /api/ for the `bng` CLI (GET reads, POST administrative actions), answered to
 * loopback clients only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { isBngError } from '@bng/api';

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface DaemonHttpSources {
  registry: Registry;
  health(): HealthReport;
  ready(): HealthReport;
  /** GET /api/<name> handlers; the query string is passed parsed */
  api: Record<string, (query: URLSearchParams) => unknown>;
  /** POST /api/<name> actions (administrative changes); a BngError becomes 400/404 with its code */
  post?: Record<string, (query: URLSearchParams) => unknown>;
}

const STATUS: Record<string, number> = { BNG_ERR_BAD_REQUEST: 400, BNG_ERR_NOT_FOUND: 404, BNG_ERR_CONFLICT: 409 };

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

export async function startDaemonHttp(host: string, port: number, src: DaemonHttpSources): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'POST' && url.pathname.startsWith('/api/')) {
        if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) return send(res, 403, { error: 'the API answers loopback clients only' });
        const h = src.post?.[url.pathname.slice(5)];
        if (!h) return send(res, 404, { error: `no such action; try ${Object.keys(src.post ?? {}).map((k) => `POST /api/${k}`).join(', ') || 'none'}` });
        try {
          return send(res, 200, await h(url.searchParams));
        } catch (e) {
          if (isBngError(e) && STATUS[e.code] !== undefined) return send(res, STATUS[e.code]!, { error: e.message, code: e.code });
          throw e;
        }
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'GET, or POST for /api/ actions' });
      if (url.pathname === '/metrics') return send(res, 200, await src.registry.metrics(), src.registry.contentType);
      if (url.pathname === '/healthz' || url.pathname === '/readyz') {
        const r = url.pathname === '/healthz' ? src.health() : src.ready();
        return send(res, r.ok ? 200 : 503, r);
      }
      if (url.pathname.startsWith('/api/')) {
        if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) return send(res, 403, { error: 'the API answers loopback clients only' });
        const h = src.api[url.pathname.slice(5)];
        if (!h) return send(res, 404, { error: `no such endpoint; try ${Object.keys(src.api).map((k) => `/api/${k}`).join(', ')}` });
        return send(res, 200, h(url.searchParams));
      }
      return send(res, 404, { error: 'not found; endpoints: /metrics /healthz /readyz /api/' });
    })().catch((e: unknown) => send(res, 500, { error: (e as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * Replication edge cases in-process: a document created while a new peer's hello is on its way
 * still reaches that peer, a replica that only accepts connections (no peers of its own) is
 * re-dialled after it resumes from a pause, and a peer with the wrong secret is refused.
 */
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeFrame, type Decoded } from '../src/protocol.js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { createNexus, type Nexus } from '../src/server.js';
import { ADMIN, SECRET, call, freePorts, tempDir, waitFor } from './helpers.js';

const started: Array<{ nexus: Nexus; dir: string }> = [];
async function replica(id: string, port: number, peers: number[], secret = SECRET) {
  const dir = tempDir(`nexus-${id}-`);
  const config = loadConfig({ flags: {
    node_id: id, data_dir: dir, 'listen.port': port, 'auth.admin_token': ADMIN, 'persistence.fsync': false,
    'replication.secret': secret, 'replication.reconnect_ms': 50,
    ...(peers.length ? { 'replication.peers': peers.map((p) => `ws://127.0.0.1:${p}/replicate`).join(',') } : {}),
  } });
  const nexus = await createNexus(config, { log: silentLogger });
  await nexus.start();
  started.push({ nexus, dir });
  return `http://127.0.0.1:${port}`;
}
afterAll(async () => {
  for (const s of started) { await s.nexus.stop(); fs.rmSync(s.dir, { recursive: true, force: true }); }
});
const live = async (base: string) => (await call(base, 'GET', '/api/v1/admin/replication', { token: ADMIN })).body.live as string[];

describe('replication', () => {
  it('a document created after a peer connected, before its hello arrived, still reaches it', async () => {
    const [pa] = await freePorts(1);
    const a = await replica('hello-a', pa!, []);
    // A peer that says nothing: everything A sends it after the connection opened is recorded.
    const ws = new WebSocket(`ws://127.0.0.1:${pa}/replicate`, { headers: { authorization: `Bearer ${SECRET}` } });
    const frames: Decoded[] = [];
    ws.on('message', (d: Buffer) => frames.push(decodeFrame(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))));
    try {
      await waitFor('hello from a', async () => frames.some((f) => f.type === 'hello'));
      expect((await call(a, 'POST', '/api/v1/netcos', { token: ADMIN, body: { id: 'early', name: 'e' } })).status).toBe(201);
      await waitFor('the new document', async () => frames.some((f) => f.type === 'sync' && f.doc === 'netco:early'), 3000);
    } finally {
      ws.close();
    }
  });


  it('re-dials a listen-only replica after it resumes, and the two converge', async () => {
    const [pa, pb] = await freePorts(2);
    const b = await replica('listen-only', pb!, []);
    const a = await replica('dialer', pa!, [pb!]);
    await waitFor('connected', async () => (await live(a)).length === 2);
    await call(b, 'PUT', '/api/v1/admin/replication', { token: ADMIN, body: { enabled: false } });
    await waitFor('partitioned', async () => (await live(a)).length === 1);
    await call(a, 'POST', '/api/v1/netcos', { token: ADMIN, body: { id: 'from-a', name: 'a' } });
    await call(b, 'POST', '/api/v1/netcos', { token: ADMIN, body: { id: 'from-b', name: 'b' } });
    await new Promise((r) => setTimeout(r, 300)); // several refused re-dials while paused
    expect((await call(b, 'GET', '/api/v1/netcos/from-a', { token: ADMIN })).status).toBe(404);
    await call(b, 'PUT', '/api/v1/admin/replication', { token: ADMIN, body: { enabled: true } });
    await waitFor('healed', async () => (await call(b, 'GET', '/api/v1/netcos/from-a', { token: ADMIN })).status === 200
      && (await call(a, 'GET', '/api/v1/netcos/from-b', { token: ADMIN })).status === 200);
    const [sa, sb] = await Promise.all([a, b].map(async (u) => (await call(u, 'GET', '/api/v1/admin/state', { token: ADMIN })).body));
    expect(sa.digest).toBe(sb.digest);
    expect(sa.hash).toBe(sb.hash);
  });

  it('refuses a peer with the wrong secret', async () => {
    const [pa, pb] = await freePorts(2);
    const b = await replica('guarded', pb!, []);
    const a = await replica('intruder', pa!, [pb!], 'wrong-secret-0123456789');
    await new Promise((r) => setTimeout(r, 300));
    expect(await live(a)).toEqual(['intruder']);
    expect(await live(b)).toEqual(['guarded']);
  });
});

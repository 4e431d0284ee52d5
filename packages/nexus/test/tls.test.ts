/**
 * TLS: the API and replication over https/wss with a private CA, and device authentication by
 * client certificate (mTLS, CN = the device's serial). Certificates are made with openssl here.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { createNexus, type Nexus } from '../src/server.js';
import { createWatchClient } from '../src/watch-client.js';
import { ADMIN, BOOT, SECRET, freePorts, tempDir, waitFor } from './helpers.js';

const dir = tempDir('nexus-tls-');
const f = (n: string) => path.join(dir, n);
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const nodes: Nexus[] = [];
let ports: number[] = [];

function get(port: number, p: string, opts: { token?: string; client?: boolean; method?: string; body?: unknown }) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request({
      host: '127.0.0.1', port, path: p, method: opts.method ?? 'GET', ca: fs.readFileSync(f('ca.crt')),
      ...(opts.client ? { cert: fs.readFileSync(f('dev.crt')), key: fs.readFileSync(f('dev.key')) } : {}),
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=nexus-test-ca');
  fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
  ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', 'san.ext');
  ssl('req', ...ec, '-keyout', 'dev.key', '-out', 'dev.csr', '-subj', '/CN=SN-TLS-1');
  ssl('x509', '-req', '-in', 'dev.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'dev.crt', '-days', '1');
  ports = await freePorts(2);
  for (const [i, port] of ports.entries()) {
    const other = ports[1 - i]!;
    const config = loadConfig({ flags: {
      node_id: `tls-${i}`, data_dir: f(`data-${i}`), 'listen.port': port, 'auth.admin_token': ADMIN, 'auth.bootstrap_key': BOOT,
      'persistence.fsync': false, 'replication.secret': SECRET, 'replication.peers': `wss://127.0.0.1:${other}/replicate`,
      'replication.reconnect_ms': 100,
      'listen.tls.cert': f('srv.crt'), 'listen.tls.key': f('srv.key'), 'listen.tls.ca': f('ca.crt'), 'listen.tls.client_auth': true,
      'replication.tls.ca': f('ca.crt'),
    } });
    const n = await createNexus(config, { log: silentLogger });
    await n.start();
    nodes.push(n);
  }
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('TLS', () => {
  it('replicates over wss and serves the API over https', async () => {
    const r = await get(ports[0]!, '/api/v1/netcos', { token: ADMIN, method: 'POST', body: { id: 'nc', name: 'NetCo' } });
    expect(r.status).toBe(201);
    await waitFor('netco on the other replica', async () => (await get(ports[1]!, '/api/v1/netcos/nc', { token: ADMIN })).status === 200);
    const st = await get(ports[1]!, '/api/v1/admin/replication', { token: ADMIN });
    expect(st.body.live).toEqual(['tls-0', 'tls-1']);
  });

  it('a device authenticates with its client certificate (CN = serial)', async () => {
    expect((await get(ports[0]!, '/api/v1/devices', { token: ADMIN, method: 'POST', body: { id: 'olt-tls', serial: 'SN-TLS-1', netco_id: 'nc' } })).status).toBe(201);
    expect((await get(ports[0]!, '/api/v1/devices/olt-tls/config', {})).status).toBe(401);
    const cfg = await get(ports[0]!, '/api/v1/devices/olt-tls/config', { client: true });
    expect(cfg.status).toBe(200);
    expect(cfg.body.device.id).toBe('olt-tls');
    expect((await get(ports[0]!, '/api/v1/netcos', { client: true })).status).toBe(403);
    // The watch stream accepts the certificate too.
    const client = createWatchClient({ url: `wss://127.0.0.1:${ports[0]}`, token: '', tls: { ca: fs.readFileSync(f('ca.crt')), cert: fs.readFileSync(f('dev.crt')), key: fs.readFileSync(f('dev.key')) } });
    await waitFor('watch scope', async () => client.scope().includes('device:olt-tls'));
    expect(client.scope().filter((d) => d.startsWith('device:'))).toEqual(['device:olt-tls']);
    client.close();
  });
});

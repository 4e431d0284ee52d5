import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../src/config.js';
import { isBngError } from '@bng/api';

const token = 'a'.repeat(32);

describe('config', () => {
  it('fills defaults', () => {
    const c = loadConfig({ flags: { 'auth.admin_token': token } });
    expect(c.listen.port).toBe(8480);
    expect(c.persistence.fsync).toBe(true);
    expect(c.allocation.block_size).toBe(64);
    expect(c.replication.peers).toEqual([]);
  });
  it('layers file < env < flags', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-cfg-'));
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, `auth:\n  admin_token: ${token}\nlisten:\n  port: 1000\n  host: 0.0.0.0\nallocation:\n  block_size: 16\n`);
    const c = loadConfig({ file, env: { NEXUS_LISTEN_PORT: '2000', NEXUS_REPLICATION_PEERS: 'ws://a:1, ws://b:2' }, flags: { 'listen.port': '3000' } });
    expect(c.listen.port).toBe(3000);
    expect(c.listen.host).toBe('0.0.0.0');
    expect(c.allocation.block_size).toBe(16);
    expect(c.replication.peers).toEqual(['ws://a:1', 'ws://b:2']);
    fs.rmSync(dir, { recursive: true });
  });
  it('accepts TLS for the listener with client certificates', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-cfg-'));
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, `auth:\n  admin_token: ${token}\nlisten:\n  tls:\n    cert: /c.pem\n    key: /k.pem\n    ca: /ca.pem\n    client_auth: true\nreplication:\n  tls:\n    ca: /ca.pem\n`);
    const c = loadConfig({ file });
    expect(c.listen.tls).toEqual({ cert: '/c.pem', key: '/k.pem', ca: '/ca.pem', client_auth: true });
    expect(c.replication.tls).toEqual({ ca: '/ca.pem' });
    fs.writeFileSync(file, `auth:\n  admin_token: ${token}\nlisten:\n  tls:\n    cert: /c.pem\n`);
    expect(() => loadConfig({ file })).toThrow(/listen\.tls\.key/);
    fs.rmSync(dir, { recursive: true });
  });
  it('names the field and the reason', () => {
    const attempt = (s: Parameters<typeof loadConfig>[0]) => {
      try { loadConfig(s); } catch (e) { if (isBngError(e, 'BNG_ERR_CONFIG_INVALID')) return e.message; throw e; }
      return 'no error';
    };
    expect(attempt({ flags: { 'auth.admin_token': token, 'listen.port': '70000' } })).toMatch(/^listen\.port: must be <= 65535/);
    expect(attempt({ env: { NEXUS_AUTH_ADMIN_TOKEN: token, NEXUS_LISTEN_PORT: 'x' } })).toMatch(/^listen\.port: .*not a number/);
    expect(attempt({ flags: {} })).toMatch(/^auth\.admin_token/);
    expect(attempt({ flags: { 'auth.admin_token': 'short' } })).toMatch(/^auth\.admin_token: /);
    expect(attempt({ flags: { 'auth.admin_token': token, 'replication.peers': 'http://x' } })).toMatch(/^replication\.peers\.0: /);
    expect(attempt({ flags: { 'nope.x': '1' } })).toMatch(/^nope\.x: unknown setting/);
  });
});

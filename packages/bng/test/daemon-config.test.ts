// `bng run` refuses a bad configuration before it touches the network: it exits non-zero and
// says BNG_ERR_CONFIG_INVALID (or BNG_ERR_INTERFACE) with the offending field on stderr, whether
// the value came from a flag, the YAML file or the environment.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@bng/testkit';
import { BNG_BIN } from './daemon-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bng-daemon-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bng run` with `args`; a daemon that does start is stopped and reported as such. */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BNG_')) base[k] = v;
  const child = spawn(process.execPath, [BNG_BIN, 'run', '--state-dir', join(dir, 'state'), '--metrics-addr', '127.0.0.1:0', ...args], {
    env: { ...base, BNG_FASTPATH_PIN_DIR: join(dir, 'never-pinned'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // a bad configuration ends the process at once; one that runs is a failure of this test
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    }),
  );
}

const POOL = ['--pool-network', '10.201.40.0/24', '--pool-gateway', '10.201.40.1'];

describe('bng run: configuration errors', () => {
  expect(existsSync(join(repoRoot(), 'packages', 'bng', 'dist', 'cli.js')), 'build first: npx tsc -b').toBe(true);

  it('names the field of every bad setting and exits non-zero', async () => {
    const unknownKey = join(dir, 'unknown-key.yaml');
    writeFileSync(unknownKey, 'interface: lo\ndhcp:\n  offerHoldSeconds: 10\n  leaseTimez: 600\n');
    const badPoolFile = join(dir, 'bad-pool.yaml');
    writeFileSync(badPoolFile, 'dhcp:\n  pools:\n    - name: a\n      network: 10.201.41.0/24\n      gateway: 10.201.41.1\n      rangeStart: 10.201.41.10\n      rangeEnd: 10.201.99.20\n');
    const cases: Array<{ what: string; args: string[]; env?: Record<string, string>; code: string; field: RegExp }> = [
      { what: 'malformed --pool-network', args: ['-i', 'lo', '--pool-network', '10.201.40.0/33', '--pool-gateway', '10.201.40.1'], code: 'BNG_ERR_CONFIG_INVALID', field: /pool\.network/ },
      { what: 'not a network at all', args: ['-i', 'lo', '--pool-network', 'banana', '--pool-gateway', '10.201.40.1'], code: 'BNG_ERR_CONFIG_INVALID', field: /pool\.network/ },
      { what: 'gateway outside the network', args: ['-i', 'lo', '--pool-network', '10.201.40.0/24', '--pool-gateway', '10.201.99.1'], code: 'BNG_ERR_CONFIG_INVALID', field: /pool\.gateway/ },
      { what: 'range outside the network (YAML)', args: ['-i', 'lo', '--config', badPoolFile], code: 'BNG_ERR_CONFIG_INVALID', field: /dhcp\.pools\[0\]\.rangeEnd/ },
      { what: 'unknown YAML key', args: ['-i', 'lo', '--config', unknownKey, ...POOL], code: 'BNG_ERR_CONFIG_INVALID', field: /dhcp\.leaseTimez/ },
      { what: 'missing config file', args: ['-i', 'lo', '--config', join(dir, 'absent.yaml'), ...POOL], code: 'BNG_ERR_CONFIG_INVALID', field: /absent\.yaml/ },
      { what: 'bad BNG_FASTPATH_MODE', args: ['-i', 'lo', ...POOL], env: { BNG_FASTPATH_MODE: 'turbo' }, code: 'BNG_ERR_CONFIG_INVALID', field: /fastpath\.mode/ },
      { what: 'bad BNG_POOL_LEASE_TIME', args: ['-i', 'lo', ...POOL], env: { BNG_POOL_LEASE_TIME: 'soon' }, code: 'BNG_ERR_CONFIG_INVALID', field: /pool\.leaseTime/ },
      { what: 'no pool at all', args: ['-i', 'lo'], code: 'BNG_ERR_CONFIG_INVALID', field: /dhcp\.pools/ },
      { what: 'a range but no network', args: ['-i', 'lo', '--pool-range', '10.201.40.10-10.201.40.20'], code: 'BNG_ERR_CONFIG_INVALID', field: /pool\.rangeStart/ },
      { what: 'bad --metrics-addr', args: ['-i', 'lo', ...POOL, '--metrics-addr', 'localhost'], code: 'BNG_ERR_CONFIG_INVALID', field: /metricsAddr/ },
      { what: 'nonexistent interface', args: ['-i', 'nosuchif0', ...POOL], code: 'BNG_ERR_INTERFACE', field: /interface: nosuchif0/ },
    ];
    const results = await Promise.all(cases.map((c) => run(c.args, c.env)));
    const bad: string[] = [];
    for (const [i, c] of cases.entries()) {
      const r = results[i]!;
      const ok = r.code !== 0 && r.code !== null && r.stderr.includes(c.code) && c.field.test(r.stderr);
      if (!ok) bad.push(`${c.what}: exit ${r.code}\nstderr: ${r.stderr.slice(-800)}\nstdout: ${r.stdout.slice(-800)}`);
    }
    expect(bad, bad.join('\n\n')).toEqual([]);
    // none of them got as far as the state directory (the interface check comes first, too)
    expect(existsSync(join(dir, 'state')) ? readdirSync(join(dir, 'state')) : []).toEqual([]);
  }, 60_000);

  it('a relay port another server holds is a configuration error naming relay.port', async () => {
    // held without SO_REUSEADDR, as a DHCP server that owns the port would hold it
    const holder = createSocket({ type: 'udp4' });
    await new Promise<void>((r) => holder.bind(0, '0.0.0.0', () => r()));
    try {
      const port = holder.address().port;
      const r = await run(['-i', 'lo', ...POOL, '--no-fastpath', '--state-dir', join(dir, 'state-port')], { BNG_RELAY_PORT: String(port) });
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toContain('BNG_ERR_CONFIG_INVALID');
      expect(r.stderr).toMatch(new RegExp(`relay\\.port: UDP port ${port} is in use`));
    } finally {
      holder.close();
    }
  }, 30_000);
});

describe('bng run: runtime.v8Threads', () => {
  /** starts `bng run` (under `taskset -c 0` when `oneCpu`), waits for it to serve, reads what it runs as, stops it */
  async function startAndInspect(oneCpu: boolean, env: Record<string, string>, state: string): Promise<{ pid: number; cmdline: string[]; logs: Array<Record<string, unknown>>; code: number | null; stderr: string }> {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BNG_')) base[k] = v;
    const node = [process.execPath, BNG_BIN, 'run', '-i', 'lo', ...POOL, '--no-fastpath', '--no-relay', '--state-dir', join(dir, state), '--metrics-addr', '127.0.0.1:0', '--log-level', 'info'];
    const [cmd, ...args] = oneCpu ? ['taskset', '-c', '0', ...node] : node;
    const child = spawn(cmd!, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const logs = (): Array<Record<string, unknown>> =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const deadline = Date.now() + 20_000;
    while (!logs().some((l) => l.msg === 'bng running')) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`bng run did not start:\n${stderr}\n${stdout}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // read while it runs: after the restart it is still the process we spawned
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    child.kill('SIGTERM');
    const code = await exited;
    return { pid: child.pid!, cmdline, logs: logs(), code, stderr };
  }

  it('on one CPU the daemon restarts itself under node --single-threaded, keeping its PID and its output', async () => {
    const one = await startAndInspect(true, {}, 'state-v8-one');
    expect(one.code, one.stderr).toBe(0);
    expect(one.cmdline.slice(0, 2)).toEqual([process.execPath, '--single-threaded']);
    const line = one.logs.find((l) => l.msg === 'V8 helper threads');
    expect(line).toMatchObject({ setting: 'auto', cpus: 1, v8Threads: 'single', pid: one.pid });
    // the log written after the restart reached the same stdout, and the daemon stopped cleanly on SIGTERM
    expect(one.logs.some((l) => l.msg === 'lease store loaded')).toBe(true);

    // the operator's choice: pool keeps V8's threads on one CPU; single asks for the flag on any
    const [pool, single] = await Promise.all([
      startAndInspect(true, { BNG_RUNTIME_V8_THREADS: 'pool' }, 'state-v8-pool'),
      startAndInspect(false, { BNG_RUNTIME_V8_THREADS: 'single' }, 'state-v8-single'),
    ]);
    expect(pool.cmdline).not.toContain('--single-threaded');
    expect(pool.logs.find((l) => l.msg === 'V8 helper threads')).toMatchObject({ setting: 'pool', cpus: 1, v8Threads: 'pool' });
    expect(single.cmdline[1]).toBe('--single-threaded');
    expect(single.logs.find((l) => l.msg === 'V8 helper threads')).toMatchObject({ setting: 'single', v8Threads: 'single' });
    expect(pool.code).toBe(0);
    expect(single.code).toBe(0);
  }, 60_000);

  it('a bad value names runtime.v8Threads', async () => {
    const r = await run(['-i', 'lo', ...POOL], { BNG_RUNTIME_V8_THREADS: 'many' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/BNG_ERR_CONFIG_INVALID.*runtime\.v8Threads/);
  }, 30_000);
});

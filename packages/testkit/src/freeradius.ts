/**
 * Starts a real FreeRADIUS 3 (Debian package) for tests and benchmarks: a private config
 * directory under a temp dir, listening on 127.0.0.1 only, stopped by its PID. Nothing here
 * touches the system's /etc/freeradius.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { radius } from '@bng/protocols';

export interface FreeRadiusOptions {
  /** Shared secret for 127.0.0.1 (default "testing123"). */
  secret?: string;
  /** Text of the `users` file (rlm_files). */
  users?: string;
  /** Extra dictionary text loaded by the server (FreeRADIUS format). */
  dictionary?: string;
  /** Ports; 0 or absent picks free ones. The acct port is authPort+1 when picked. */
  authPort?: number;
  acctPort?: number;
  /** Adds Message-Authenticator to every Access-Accept/Reject (FreeRADIUS 3.2.1 does not by default). */
  signAccessResponses?: boolean;
  /** Thread pool size (default 8). */
  threads?: number;
  /** Extra unlang placed at the start of `accounting {}` (e.g. to drop records). */
  accountingPolicy?: string;
  /** Keep the directory after stop (default false). */
  keepDir?: boolean;
}

export interface DetailRecord {
  readonly timestamp: string;
  readonly attrs: Record<string, string>;
}

export interface FreeRadiusInstance {
  readonly dir: string;
  readonly secret: string;
  readonly authPort: number;
  readonly acctPort: number;
  pid(): number | undefined;
  /** Starts the server again with the same ports and files (after stop()). */
  start(): Promise<void>;
  /** SIGTERM by PID, then SIGKILL after 3 s; resolves when the process has exited. */
  stop(): Promise<void>;
  /** Records of the accounting detail file, in order. */
  readDetail(): DetailRecord[];
  /** Removes the directory (and stops the server). */
  dispose(): Promise<void>;
  /** Recent output of the server (for failure messages). */
  log(): string;
}

async function freePorts(): Promise<[number, number]> {
  // Two consecutive free UDP ports on loopback.
  for (let i = 0; i < 50; i++) {
    const a = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      a.once('error', reject);
      a.bind(0, '127.0.0.1', () => resolve(a.address().port));
    });
    const b = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      b.once('error', () => resolve(false));
      b.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    a.close();
    if (ok) {
      b.close();
      if (port + 1 < 65535) return [port, port + 1];
    }
  }
  throw new Error('no two consecutive free UDP ports');
}

function radiusdConf(dir: string, o: Required<Pick<FreeRadiusOptions, 'secret' | 'threads'>> & FreeRadiusOptions, authPort: number, acctPort: number): string {
  const sign = o.signAccessResponses !== false ? 'update reply {\n\t\t\tMessage-Authenticator := 0x00\n\t\t}' : '';
  return `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = ${dir}
sbindir = /usr/sbin
logdir = ${dir}/log
raddbdir = ${dir}
radacctdir = ${dir}/acct
name = freeradius
confdir = ${dir}
run_dir = ${dir}/run
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/run/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {
	destination = stdout
	colourise = no
	auth = no
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}
proxy_requests = no
thread pool {
	start_servers = ${o.threads}
	max_servers = ${o.threads}
	min_spare_servers = 1
	max_spare_servers = ${o.threads}
	max_requests_per_server = 0
	auto_limit_acct = no
}
client loopback {
	ipaddr = 127.0.0.1
	secret = ${o.secret}
	require_message_authenticator = no
	nas_type = other
}
modules {
	pap {
		normalise = yes
	}
	chap {
	}
	files {
		filename = ${dir}/users
		acctusersfile = ${dir}/acct_users
	}
	detail {
		filename = ${dir}/acct/detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
		locking = no
		log_packet_header = no
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${authPort}
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = ${acctPort}
	}
	authorize {
		chap
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
	}
	preacct {
	}
	accounting {
		${o.accountingPolicy ?? ''}
		detail
	}
	post-auth {
		${sign}
		Post-Auth-Type REJECT {
			${sign}
		}
	}
}
`;
}

export async function startFreeRadius(options: FreeRadiusOptions = {}): Promise<FreeRadiusInstance> {
  const o = { secret: 'testing123', threads: 8, ...options };
  const dir = mkdtempSync(join(tmpdir(), 'bng-freeradius-'));
  for (const sub of ['log', 'acct', 'run']) mkdirSync(join(dir, sub), { recursive: true });
  let authPort = o.authPort ?? 0;
  let acctPort = o.acctPort ?? 0;
  if (authPort === 0 || acctPort === 0) {
    const [a, b] = await freePorts();
    if (authPort === 0) authPort = a;
    if (acctPort === 0) acctPort = b;
  }
  writeFileSync(join(dir, 'radiusd.conf'), radiusdConf(dir, o, authPort, acctPort));
  writeFileSync(join(dir, 'users'), o.users ?? 'DEFAULT Auth-Type := Reject\n');
  writeFileSync(join(dir, 'acct_users'), '');
  writeFileSync(join(dir, 'dictionary'), o.dictionary ?? '');

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const start = async (): Promise<void> => {
    if (child) throw new Error('freeradius already running');
    const c = spawn('/usr/sbin/freeradius', ['-f', '-d', dir, '-n', 'radiusd'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    const append = (d: Buffer): void => {
      output = (output + d.toString()).slice(-20_000);
    };
    c.stdout?.on('data', append);
    c.stderr?.on('data', append);
    exited = new Promise<void>((resolve) => c.once('exit', () => { if (child === c) child = undefined; resolve(); }));
    // Ready when a Status-Server (RFC 5997) on the auth port is answered.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (!child) throw new Error(`freeradius exited during start:\n${output}`);
      if (await probe(authPort, o.secret, 200)) return;
    }
    throw new Error(`freeradius did not answer Status-Server within 20 s:\n${output}`);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.pid === undefined) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => { if (child === c) c.kill('SIGKILL'); }, 3000);
    await exited;
    clearTimeout(t);
  };

  await start();
  return {
    dir,
    secret: o.secret,
    authPort,
    acctPort,
    pid: () => child?.pid,
    start,
    stop,
    readDetail: () => parseDetail(existsSync(join(dir, 'acct/detail')) ? readFileSync(join(dir, 'acct/detail'), 'utf8') : ''),
    dispose: async () => {
      await stop();
      if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}

/** Parses a FreeRADIUS detail file: a header line, then tab-indented `Name = value` lines. */
export function parseDetail(text: string): DetailRecord[] {
  const out: DetailRecord[] = [];
  let cur: { timestamp: string; attrs: Record<string, string> } | undefined;
  for (const line of text.split('\n')) {
    if (line === '') { if (cur) out.push(cur); cur = undefined; continue; }
    if (!line.startsWith('\t')) { if (cur) out.push(cur); cur = { timestamp: line, attrs: {} }; continue; }
    const m = /^\t([^ ]+) = (.*)$/.exec(line);
    if (m && cur) cur.attrs[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  if (cur) out.push(cur);
  return out;
}

/** One Status-Server to 127.0.0.1:port; true when a signed answer arrives within timeoutMs. */
export async function probe(port: number, secret: string, timeoutMs: number): Promise<boolean> {
  const s = createSocket('udp4');
  const auth = randomBytes(16);
  const { bytes } = radius.encodeRequest({ code: radius.RadiusCode.StatusServer, identifier: 1, secret: Buffer.from(secret), authenticator: auth, attributes: [] });
  return new Promise<boolean>((resolve) => {
    const done = (v: boolean): void => { clearTimeout(t); s.close(); resolve(v); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('error', () => undefined);
    s.on('message', (m) => {
      try {
        const p = radius.decodePacket(m);
        done(radius.verifyResponse(p, auth, Buffer.from(secret)).ok);
      } catch {
        done(false);
      }
    });
    s.send(bytes, port, '127.0.0.1');
  });
}

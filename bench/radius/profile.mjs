#!/usr/bin/env node
/**
 * Small driver for profiling the bng RADIUS client against FreeRADIUS:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/rprof bench/radius/profile.mjs [--seconds 5] [--concurrency 256] [--rate 0]
 *
 * --rate 0 runs a closed loop; any other value paces requests at that rate (open loop). Prints
 * the rate and the client's CPU per 1000 authentications (the profiler itself adds some). One
 * FreeRADIUS with 4 threads; the requests are the ones run.mjs sends. Needs the TypeScript built
 * (npx tsc -b packages/protocols packages/testkit packages/bng). Open the .cpuprofile in Chrome
 * DevTools or any cpuprofile viewer; self time in doSend (node:dgram) is the sendmsg system call.
 */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SECONDS = Number(args.seconds ?? 5);
const CONCURRENCY = Number(args.concurrency ?? 256);
const RATE = Number(args.rate ?? 0);
const { startFreeRadius } = await import(join(root, 'packages/testkit/dist/index.js'));
const { createRadiusClient, dgramSocketFactory, silentLogger, systemClock } = await import(join(root, 'packages/bng/dist/aaa/index.js'));
const { radius } = await import(join(root, 'packages/protocols/dist/index.js'));
const dict = radius.createDictionary();
const fr = await startFreeRadius({ users: 'DEFAULT Cleartext-Password := "bench-pw"\n\tFramed-IP-Address = 100.64.0.1, Class = 0x62656e6368\n', threads: 4 });
const c = createRadiusClient(
  { name: 'bench', servers: [{ host: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: fr.secret }], timeoutMs: 3000, tries: 1 },
  { clock: systemClock, log: silentLogger, socketFactory: dgramSocketFactory, dictionary: dict },
);
// The same request as run.mjs builds: what the AAA service encodes for each subscriber.
function request(i) {
  const mac = `02:00:${((i >> 24) & 255).toString(16).padStart(2, '0')}:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  return {
    kind: 'auth',
    code: radius.RadiusCode.AccessRequest,
    attributes: [
      radius.encodeAttribute(dict, 'User-Name', mac),
      { ...radius.encodeAttribute(dict, 'User-Password', 'bench-pw'), hide: 'user-password' },
      radius.encodeAttribute(dict, 'NAS-Identifier', 'bench-olt'),
      radius.encodeAttribute(dict, 'NAS-Port-Id', 'eth1:200.100'),
      radius.encodeAttribute(dict, 'Calling-Station-Id', mac),
    ],
  };
}
let done = 0;
let i = 0;
const end = Date.now() + SECONDS * 1000;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
if (RATE === 0) {
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) {
      const r = await c.request(request(i++));
      if (r.packet.code !== radius.RadiusCode.AccessAccept || r.attributes.find((a) => a.name === 'Framed-IP-Address')?.value !== '100.64.0.1') throw new Error('not the expected Accept');
      done++;
    }
  }));
} else {
  const inflight = new Set();
  while (performance.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
    while (i < due) {
      const p = c.request(request(i++)).then(() => { done++; });
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
}
const secs = (performance.now() - t0) / 1000;
const cu = process.cpuUsage(cpu0);
c.close();
await fr.dispose();
console.log(`${(done / secs).toFixed(0)} auth/s, client CPU ${(((cu.user + cu.system) / 1e6 / done) * 1000).toFixed(3)} s per 1000 (user ${(cu.user / 1e3 / done).toFixed(3)} ms, sys ${(cu.system / 1e3 / done).toFixed(3)} ms per auth)`);

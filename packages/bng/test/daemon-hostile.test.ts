// `bng run` under a storm of malformed DHCP frames while a real client keeps its lease: frames
// truncated at every length, option lengths that run past the end, option overload with garbage
// in sname/file, bad IPv4/UDP lengths, and 10,000 randomly corrupted requests, all sent from a
// scripted AF_PACKET socket on the same segment. The fast path is off so every frame reaches
// userspace. The daemon stays up and healthy, the client renews, and the error counters rose.
import { afterAll, describe, expect, it } from 'vitest';
import { buildDhcp4Frame, buildUdpFrame, dhcp4, type VlanTag } from '@bng/protocols';
import { addressesOf, waitFor } from '@bng/testkit';
import { Daemon, ScriptedPort, Testbed, addClientNs, addRootPort, buildSegment, sleep, startUdhcpc, type HealthBody, type LeaseRow } from './daemon-helpers.js';

const LEASE_S = 30;
const NET = '10.201.31';
const SEED = Number(process.env.BNG_TEST_SEED ?? 0x5eed) >>> 0;
const beds: Testbed[] = [];
afterAll(() => {
  for (const tb of beds) tb.destroy();
});

/** mulberry32: a small seeded generator, so a failing storm can be replayed */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ETH = 14;
const IP = ETH;
const UDP = ETH + 20;
const DHCP = UDP + 8;

interface Corpus {
  /** name of the family -> frames */
  families: Map<string, Uint8Array[]>;
  /** bases the random corruption starts from */
  bases: Uint8Array[];
}

function corpus(srcMac: string, serverIp: string): Corpus {
  const { MessageType, OptionCode } = dhcp4;
  const chaddr = (n: number) => dhcp4.chaddrOf(Uint8Array.of(0x02, 0x66, 0, 0, n >> 8, n & 0xff));
  const opts = (type: number, extra: dhcp4.Dhcp4Option[] = []) => [
    dhcp4.messageTypeOption(type),
    dhcp4.bytesOption(OptionCode.CLIENT_ID, Uint8Array.of(1, 0x02, 0x66, 0, 0, 0, 1)),
    dhcp4.stringOption(OptionCode.HOSTNAME, 'hostile'),
    dhcp4.bytesOption(OptionCode.PARAMETER_REQUEST_LIST, Uint8Array.of(1, 3, 6, 15, 51, 54)),
    ...extra,
  ];
  const msgs = [
    dhcp4.createDhcp4Message({ xid: 1, chaddr: chaddr(1), options: opts(MessageType.DHCPDISCOVER) }),
    dhcp4.createDhcp4Message({
      xid: 2,
      chaddr: chaddr(2),
      options: opts(MessageType.DHCPREQUEST, [dhcp4.ipOption(OptionCode.REQUESTED_IP, `${NET}.120`), dhcp4.ipOption(OptionCode.SERVER_ID, serverIp)]),
    }),
    dhcp4.createDhcp4Message({ xid: 3, chaddr: chaddr(3), ciaddr: `${NET}.121`, options: opts(MessageType.DHCPREQUEST) }),
    dhcp4.createDhcp4Message({ xid: 4, chaddr: chaddr(4), ciaddr: `${NET}.122`, options: opts(MessageType.DHCPRELEASE, [dhcp4.ipOption(OptionCode.SERVER_ID, serverIp)]) }),
    dhcp4.createDhcp4Message({ xid: 5, chaddr: chaddr(5), options: opts(MessageType.DHCPDECLINE, [dhcp4.ipOption(OptionCode.REQUESTED_IP, `${NET}.123`)]) }),
    dhcp4.createDhcp4Message({ xid: 6, chaddr: chaddr(6), ciaddr: `${NET}.124`, options: opts(MessageType.DHCPINFORM) }),
    dhcp4.createDhcp4Message({
      xid: 7,
      chaddr: chaddr(7),
      giaddr: `${NET}.9`,
      hops: 1,
      options: opts(MessageType.DHCPDISCOVER, [
        dhcp4.relayAgentInfoOption({ circuitId: new TextEncoder().encode('olt1/pon0/ont7'), remoteId: new TextEncoder().encode('hostile') }),
      ]),
    }),
  ];
  const frame = (payload: Uint8Array, extra: { vlans?: VlanTag[] } = {}) =>
    buildUdpFrame({ dstMac: 'ff:ff:ff:ff:ff:ff', srcMac, srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload, ...extra });
  const bases = msgs.map((m) => buildDhcp4Frame(m, { srcMac }));
  const payloads = msgs.map((m) => dhcp4.encodeDhcp4(m, { pad: false }));
  const families = new Map<string, Uint8Array[]>();

  // the frame cut at every length: lower layers first, then the DHCP message inside them
  families.set('frame truncated', Array.from({ length: bases[0]!.length }, (_, n) => bases[0]!.slice(0, n)).filter((f) => f.length >= ETH));
  families.set(
    'payload truncated (consistent IP/UDP lengths)',
    payloads.flatMap((p) => Array.from({ length: p.length }, (_, n) => frame(p.slice(0, n)))),
  );

  // option lengths that run past the end of their area, at every option of every message
  const overrun: Uint8Array[] = [];
  for (const p of payloads) {
    for (let i = 240; i < p.length && p[i] !== 255; ) {
      const len = p[i + 1]!;
      for (const bad of [255, p.length - i, p.length - i - 1, len + 1]) {
        const q = Uint8Array.from(p);
        q[i + 1] = bad & 0xff;
        overrun.push(frame(q));
      }
      i += 2 + len;
    }
    // an option header with no length octet, a lone code at the very end, no End at all
    overrun.push(frame(Uint8Array.of(...p.slice(0, p.length - 1), 61)));
    overrun.push(frame(p.slice(0, p.length - 1)));
  }
  families.set('option length overrun', overrun);

  // option overload (52) with every value and garbage in sname/file
  const overload: Uint8Array[] = [];
  const random = rng(SEED ^ 0x52);
  for (const value of [0, 1, 2, 3, 4, 255]) {
    for (let k = 0; k < 8; k++) {
      const m = dhcp4.createDhcp4Message({ xid: 0x5200 + k, chaddr: chaddr(0x52), options: [] });
      const p = dhcp4.encodeDhcp4(m, { pad: false });
      const sname = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
      const file = Uint8Array.from({ length: 128 }, () => Math.floor(random() * 256));
      if (k % 2 === 0) {
        // garbage that at least starts like options: code, a length past the field, ...
        file[0] = 53;
        file[1] = 200;
        sname[0] = 52;
        sname[1] = 1;
        sname[2] = 3;
      }
      const q = Uint8Array.from(p);
      q.set(sname, 44);
      q.set(file, 108);
      const tail = Uint8Array.of(53, 1, 1, 52, 1, value, ...(k % 3 === 0 ? [52, 1, value] : []), ...(k % 4 === 1 ? [] : [255]));
      overload.push(frame(Uint8Array.of(...q.slice(0, 240), ...tail)));
    }
  }
  families.set('option overload with garbage sname/file', overload);

  // broken IPv4 and UDP headers around a good message
  const headers: Uint8Array[] = [];
  const good = bases[0]!;
  const patch = (at: number, bytes: number[]) => {
    const f = Uint8Array.from(good);
    f.set(bytes, at);
    return f;
  };
  for (const udpLen of [0, 1, 7, 8, 9, 100, good.length - UDP - 1, good.length - UDP + 1, 0xffff]) headers.push(patch(UDP + 4, [udpLen >> 8, udpLen & 0xff]));
  for (const ipLen of [0, 19, 20, 27, 28, good.length - IP - 1, good.length - IP + 1, 0xffff]) headers.push(patch(IP + 2, [ipLen >> 8, ipLen & 0xff]));
  for (const vihl of [0x40, 0x44, 0x46, 0x4f, 0x45 | 0x10, 0x65]) headers.push(patch(IP, [vihl]));
  headers.push(patch(IP + 6, [0x20, 0x00])); // more fragments
  headers.push(patch(IP + 6, [0x00, 0x10])); // a later fragment
  headers.push(patch(UDP + 6, [0xde, 0xad])); // wrong UDP checksum
  headers.push(patch(DHCP + 236, [0, 0, 0, 0])); // no magic cookie
  headers.push(patch(DHCP, [2])); // a BOOTREPLY
  headers.push(patch(DHCP + 2, [255])); // hlen 255
  headers.push(frame(payloads[0]!, { vlans: [{ tpid: 0x88a8, vid: 4095 }, { tpid: 0x8100, vid: 0 }] }));
  headers.push(frame(payloads[1]!, { vlans: [{ tpid: 0x8100, vid: 7 }] }));
  families.set('bad IPv4/UDP headers', headers);

  return { families, bases };
}

/** Random corruption of a good request: a few bytes anywhere past the Ethernet header. */
function* corrupted(bases: Uint8Array[], seed: number): Generator<Uint8Array> {
  const random = rng(seed);
  // the bytes the kernel's socket filter looks at; kept most of the time so the frame reaches the daemon
  const filterBytes = new Set([12, 13, IP, IP + 6, IP + 7, IP + 9, UDP + 2, UDP + 3]);
  for (;;) {
    const base = bases[Math.floor(random() * bases.length)]!;
    let f = Uint8Array.from(base);
    const hits = 1 + Math.floor(random() * 12);
    const anywhere = random() < 0.1;
    for (let k = 0; k < hits; k++) {
      const at = ETH + Math.floor(random() * (f.length - ETH));
      if (!anywhere && filterBytes.has(at)) continue;
      f[at] = Math.floor(random() * 256);
    }
    const r = random();
    if (r < 0.15) f = f.slice(0, ETH + Math.floor(random() * (f.length - ETH)));
    else if (r < 0.25) f = Uint8Array.of(...f, ...Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
    yield f;
  }
}

/** Sends as a batch; a frame the kernel refuses (EINVAL and the like) is skipped alone. */
function sendLoose(port: ScriptedPort, frames: Uint8Array[]): number {
  try {
    port.send(frames);
    return frames.length;
  } catch {
    let sent = 0;
    for (const f of frames) {
      try {
        port.send([f]);
        sent++;
      } catch {
        // refused by the kernel: never reached the wire
      }
    }
    return sent;
  }
}

describe('bng run under hostile input', () => {
  it('malformed and corrupted frames: the daemon stays up, a real client keeps renewing, the error counters rise', async () => {
    const tb = new Testbed('dho');
    beds.push(tb);
    const { lab } = tb;
    const seg = buildSegment(lab, NET, { fastPath: false });
    const daemon = await Daemon.start(tb, {
      ifname: seg.serverIf,
      stateDir: `${lab.dir}/state`,
      args: ['--pool-network', `${NET}.0/24`, '--pool-gateway', `${NET}.1`, '--pool-range', `${NET}.20-${NET}.250`, '--pool-lease-time', String(LEASE_S), '--no-fastpath', '--no-relay'],
    });
    const hostile = addRootPort(lab, seg, 'h');
    const port = new ScriptedPort(hostile.ifname);
    tb.onDestroy(() => port.close());
    const client = startUdhcpc(tb, addClientNs(lab, seg, 'ud'));
    const diag = async (): Promise<string> =>
      `seed ${SEED}\n--- udhcpc ${JSON.stringify(client.events())}\n${client.proc.output().slice(-1500)}\n--- daemon (${daemon.running ? 'running' : 'gone'})\n${daemon.proc.output().slice(-4000)}\n--- stats ${JSON.stringify(await daemon.stats().catch(() => 'n/a'))}`;

    try {
      const lease = await waitFor(
        'udhcpc bound',
        async () => {
          const l = (await daemon.leases()).find((r) => r.mac === client.port.mac && r.state === 'bound');
          return l && addressesOf(lab, client.port.ns, client.port.ifname).includes(l.ip) ? l : undefined;
        },
        30_000,
        250,
      );
      const m0 = await daemon.metrics();
      const renewsBefore = client.events().filter((e) => e.reason === 'renew').length;

      // the storm: every crafted family once, then random corruption until the client has
      // renewed in the middle of it (T1 = 15 s), at about a thousand frames a second
      const { families, bases } = corpus(hostile.mac, `${NET}.1`);
      const crafted = [...families.values()].flat();
      const random = corrupted(bases, SEED);
      let sent = 0;
      let randomSent = 0;
      let offset = 0;
      const deadline = Date.now() + (LEASE_S / 2 + 30) * 1000;
      for (;;) {
        const renewed = client.events().filter((e) => e.reason === 'renew').length > renewsBefore;
        if (renewed && offset >= crafted.length && randomSent >= 10_000) break;
        if (Date.now() > deadline) throw new Error(`storm: the client did not renew (sent ${sent}, random ${randomSent})`);
        if (!daemon.running) throw new Error('the daemon died in the storm');
        const batch: Uint8Array[] = crafted.slice(offset, offset + 48);
        offset += batch.length;
        while (batch.length < 64) {
          batch.push(random.next().value as Uint8Array);
          randomSent++;
        }
        sent += sendLoose(port, batch);
        await sleep(50);
      }

      // still serving: alive, ready, and the good client's lease was extended with its address
      expect(daemon.running).toBe(true);
      expect((await daemon.get<HealthBody>('/healthz')).status).toBe(200);
      expect((await daemon.get<HealthBody>('/readyz')).status).toBe(200);
      const after = (await daemon.leases()).find((r: LeaseRow) => r.mac === client.port.mac && r.state === 'bound');
      expect(after?.ip).toBe(lease.ip);
      expect(after!.expiresAtMs).toBeGreaterThan(lease.expiresAtMs);
      expect(addressesOf(lab, client.port.ns, client.port.ifname)).toContain(lease.ip);
      expect(client.events().filter((e) => e.reason === 'nak' || e.reason === 'deconfig').length).toBeLessThanOrEqual(1); // the one deconfig at start

      // and it noticed: malformed frames and undecodable messages were counted, not served
      const m1 = await daemon.metrics();
      const malformed = m1.get('bng_dhcp_errors_total', { kind: 'malformed_frame' }) - m0.get('bng_dhcp_errors_total', { kind: 'malformed_frame' });
      const decode = m1.get('bng_dhcp_slowpath_outcomes_total', { reason: 'DECODE_ERROR' }) - m0.get('bng_dhcp_slowpath_outcomes_total', { reason: 'DECODE_ERROR' });
      expect(malformed).toBeGreaterThan(100);
      expect(decode).toBeGreaterThan(1000);
      const stats = await daemon.stats();
      // most of the storm got past the socket filter into userspace
      expect(stats.slowPath.rxFrames).toBeGreaterThan(8_000);
      expect(stats.slowPath.journalErrors).toBe(0);
      // message types a sender made up share one label value instead of one series each
      const types = new Set(m1.samples.filter((s) => s.name === 'bng_dhcp_requests_total').map((s) => s.labels.type));
      expect([...types].filter((t) => !['DISCOVER', 'REQUEST', 'DECLINE', 'RELEASE', 'INFORM', 'OFFER', 'ACK', 'NAK', 'NONE', 'OTHER'].includes(t!))).toEqual([]);
      expect(stats.slowPath.requests.OTHER).toBeGreaterThan(0);
      // one more ordinary exchange after the storm: the client renews on request and is answered
      const renewals = client.events().filter((e) => e.reason === 'renew').length;
      client.proc.child.kill('SIGUSR1');
      await waitFor('a renewal on request after the storm', () => client.events().filter((e) => e.reason === 'renew').length > renewals, 15_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await diag()}`);
    }
    expect(await daemon.stop()).toBe(0);
  }, 120_000);
});

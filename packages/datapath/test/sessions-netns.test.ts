// Per-subscriber sessions end to end: a veth pair between this namespace (the BNG side, with the
// fast path attached: XDP ingress and TC egress) and a subscriber namespace. ping proves the
// counters move by exactly the IP bytes exchanged, in both directions, and keep counting across
// a restart of the control plane; the walled garden holds; iperf3 proves the policers hold TCP
// near the configured rate both ways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhcpFastPath, SESSION_TC_HANDLE, XdpAttachment, boottimeNs, type SessionUsage } from '@bng/datapath';
import { Lab, waitFor } from '@bng/testkit';

const NET = '198.18.51'; // unique among the tests: they may run at once
const BNG = `${NET}.1`;
const SUB = `${NET}.50`;
const RATE_KBPS = 20_000;

let lab: Lab;
let ns: string;
let bngIf: string;
let pinDir: string;
let fp: DhcpFastPath;

function attach(): DhcpFastPath {
  return DhcpFastPath.attach({ ifname: bngIf, serverIp: BNG, mode: 'native', pinDir, detachOnExit: true });
}

function usage(): SessionUsage {
  const u = fp.sessionUsage(SUB);
  if (!u) throw new Error(`no session for ${SUB}`);
  return u;
}

/** The bpf filters on the BNG side's egress hook, from tc itself. */
function egressFilters(): Array<{ handle: string; progId: number }> {
  const out = lab.exec(undefined, 'tc', ['-j', 'filter', 'show', 'dev', bngIf, 'egress']);
  return (JSON.parse(out || '[]') as Array<{ kind?: string; options?: { handle?: string; prog?: { id?: number } } }>)
    .filter((f) => f.kind === 'bpf' && f.options?.handle)
    .map((f) => ({ handle: f.options!.handle!, progId: f.options!.prog?.id ?? 0 }));
}

function ping(count: number, size = 100): void {
  lab.exec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-s', String(size), '-W', '2', BNG], { timeoutMs: 15_000 });
}

const HANDLE = `0x${SESSION_TC_HANDLE.toString(16)}`;

beforeAll(() => {
  lab = new Lab('ses');
  ns = lab.addNs('c');
  let subIf: string;
  [bngIf, subIf] = lab.veth('b', undefined, 's', ns);
  lab.ip(undefined, 'addr', 'add', `${BNG}/24`, 'dev', bngIf);
  lab.ip(undefined, 'link', 'set', bngIf, 'up');
  lab.ip(ns, 'addr', 'add', `${SUB}/24`, 'dev', subIf);
  lab.ip(ns, 'link', 'set', subIf, 'up');
  pinDir = `/sys/fs/bpf/bng-test/${lab.id}`;
  fp = attach();
});

afterAll(() => {
  try {
    fp?.close({ detach: true });
    DhcpFastPath.detach(bngIf, { pinDir, unpin: true });
  } catch {
    // the interface may be gone already
  }
  lab?.destroy();
});

describe('sessions in network namespaces', () => {
  it('ping: both directions counted by exactly the IP bytes exchanged, also while the control plane is down', () => {
    fp.setSession(SUB, {});
    const t0 = boottimeNs();
    // 100 bytes of ICMP data: 128-byte datagrams each way (20 IP + 8 ICMP + 100)
    ping(5);
    const t1 = boottimeNs();
    const u = usage();
    expect(u).toMatchObject({ rxPackets: 5n, rxBytes: 640n, txPackets: 5n, txBytes: 640n, policedUp: 0n, policedDown: 0n, walledDrops: 0n });
    expect(u.lastRxNs > t0 && u.lastRxNs < t1).toBe(true);
    const [filter] = egressFilters();
    expect(egressFilters()).toEqual([{ handle: HANDLE, progId: filter!.progId }]);

    // The control plane stops without detaching: both programs stay and keep counting.
    const xdpId = XdpAttachment.query(bngIf);
    fp.close();
    expect(XdpAttachment.query(bngIf)).toBe(xdpId);
    expect(egressFilters()).toEqual([filter]);
    ping(3);
    // It starts again: the programs are replaced (new ids, still one filter) over the pinned
    // maps, which carry what was counted meanwhile.
    fp = attach();
    expect(usage()).toMatchObject({ rxPackets: 8n, rxBytes: 1024n, txPackets: 8n, txBytes: 1024n });
    expect(XdpAttachment.query(bngIf)).not.toBe(xdpId);
    const after = egressFilters();
    expect(after).toHaveLength(1);
    expect(after[0]!.handle).toBe(HANDLE);
    expect(after[0]!.progId).not.toBe(filter!.progId);
    ping(3);
    expect(usage()).toMatchObject({ rxPackets: 11n, rxBytes: 1408n, txPackets: 11n, txBytes: 1408n });
  });

  it('walled, set through openPinned as a CLI would: traffic outside the garden goes nowhere and is counted', () => {
    // the pinned maps and the pinned bng_session_set, no attach
    const cli = DhcpFastPath.openPinned(bngIf, pinDir);
    try {
      expect(cli.sessionUsage(SUB)).toEqual(usage());
      cli.setWalledGarden(['192.0.2.0/24']); // the BNG's own address is outside
      cli.setSession(SUB, { walled: true });
      const before = usage();
      expect(() => ping(2)).toThrow(); // no reply
      expect(usage()).toMatchObject({ rxPackets: before.rxPackets + 2n, txPackets: before.txPackets, walledDrops: 2n });
      cli.setWalledGarden([`${BNG}/32`]);
      ping(1);
      expect(usage()).toMatchObject({ rxPackets: before.rxPackets + 3n, txPackets: before.txPackets + 1n, walledDrops: 2n });
      cli.setSession(SUB, {});
    } finally {
      cli.close();
    }
  });

  it(`iperf3 through the policers at ${RATE_KBPS / 1000} Mbit/s each way lands within 15% of the rate`, async () => {
    fp.setSession(SUB, { upKbps: RATE_KBPS, downKbps: RATE_KBPS });
    const port = String(20000 + (process.pid % 10000));
    const server = lab.spawn(undefined, 'iperf3', ['-s', '-B', BNG, '-p', port, '--forceflush']);
    await waitFor('the iperf3 server', () => server.output().includes('Server listening'), 10_000);

    const run = async (reverse: boolean): Promise<{ bps: number; bytes: number; sent: number }> => {
      // no omitted warm-up (-O): the counters see the whole transfer, so must iperf3's totals
      const client = lab.spawn(ns, 'iperf3', ['-c', BNG, '-p', port, '-t', '8', '-J', ...(reverse ? ['-R'] : [])]);
      const code = await client.exited;
      expect(code, client.output()).toBe(0);
      const { end } = JSON.parse(client.output()) as { end: Record<'sum_sent' | 'sum_received', { bits_per_second: number; bytes: number }> };
      return { bps: end.sum_received.bits_per_second, bytes: end.sum_received.bytes, sent: end.sum_sent.bytes };
    };

    const u0 = usage();
    const up = await run(false);
    const u1 = usage();
    const down = await run(true);
    const u2 = usage();
    const rates = { upMbps: up.bps / 1e6, downMbps: down.bps / 1e6 };
    console.log(`iperf3 through ${RATE_KBPS / 1000} Mbit/s policers: ${JSON.stringify(rates)}, drops up ${u2.policedUp} down ${u2.policedDown}`);

    expect(up.bps).toBeGreaterThan(RATE_KBPS * 1000 * 0.85);
    expect(up.bps).toBeLessThan(RATE_KBPS * 1000 * 1.15);
    expect(down.bps).toBeGreaterThan(RATE_KBPS * 1000 * 0.85);
    expect(down.bps).toBeLessThan(RATE_KBPS * 1000 * 1.15);
    // the policers did the limiting (a veth carries gigabits)
    expect(u2.policedUp).toBeGreaterThan(0n);
    expect(u2.policedDown).toBeGreaterThan(0n);
    // The counters carry the transfer in IP bytes: 1,500 for every 1,448 bytes of payload (20
    // IP + 32 TCP with timestamps). At least what the receiver read crossed the BNG; at most
    // what the sender wrote (data still unread at the end lies between), plus a few
    // retransmitted duplicates. Upstream counts what arrived, dropped or not: the policed
    // packets are taken off as full-size data segments, which nearly all of them are (hence
    // 1% of slack below).
    const wire = 1500 / 1448;
    const passedUp = Number(u1.rxBytes - u0.rxBytes - (u1.policedUp - u0.policedUp) * 1500n);
    const passedDown = Number(u2.txBytes - u1.txBytes);
    console.log(
      `counted IP bytes / payload x ${wire.toFixed(4)}: up ${(passedUp / (up.bytes * wire)).toFixed(4)} of read, ${(passedUp / (up.sent * wire)).toFixed(4)} of written; ` +
        `down ${(passedDown / (down.bytes * wire)).toFixed(4)} of read, ${(passedDown / (down.sent * wire)).toFixed(4)} of written`,
    );
    for (const [counted, run] of [[passedUp, up], [passedDown, down]] as const) {
      expect(counted).toBeGreaterThanOrEqual(run.bytes * wire * 0.99);
      expect(counted).toBeLessThanOrEqual(run.sent * wire * 1.03);
    }
    server.child.kill('SIGTERM');
    await server.exited;
  }, 60_000);

  it('detach removes the XDP program and the egress filter; traffic then passes uncounted', () => {
    DhcpFastPath.detach(bngIf);
    expect(XdpAttachment.query(bngIf)).toBe(0);
    expect(egressFilters()).toEqual([]);
    const before = usage(); // the maps are still pinned: this process still reads them
    ping(2);
    expect(usage()).toEqual(before);
    DhcpFastPath.detach(bngIf); // nothing attached: fine
  });
});

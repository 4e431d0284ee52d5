// `bng demo`: a lab of network namespaces behind one subscriber-facing veth, the XDP fast path
// attached to it, real dhclient and udhcpc clients, one unprovisioned client, and a perfdhcp
// burst through a relay address. Prints what the kernel answered as it happens, then cleans up.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DhcpFastPath, type FastPathEvent } from '@bng/datapath';
import { Lab, addressesOf } from '@bng/testkit';

export interface DemoOptions {
  clients: number;
  seconds: number;
}

const NET = '198.18.200';

export async function runDemo(o: DemoOptions): Promise<void> {
  const lab = new Lab('dem');
  let fp: DhcpFastPath | undefined;
  const pinDir = `/sys/fs/bpf/bng-demo/${lab.id}`;
  const cleanup = () => {
    try {
      fp?.close({ detach: true });
      DhcpFastPath.detach(`${lab.id}s`, { pinDir, unpin: true });
    } catch {
      // already gone
    }
    lab.destroy();
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    console.log(`lab ${lab.id}: building an access segment with ${o.clients} subscribers ...`);
    const acc = lab.addNs('acc');
    lab.ip(acc, 'link', 'add', 'br0', 'type', 'bridge');
    lab.ip(acc, 'link', 'set', 'br0', 'up');
    const [bngIf, accIf] = lab.veth('s', undefined, 'a', acc);
    lab.ip(undefined, 'addr', 'add', `${NET}.1/24`, 'dev', bngIf);
    lab.ip(undefined, 'link', 'set', bngIf, 'up');
    lab.ip(acc, 'link', 'set', accIf, 'master', 'br0', 'up');
    lab.xdpPass(acc, accIf);

    fp = DhcpFastPath.attach({ ifname: bngIf, serverIp: `${NET}.1`, pinDir, detachOnExit: true });
    fp.setPool(1, { netmask: '255.255.255.0', gateway: `${NET}.1`, dns: ['198.18.0.53'], domain: 'demo.bng', leaseTimeS: 30 });
    const events: FastPathEvent[] = [];
    fp.onEvents((e) => events.push(...e));

    const hook = join(lab.dir, 'hook');
    writeFileSync(
      hook,
      '#!/bin/sh\n' +
        'case "$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface";; esac\n' +
        'case "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; esac\n',
    );
    chmodSync(hook, 0o755);

    const clients: Array<{ ns: string; ifname: string; ip: string; kind: string }> = [];
    for (let i = 0; i < o.clients + 1; i++) {
      const ns = lab.addNs(`c${i}`);
      const [cif, pif] = lab.veth(`c${i}`, ns, `p${i}`, acc);
      lab.ip(acc, 'link', 'set', pif, 'master', 'br0', 'up');
      lab.ip(ns, 'link', 'set', cif, 'up');
      const mac = JSON.parse(lab.ip(ns, '-j', 'link', 'show', cif))[0].address as string;
      const provisioned = i < o.clients;
      const ip = `${NET}.${10 + i}`;
      if (provisioned) fp.setSubscriber({ mac }, { ip, poolId: 1 });
      const kind = i % 2 === 0 ? 'dhclient' : 'udhcpc';
      clients.push({ ns, ifname: cif, ip: provisioned ? ip : '(not provisioned)', kind });
      if (kind === 'dhclient') {
        lab.spawn(ns, 'dhclient', ['-4', '-d', '-sf', hook, '-lf', join(lab.dir, `lease${i}`), '-pf', join(lab.dir, `pid${i}`), cif]);
      } else {
        lab.spawn(ns, 'udhcpc', ['-f', '-i', cif, '-s', hook, '-t', '100', '-T', '2']);
      }
    }
    // a relay-like perfdhcp source on the same segment
    const relay = lab.addNs('relay');
    const [rif, rpif] = lab.veth('r', relay, 'rp', acc);
    lab.ip(acc, 'link', 'set', rpif, 'master', 'br0', 'up');
    lab.ip(relay, 'addr', 'add', `${NET}.250/24`, 'dev', rif);
    lab.ip(relay, 'link', 'set', rif, 'up');
    const burst: Array<[{ mac: string }, { ip: string; poolId: number }]> = [];
    for (let i = 0; i < 1000; i++) {
      burst.push([{ mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` }, { ip: `198.19.${i >> 8}.${i & 255}`, poolId: 1 }]);
    }
    fp.setSubscribers(burst);

    console.log(`fast path attached to ${bngIf} (server ${NET}.1); maps pinned in ${pinDir}`);
    console.log(`inspect from another shell:  bin/bng fastpath stats -i ${bngIf}    bin/bng subscriber list -i ${bngIf}`);
    console.log('');

    const started = Date.now();
    let perfStarted = false;
    let perf: ReturnType<Lab['spawn']> | undefined;
    let allBoundAt = 0;
    let last = fp.readCounters();
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      fp.pollEvents();
      const c = fp.readCounters();
      const bound = clients.filter((cl) => cl.ip !== '(not provisioned)' && addressesOf(lab, cl.ns, cl.ifname).includes(cl.ip)).length;
      const rate = (k: string) => c[k]! - last[k]!;
      const t = ((Date.now() - started) / 1000).toFixed(0).padStart(3);
      console.log(
        `t=${t}s  bound ${String(bound).padStart(2)}/${o.clients}  kernel: offers ${c.tx_offer} (+${rate('tx_offer')}/s) acks ${c.tx_ack} (+${rate('tx_ack')}/s) naks ${c.tx_nak}  ` +
          `to userspace: unknown ${c.pass_unknown_subscriber} other ${c.pass_msg_type! + c.pass_other_server!}  lease events ${events.length}`,
      );
      last = c;
      if (bound === o.clients && !perfStarted) {
        perfStarted = true;
        allBoundAt = Date.now();
        console.log(`all ${o.clients} clients bound from the kernel; a perfdhcp burst (1,000 relayed clients at 2,000/s for 5 s) ...`);
        perf = lab.spawn(relay, 'perfdhcp', ['-4', '-l', `${NET}.250`, '-r', '2000', '-R', '1000', '-b', 'mac=02:00:00:00:00:00', '-p', '5', `${NET}.1`]);
        void perf.exited.then(() => {
          const out = perf!.output();
          const rx = [...out.matchAll(/received packets: (\d+)/g)].map((m) => m[1]);
          const tx = [...out.matchAll(/sent packets: (\d+)/g)].map((m) => m[1]);
          console.log(`perfdhcp: DISCOVER ${tx[0]} -> OFFER ${rx[0]}, REQUEST ${tx[1]} -> ACK ${rx[1]}`);
        });
      }
      if (Date.now() - started > 120_000 && !perfStarted) throw new Error('clients did not bind within 120 s');
      if (allBoundAt && Date.now() - allBoundAt > Math.max(o.seconds, 8) * 1000) break;
    }
    await perf?.exited;
    console.log('');
    for (const cl of clients) console.log(`  ${cl.kind.padEnd(9)} ${cl.ns.padEnd(14)} ${cl.ip.padEnd(18)} has ${addressesOf(lab, cl.ns, cl.ifname).join(',') || '-'}`);
    console.log('');
    console.log('counters (bng_counters, by reason):');
    for (const [k, v] of Object.entries(fp.readCounters())) if (v > 0n) console.log(`  ${k.padEnd(28)} ${v}`);
    console.log('\nthe unprovisioned client got no answer from the kernel: it is handed to userspace (pass_unknown_subscriber).');
  } finally {
    cleanup();
    console.log('lab removed');
  }
}

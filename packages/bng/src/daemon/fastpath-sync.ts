/**
 * Keeps the XDP fast path's maps in step with the lease store. Every binding the slow path
 * commits (ACK) is written by chaddr into bng_subscribers_by_mac so the next renewal is answered
 * in the kernel; release, decline and expiry remove it. Renewals the kernel answered come back as
 * ring-buffer events and extend the stored lease; a lost event is recovered by reading the map
 * before a lease is expired. Clocks: the store keeps wall-clock ms, the kernel CLOCK_BOOTTIME ns.
 */
import { boottimeNs, type DhcpFastPath, type FastPathEvent } from '@bng/datapath';
import { u32ToIp } from '@bng/protocols';
import type { ResolvedPool } from '../dhcp/config.js';
import { LeaseState, type LeaseRecord, type LeaseStore } from '../dhcp/lease-store.js';
import type { Dhcp4Logger } from '../dhcp/types.js';

export interface FastPathSyncStats {
  binds: number;
  unbinds: number;
  kernelAcks: number;
  kernelNaks: number;
  /** kernel ACK events that extended a stored lease */
  extended: number;
  /** events for a binding the store does not hold (ignored) */
  strayEvents: number;
  /** leases whose expiry was moved by the map's value (a lost event recovered) */
  recovered: number;
  mapErrors: number;
}

export class FastPathSync {
  readonly stats: FastPathSyncStats = { binds: 0, unbinds: 0, kernelAcks: 0, kernelNaks: 0, extended: 0, strayEvents: 0, recovered: 0, mapErrors: 0 };
  private readonly poolIds = new Map<string, number>();

  constructor(
    private readonly fp: DhcpFastPath,
    private readonly store: LeaseStore,
    pools: readonly ResolvedPool[],
    private readonly log: Dhcp4Logger,
  ) {
    for (const p of pools) {
      const id = p.index + 1;
      this.poolIds.set(p.name, id);
      fp.setPool(id, {
        netmask: u32ToIp(p.netmask),
        ...(p.gateway !== undefined ? { gateway: u32ToIp(p.gateway) } : {}),
        // the kernel carries at most two DNS servers; a pool with more stays in the slow path
        dns: p.dns.slice(0, 2).map(u32ToIp),
        serverIp: u32ToIp(p.serverId),
        leaseTimeS: p.leaseTime,
        t1S: p.renewalTime,
        t2S: p.rebindingTime,
        ...(p.domain !== undefined ? { domain: p.domain } : {}),
      });
    }
  }

  /** Kernel-clock expiry for a store expiry. */
  private toBoot(expiresAtMs: number, nowMs: number): bigint {
    const left = Math.max(0, expiresAtMs - nowMs);
    return boottimeNs() + BigInt(Math.round(left)) * 1_000_000n;
  }

  private toWall(bootNs: bigint, nowMs: number): number {
    return nowMs + Number((bootNs - boottimeNs()) / 1_000_000n);
  }

  bind(lease: LeaseRecord, nowMs: number): void {
    const poolId = this.poolIds.get(lease.pool);
    if (poolId === undefined || lease.mac === '') return;
    try {
      this.fp.setSubscriber({ mac: lease.mac }, { ip: lease.ip, poolId, leaseExpiresNs: this.toBoot(lease.expiresAtMs, nowMs) });
      this.stats.binds++;
    } catch (e) {
      this.stats.mapErrors++;
      this.log.error({ err: (e as Error).message, ip: lease.ip, mac: lease.mac }, 'fast path: writing the binding failed; the slow path keeps answering this client');
    }
  }

  unbind(lease: LeaseRecord): void {
    if (lease.mac === '') return;
    try {
      // only the binding this lease wrote: the MAC may hold a newer address by now
      const cur = this.fp.getSubscriber({ mac: lease.mac });
      if (cur && cur.ip === lease.ip) {
        this.fp.deleteSubscriber({ mac: lease.mac });
        this.stats.unbinds++;
      }
    } catch (e) {
      this.stats.mapErrors++;
      this.log.error({ err: (e as Error).message, ip: lease.ip, mac: lease.mac }, 'fast path: removing the binding failed');
    }
  }

  /** Kernel ACKs extend the stored lease (journaled like any other change). */
  onEvents(events: FastPathEvent[], nowMs: number): void {
    for (const ev of events) {
      if (ev.type === 'nak') {
        this.stats.kernelNaks++;
        continue;
      }
      this.stats.kernelAcks++;
      const rec = this.store.get(ev.ip);
      if (!rec || rec.state !== LeaseState.BOUND || rec.mac !== ev.mac) {
        this.stats.strayEvents++;
        continue;
      }
      const expiresAtMs = this.toWall(ev.leaseExpiresNs, nowMs);
      if (expiresAtMs > rec.expiresAtMs) {
        this.store.put({ ...rec, expiresAtMs, updatedAtMs: nowMs });
        this.stats.extended++;
      }
    }
  }

  /**
   * Before the server expires leases: a lease the kernel renewed (its event lost or not yet
   * read) takes the map's expiry instead of lapsing.
   */
  recoverRenewals(nowMs: number, horizonMs: number): void {
    for (const rec of this.store.dueBy(nowMs + horizonMs)) {
      if (rec.state !== LeaseState.BOUND || rec.mac === '') continue;
      const cur = this.safeGet(rec.mac);
      if (!cur || cur.ip !== rec.ip || !cur.leaseExpiresNs) continue;
      const kernel = this.toWall(cur.leaseExpiresNs, nowMs);
      if (kernel > rec.expiresAtMs + 1000) {
        this.store.put({ ...rec, expiresAtMs: kernel, updatedAtMs: nowMs });
        this.stats.recovered++;
      }
    }
  }

  /**
   * At start: adopt renewals the kernel answered while the daemon was down, then write every
   * live binding of the store into the maps (the maps may be new, e.g. after a reboot).
   */
  reconcile(nowMs: number): { restored: number; adopted: number } {
    let adopted = 0;
    const entries: Array<[{ mac: string }, { ip: string; poolId: number; leaseExpiresNs: bigint }]> = [];
    for (const rec of [...this.store.all()]) {
      if (rec.state !== LeaseState.BOUND || rec.mac === '' || rec.expiresAtMs <= nowMs) continue;
      const poolId = this.poolIds.get(rec.pool);
      if (poolId === undefined) continue;
      let expiresAtMs = rec.expiresAtMs;
      const cur = this.safeGet(rec.mac);
      if (cur && cur.ip === rec.ip && cur.leaseExpiresNs) {
        const kernel = this.toWall(cur.leaseExpiresNs, nowMs);
        if (kernel > expiresAtMs + 1000) {
          expiresAtMs = kernel;
          this.store.put({ ...rec, expiresAtMs, updatedAtMs: nowMs });
          adopted++;
        }
      }
      entries.push([{ mac: rec.mac }, { ip: rec.ip, poolId, leaseExpiresNs: this.toBoot(expiresAtMs, nowMs) }]);
    }
    const restored = entries.length > 0 ? this.fp.setSubscribers(entries) : 0;
    this.stats.binds += restored;
    return { restored, adopted };
  }

  private safeGet(mac: string) {
    try {
      return this.fp.getSubscriber({ mac });
    } catch {
      return undefined;
    }
  }
}

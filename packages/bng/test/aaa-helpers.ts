import type { AaaClock, UdpRemote, UdpSocket, UdpSocketFactory } from '../src/aaa/index.js';

/** A clock whose timers fire only when the test advances it. */
export function manualClock(start = 1_700_000_000_000): AaaClock & { advance(ms: number): Promise<void>; pending(): number } {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => { timers.delete(h as number); },
    pending: () => timers.size,
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        await flush();
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
      await flush();
    },
  };
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface FakeNet {
  factory: UdpSocketFactory;
  sent: Array<{ from: number; to: string; data: Uint8Array }>;
  /** Delivers a datagram to the fake socket bound at local port `to`. */
  deliver(to: number, data: Uint8Array, from: UdpRemote): void;
  sockets(): number;
}

export function fakeNet(): FakeNet {
  let nextPort = 40000;
  const handlers = new Map<number, (d: Uint8Array, r: UdpRemote) => void>();
  const sent: FakeNet['sent'] = [];
  return {
    sent,
    sockets: () => handlers.size,
    factory: async (_addr, port) => {
      const p = port || nextPort++;
      const s: UdpSocket = {
        send: (data, toPort, toAddr) => { sent.push({ from: p, to: `${toAddr}:${toPort}`, data: Uint8Array.from(data) }); },
        onMessage: (h) => { handlers.set(p, h); },
        port: () => p,
        close: () => { handlers.delete(p); },
      };
      return s;
    },
    deliver: (to, data, from) => handlers.get(to)?.(data, from),
  };
}

import { describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { UdpBatchSocket } from '../src/udp-socket.js';

const LOOPBACK = 0x7f000001;

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('UdpBatchSocket (recvmmsg/sendmmsg over the native binding)', () => {
  it('receives a burst in batches with each source, and answers it with one batch send', async () => {
    const port = await freeUdpPort();
    const server = new UdpBatchSocket({ address: LOOPBACK, port });
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const clientPort = client.address().port;
    const got: Array<{ text: string; addr: number; port: number }> = [];
    const batches: number[] = [];
    const replies: string[] = [];
    client.on('message', (m) => replies.push(m.toString()));
    try {
      const all = new Promise<void>((resolve) => {
        server.onDatagrams((batch) => {
          batches.push(batch.length);
          for (const d of batch) got.push({ text: d.data.toString(), addr: d.addr, port: d.port });
          const r = server.send(
            batch.map((d) => Buffer.from(`re:${d.data.toString()}`)),
            batch.map((d) => d.addr),
            batch.map((d) => d.port),
          );
          expect(r).toEqual({ sent: batch.length, errno: 0 });
          if (got.length === 200) resolve();
        });
      });
      for (let i = 0; i < 200; i++) client.send(`m${i}`, port, '127.0.0.1');
      await all;
      expect(got.map((g) => g.text)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
      expect(got.every((g) => g.addr === LOOPBACK && g.port === clientPort)).toBe(true);
      expect(batches.some((n) => n > 1)).toBe(true); // a burst is read several at a time
      const t0 = Date.now();
      while (replies.length < 200 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
      expect(replies.sort()).toEqual(Array.from({ length: 200 }, (_, i) => `re:m${i}`).sort());
    } finally {
      server.close();
      client.close();
    }
  });

  it('a batch keeps every datagram whole and apart, whatever its size; an oversized one arrives cut and flagged', async () => {
    const port = await freeUdpPort();
    const server = new UdpBatchSocket({ address: LOOPBACK, port });
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    try {
      // 0 and 1 octets, a full 2 KiB (the receive size), one beyond it, and ordinary ones between
      const sizes = [0, 1, 300, 2048, 3000, 576, 7];
      const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1));
      for (const b of sent) await new Promise<void>((r) => client.send(b, port, '127.0.0.1', () => r()));
      await new Promise((r) => setTimeout(r, 50));
      const got = server.receive(64);
      expect(got.map((d) => d.data.length)).toEqual([0, 1, 300, 2048, 2048, 576, 7]);
      expect(got.map((d) => d.truncated)).toEqual([false, false, false, false, true, false, false]);
      got.forEach((d, i) => expect(d.data.equals(sent[i]!.subarray(0, 2048)), `datagram ${i}`).toBe(true));
      expect(got.every((d) => d.addr === LOOPBACK && d.port === client.address().port)).toBe(true);
      expect(server.receive(64)).toEqual([]);
    } finally {
      server.close();
      client.close();
    }
  });

  it('errors carry errno and the call: a port in use, mismatched arrays', async () => {
    const port = await freeUdpPort();
    const holder = createSocket('udp4'); // no SO_REUSEADDR: the port is taken
    await new Promise<void>((r) => holder.bind(port, '127.0.0.1', () => r()));
    try {
      expect(() => new UdpBatchSocket({ address: LOOPBACK, port })).toThrow(expect.objectContaining({ code: 'BNG_ERR_SYSCALL', details: expect.objectContaining({ errno: 98, syscall: 'bind(AF_INET)' }) }));
    } finally {
      holder.close();
    }
    const s = new UdpBatchSocket({ address: LOOPBACK, port: await freeUdpPort() });
    try {
      expect(() => s.send([Buffer.from('x')], [LOOPBACK, LOOPBACK], [1])).toThrow(/different lengths/);
      expect(s.send([], [], [])).toEqual({ sent: 0, errno: 0 });
      expect(s.receive()).toEqual([]);
    } finally {
      s.close();
    }
  });
});

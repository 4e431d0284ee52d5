import { createSocket } from 'node:dgram';
import type { UdpSocket, UdpSocketFactory } from './types.js';

/**
 * node:dgram sockets with large buffers: the 208 KB default drops bursts of RADIUS replies
 * before the CPU is busy.
 */
export const dgramSocketFactory: UdpSocketFactory = (address, port, connectTo) =>
  new Promise<UdpSocket>((resolve, reject) => {
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    s.once('error', reject);
    s.bind(port, address, () => {
      if (connectTo) {
        // Connection failures arrive as 'error' events, which reject above.
        s.connect(connectTo.port, connectTo.address, () => ready());
      } else {
        ready();
      }
    });
    function ready(): void {
      s.removeListener('error', reject);
      s.on('error', () => undefined); // ICMP errors on unconnected sockets are not fatal
      for (const set of [() => s.setRecvBufferSize(4 << 20), () => s.setSendBufferSize(4 << 20)]) {
        try { set(); } catch { /* capped by net.core.rmem_max: keep the default */ }
      }
      resolve({
        send: connectTo ? (data) => s.send(data) : (data, p, a) => s.send(data, p, a),
        // A plain Uint8Array view of the datagram (subarray() on a Buffer costs more, and
        // decoders take many); rinfo is passed as it is (it has address and port).
        onMessage: (h) => { s.on('message', (m, r) => h(new Uint8Array(m.buffer, m.byteOffset, m.length), r)); },
        port: () => s.address().port,
        close: () => { try { s.close(); } catch { /* already closed */ } },
      });
    }
  });

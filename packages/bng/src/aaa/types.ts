/** Collaborators the AAA components receive at construction (no globals, fakes in tests). */

export interface AaaClock {
  /** Milliseconds since the Unix epoch (wall clock: Event-Timestamp, Acct-Delay-Time). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The subset of a pino logger the components use. */
export interface AaaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface UdpRemote {
  readonly address: string;
  readonly port: number;
}

/** A bound UDP socket; the default implementation is node:dgram (see udp.ts). */
export interface UdpSocket {
  send(data: Uint8Array, port: number, address: string): void;
  onMessage(handler: (data: Uint8Array, from: UdpRemote) => void): void;
  /** The local port it is bound to. */
  port(): number;
  close(): void;
}

/**
 * Binds a socket on `address:port` (port 0 = ephemeral). With `connectTo`, the socket is
 * connected to that peer: the kernel caches the route and `send` ignores its address arguments.
 */
export type UdpSocketFactory = (address: string, port: number, connectTo?: UdpRemote) => Promise<UdpSocket>;

export const systemClock: AaaClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export const silentLogger: AaaLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

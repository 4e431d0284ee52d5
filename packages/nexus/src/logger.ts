/** The logger interface components depend on (pino satisfies it; tests pass a silent one). */
import { pino } from 'pino';

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export function createLogger(level: string, name = 'nexus'): Logger {
  return pino({ name, level, base: { pid: process.pid } }) as unknown as Logger;
}

export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {},
  child() { return silentLogger; },
};

export interface Clock { now(): number }
export const systemClock: Clock = { now: () => Date.now() };

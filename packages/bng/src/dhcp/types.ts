/** Collaborators the DHCPv4 server receives at construction (no globals; fakes in tests). */

export interface Dhcp4Clock {
  /** Milliseconds; only differences and comparisons with lease times matter. */
  now(): number;
}

/** The subset of a pino logger the server uses. */
export interface Dhcp4Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentDhcp4Logger: Dhcp4Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

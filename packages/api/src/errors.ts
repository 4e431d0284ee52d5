/**
 * The error-code catalogue. Every error a component raises on purpose carries one of these
 * codes; docs/errors.md lists them for operators. Codes are stable: never rename or reuse one,
 * only append.
 */
export const ErrorCodes = {
  // configuration
  BNG_ERR_CONFIG_INVALID: 'a configuration value failed validation (the message names the field and the reason)',
  // datapath / native binding
  BNG_ERR_SYSCALL: 'a system call or libbpf call failed (errno and the call are in the error)',
  BNG_ERR_ABI_MISMATCH: 'a map key/value size in the loaded eBPF object differs from the generated ABI layout',
  BNG_ERR_BPF_OBJECT: 'the eBPF object could not be opened, loaded or found',
  BNG_ERR_INTERFACE: 'the network interface does not exist or cannot be used',
  // codecs
  BNG_ERR_DECODE: 'a packet could not be decoded (code and offset in the error)',
  BNG_ERR_ENCODE: 'a message could not be encoded (a value is out of range)',
  // address management
  BNG_ERR_POOL_EXHAUSTED: 'no free address is left in the pool',
  BNG_ERR_NOT_FOUND: 'the named object does not exist',
  BNG_ERR_CONFLICT: 'the change conflicts with existing state',
  // access control
  BNG_ERR_UNAUTHENTICATED: 'missing or wrong credentials',
  BNG_ERR_FORBIDDEN: 'the caller may not read or change this object',
  BNG_ERR_BAD_REQUEST: 'the request failed validation (the field is named)',
  // AAA
  BNG_ERR_RADIUS_TIMEOUT: 'no RADIUS server in the group answered in time',
  BNG_ERR_RADIUS_BAD_RESPONSE: 'a RADIUS response failed authenticator or Message-Authenticator checks',
  // nexus
  BNG_ERR_INTERNAL: 'an unexpected internal error (details are in the server log, not the response)',
  // radius
  BNG_ERR_RADIUS_REALM_UNKNOWN: 'no RADIUS server group is configured for the subscriber realm (and no default realm)',
  BNG_ERR_ACCT_JOURNAL: 'the durable accounting journal could not be read, written or synced (records stay queued in memory)',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class BngError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'BngError';
    this.code = code;
    this.details = details;
  }
}

export function isBngError(e: unknown, code?: ErrorCode): e is BngError {
  return e instanceof BngError && (code === undefined || e.code === code);
}

import { BngError } from '@bng/api';

/**
 * Stable reasons a DHCPv4 decode fails. Listed here so callers (counters, logs, tests) can rely
 * on them; only ever append.
 */
export const Dhcp4DecodeErrorCode = {
  /** fewer than 236 octets: the fixed BOOTP header is cut short */
  DHCP4_TRUNCATED_HEADER: 'DHCP4_TRUNCATED_HEADER',
  /** 236..239 octets: header complete but no room for the magic cookie */
  DHCP4_MISSING_COOKIE: 'DHCP4_MISSING_COOKIE',
  /** the four octets after `file` are not 99.130.83.99 */
  DHCP4_BAD_COOKIE: 'DHCP4_BAD_COOKIE',
  /** `op` is neither BOOTREQUEST nor BOOTREPLY */
  DHCP4_BAD_OP: 'DHCP4_BAD_OP',
  /** `hlen` is larger than the 16-octet chaddr field */
  DHCP4_BAD_HLEN: 'DHCP4_BAD_HLEN',
  /** an option code is the last octet of its area: its length octet is missing */
  DHCP4_OPTION_TRUNCATED: 'DHCP4_OPTION_TRUNCATED',
  /** an option's length runs past the end of its area */
  DHCP4_OPTION_OVERRUN: 'DHCP4_OPTION_OVERRUN',
  /** option 52 has a bad length or value, or appears outside the options field */
  DHCP4_BAD_OVERLOAD: 'DHCP4_BAD_OVERLOAD',
  /** a well-known option's (concatenated) length is not what RFC 2132 prescribes */
  DHCP4_BAD_OPTION_LENGTH: 'DHCP4_BAD_OPTION_LENGTH',
  /** option 82's sub-options do not parse (RFC 3046 §2.0) */
  DHCP4_BAD_RELAY_AGENT_INFO: 'DHCP4_BAD_RELAY_AGENT_INFO',
} as const;
export type Dhcp4DecodeErrorCode = (typeof Dhcp4DecodeErrorCode)[keyof typeof Dhcp4DecodeErrorCode];

/**
 * A packet failed to decode. `code` is a stable reason, `offset` the octet (from the start of the
 * buffer handed to the decoder) where the problem was found. `catalogueCode` ties it to the
 * project-wide catalogue in @bng/api.
 */
export class DecodeError extends Error {
  readonly code: Dhcp4DecodeErrorCode;
  readonly offset: number;
  readonly catalogueCode = 'BNG_ERR_DECODE' as const;
  constructor(code: Dhcp4DecodeErrorCode, offset: number, message: string) {
    super(`${code} at offset ${offset}: ${message}`);
    this.name = 'DecodeError';
    this.code = code;
    this.offset = offset;
  }
}

/** A message could not be encoded: a field or option value is out of range. */
export function encodeError(field: string, message: string, value?: unknown): BngError {
  return new BngError('BNG_ERR_ENCODE', `${field}: ${message}`, { field, value });
}

import { BngError } from '@bng/api';

/** Why a RADIUS packet or attribute was refused; stable strings for counters and logs. */
export const RadiusDecodeReason = {
  TooShort: 'too_short',
  BadLength: 'bad_length',
  TooLong: 'too_long',
  AttrHeaderTruncated: 'attr_header_truncated',
  AttrLength: 'attr_length',
  VsaTruncated: 'vsa_truncated',
  MessageAuthenticatorLength: 'message_authenticator_length',
  DuplicateMessageAuthenticator: 'duplicate_message_authenticator',
} as const;
export type RadiusDecodeReasonValue = (typeof RadiusDecodeReason)[keyof typeof RadiusDecodeReason];

/** A packet that cannot be decoded: the reason and the byte offset where decoding stopped. */
export class RadiusDecodeError extends BngError {
  readonly reason: RadiusDecodeReasonValue;
  readonly offset: number;
  constructor(reason: RadiusDecodeReasonValue, offset: number, message: string) {
    super('BNG_ERR_DECODE', `radius: ${message} (at offset ${offset})`, { reason, offset });
    this.name = 'RadiusDecodeError';
    this.reason = reason;
    this.offset = offset;
  }
}

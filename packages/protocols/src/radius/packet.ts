import { BngError } from '@bng/api';
import { AttrType, AUTHENTICATOR_LENGTH, RADIUS_HEADER_LENGTH, RADIUS_MAX_LENGTH } from './constants.js';
import { RadiusDecodeError, RadiusDecodeReason } from './decode-error.js';

/** One top-level attribute as it is on the wire: type and value (length is implied). */
export interface RawAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface RadiusPacket {
  readonly code: number;
  readonly identifier: number;
  readonly authenticator: Uint8Array;
  readonly attributes: readonly RawAttribute[];
  /** Byte offset of the Message-Authenticator value, when the packet carries one. */
  readonly messageAuthenticatorOffset?: number;
  /** The packet's bytes up to its Length field (trailing padding removed). */
  readonly bytes: Uint8Array;
}

/**
 * Decodes the header and the attribute list. Every length is checked against what remains;
 * anything out of bounds throws RadiusDecodeError (the caller counts and drops).
 */
export function decodePacket(input: Uint8Array): RadiusPacket {
  if (input.length < RADIUS_HEADER_LENGTH) {
    throw new RadiusDecodeError(RadiusDecodeReason.TooShort, 0, `packet of ${input.length} octets is shorter than the 20-octet header`);
  }
  const length = (input[2]! << 8) | input[3]!;
  // RFC 2865 §3: "The minimum length is 20 and maximum length is 4096."
  if (length < RADIUS_HEADER_LENGTH || length > RADIUS_MAX_LENGTH) {
    throw new RadiusDecodeError(RadiusDecodeReason.BadLength, 2, `Length field ${length} outside 20..4096`);
  }
  // RFC 2865 §3: "If the packet is shorter than the Length field indicates, it MUST be silently
  // discarded"; octets beyond Length are padding and are ignored.
  if (input.length < length) {
    throw new RadiusDecodeError(RadiusDecodeReason.TooShort, input.length, `Length field ${length} exceeds the ${input.length} octets received`);
  }
  const bytes = input.subarray(0, length);
  const attributes: RawAttribute[] = [];
  let maOffset: number | undefined;
  let off = RADIUS_HEADER_LENGTH;
  while (off < length) {
    if (length - off < 2) {
      throw new RadiusDecodeError(RadiusDecodeReason.AttrHeaderTruncated, off, 'attribute header truncated');
    }
    const type = bytes[off]!;
    const alen = bytes[off + 1]!;
    // RFC 2865 §5: Length covers Type, Length and Value, so it is at least 2.
    if (alen < 2 || alen > length - off) {
      throw new RadiusDecodeError(RadiusDecodeReason.AttrLength, off + 1, `attribute ${type} length ${alen} with ${length - off} octets left`);
    }
    if (type === AttrType.MessageAuthenticator) {
      // RFC 3579 §3.2: Message-Authenticator is exactly 18 octets long; more than one is invalid.
      if (alen !== 18) throw new RadiusDecodeError(RadiusDecodeReason.MessageAuthenticatorLength, off + 1, `Message-Authenticator length ${alen}`);
      if (maOffset !== undefined) throw new RadiusDecodeError(RadiusDecodeReason.DuplicateMessageAuthenticator, off, 'two Message-Authenticator attributes');
      maOffset = off + 2;
    }
    attributes.push({ type, value: bytes.subarray(off + 2, off + alen) });
    off += alen;
  }
  const authenticator = bytes.subarray(4, 4 + AUTHENTICATOR_LENGTH);
  return maOffset === undefined
    ? { code: bytes[0]!, identifier: bytes[1]!, authenticator, attributes, bytes }
    : { code: bytes[0]!, identifier: bytes[1]!, authenticator, attributes, messageAuthenticatorOffset: maOffset, bytes };
}

/** Serialises header and attributes; the authenticator is written as given (sign afterwards). */
export function encodePacket(code: number, identifier: number, authenticator: Uint8Array, attributes: readonly RawAttribute[]): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new BngError('BNG_ERR_ENCODE', `radius: code ${code} out of range`);
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) throw new BngError('BNG_ERR_ENCODE', `radius: identifier ${identifier} out of range`);
  if (authenticator.length !== AUTHENTICATOR_LENGTH) throw new BngError('BNG_ERR_ENCODE', 'radius: authenticator must be 16 octets');
  let length = RADIUS_HEADER_LENGTH;
  for (const a of attributes) {
    // RFC 2865 §5: one octet of length, so a value holds at most 253 octets.
    if (a.value.length > 253) throw new BngError('BNG_ERR_ENCODE', `radius: attribute ${a.type} value of ${a.value.length} octets exceeds 253`);
    if (!Number.isInteger(a.type) || a.type < 1 || a.type > 255) throw new BngError('BNG_ERR_ENCODE', `radius: attribute type ${a.type} out of range`);
    length += 2 + a.value.length;
  }
  if (length > RADIUS_MAX_LENGTH) throw new BngError('BNG_ERR_ENCODE', `radius: packet of ${length} octets exceeds 4096`);
  const out = new Uint8Array(length);
  out[0] = code;
  out[1] = identifier;
  out[2] = length >> 8;
  out[3] = length & 0xff;
  out.set(authenticator, 4);
  let off = RADIUS_HEADER_LENGTH;
  for (const a of attributes) {
    out[off] = a.type;
    out[off + 1] = a.value.length + 2;
    out.set(a.value, off + 2);
    off += 2 + a.value.length;
  }
  return out;
}

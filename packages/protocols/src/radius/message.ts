import { BngError } from '@bng/api';
import { AttrType, AUTHENTICATOR_LENGTH, RadiusCode } from './constants.js';
import { constantTimeEqual, hidePassword, hmacMd5, md5 } from './crypto.js';
import { hmacKey, Md5 } from './md5.js';
import { encodePacket, type RadiusPacket, type RawAttribute } from './packet.js';

/** A request attribute; `hide` asks for RFC 2865 §5.2 hiding once the authenticator is known. */
export interface OutgoingAttribute extends RawAttribute {
  readonly hide?: 'user-password';
}

const ZERO16 = new Uint8Array(AUTHENTICATOR_LENGTH);
const MA_PLACEHOLDER: RawAttribute = { type: AttrType.MessageAuthenticator, value: ZERO16 };

/** Codes whose Request Authenticator is random (RFC 2865 §3, RFC 5997 §3). */
function hasRandomAuthenticator(code: number): boolean {
  return code === RadiusCode.AccessRequest || code === RadiusCode.StatusServer;
}

export interface EncodeRequestInput {
  readonly code: number;
  readonly identifier: number;
  readonly attributes: readonly OutgoingAttribute[];
  readonly secret: Uint8Array;
  /** Required for Access-Request and Status-Server: 16 unpredictable octets (RFC 2865 §3). */
  readonly authenticator?: Uint8Array;
  /** Adds Message-Authenticator as the first attribute (RFC 3579 §3.2; Blast-RADIUS mitigation). */
  readonly messageAuthenticator?: boolean;
}

/** Builds and signs a request; returns the bytes and the Request Authenticator they carry. */
export function encodeRequest(input: EncodeRequestInput): { bytes: Uint8Array; authenticator: Uint8Array } {
  const random = hasRandomAuthenticator(input.code);
  let auth: Uint8Array;
  if (random) {
    if (!input.authenticator || input.authenticator.length !== AUTHENTICATOR_LENGTH) {
      throw new BngError('BNG_ERR_ENCODE', 'radius: Access-Request and Status-Server need a 16-octet random authenticator');
    }
    auth = input.authenticator;
  } else {
    auth = ZERO16;
  }
  const attrs: RawAttribute[] = [];
  // RFC 5997 §3: Status-Server MUST carry Message-Authenticator.
  const wantMa = input.messageAuthenticator === true || input.code === RadiusCode.StatusServer;
  if (wantMa) attrs.push(MA_PLACEHOLDER);
  for (const a of input.attributes) {
    if (a.type === AttrType.MessageAuthenticator) continue;
    if (a.hide === 'user-password') {
      // RFC 2865 §5.2 hides with the Request Authenticator, which only Access-Requests make random.
      if (!random) throw new BngError('BNG_ERR_ENCODE', 'radius: User-Password only in Access-Request');
      attrs.push({ type: a.type, value: hidePassword(a.value, input.secret, auth) });
    } else {
      attrs.push({ type: a.type, value: a.value });
    }
  }
  const bytes = encodePacket(input.code, input.identifier, auth, attrs);
  if (wantMa) {
    // RFC 3579 §3.2 (Access-Request) and RFC 5176 §3.2 (CoA/Disconnect; the same rule is used
    // for Accounting-Request): HMAC-MD5 over the packet with the Message-Authenticator zeroed and,
    // for non-Access requests, the Request Authenticator zeroed too.
    bytes.set(hmacMd5(input.secret, bytes), 20 + 2);
  }
  if (!random) {
    // RFC 2866 §3 / RFC 5176 §3: Request Authenticator = MD5(Code+Identifier+Length+16 zero
    // octets+attributes+secret).
    const a = md5(bytes, input.secret);
    bytes.set(a, 4);
    auth = a;
  }
  return { bytes, authenticator: bytes.slice(4, 20) };
}

export interface EncodeResponseInput {
  readonly code: number;
  readonly identifier: number;
  readonly attributes: readonly RawAttribute[];
  readonly secret: Uint8Array;
  readonly requestAuthenticator: Uint8Array;
  readonly messageAuthenticator?: boolean;
}

/** Builds and signs a response (Access-*, Accounting-Response, CoA/Disconnect ACK/NAK). */
export function encodeResponse(input: EncodeResponseInput): Uint8Array {
  const attrs: RawAttribute[] = [];
  if (input.messageAuthenticator) attrs.push(MA_PLACEHOLDER);
  for (const a of input.attributes) if (a.type !== AttrType.MessageAuthenticator) attrs.push(a);
  const bytes = encodePacket(input.code, input.identifier, input.requestAuthenticator, attrs);
  if (input.messageAuthenticator) {
    // RFC 3579 §3.2 / RFC 5176 §3.2: responses compute the HMAC with the Request Authenticator
    // of the request they answer in the authenticator field.
    bytes.set(hmacMd5(input.secret, bytes), 22);
  }
  // RFC 2865 §3 Response Authenticator: MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
  bytes.set(md5(bytes, input.secret), 4);
  return bytes;
}

export type VerifyFailure = 'bad_authenticator' | 'bad_message_authenticator' | 'missing_message_authenticator';
export type VerifyResult = { ok: true; messageAuthenticator: boolean } | { ok: false; reason: VerifyFailure };

function checkMessageAuthenticator(p: RadiusPacket, secret: Uint8Array, authField: Uint8Array): boolean {
  const off = p.messageAuthenticatorOffset;
  if (off === undefined) return true;
  const b = p.bytes;
  // HMAC over the packet with authField in the authenticator and the MA value zeroed, fed in
  // slices instead of copying the packet.
  const h = hmacKey(secret).start();
  h.update(b.subarray(0, 4));
  h.update(authField);
  h.update(b.subarray(20, off));
  h.update(ZERO16);
  h.update(b.subarray(off + 16));
  return constantTimeEqual(h.digest(), b.subarray(off, off + 16));
}

function keyedMd5(b: Uint8Array, authField: Uint8Array, secret: Uint8Array): Uint8Array {
  return new Md5().update(b.subarray(0, 4)).update(authField).update(b.subarray(20)).update(secret).digest();
}

/**
 * Verifies a response against the request it answers: the Response Authenticator (RFC 2865 §3)
 * and, when present or required, the Message-Authenticator (RFC 3579 §3.2).
 */
export function verifyResponse(p: RadiusPacket, requestAuthenticator: Uint8Array, secret: Uint8Array, requireMessageAuthenticator = false): VerifyResult {
  if (!constantTimeEqual(keyedMd5(p.bytes, requestAuthenticator, secret), p.authenticator)) return { ok: false, reason: 'bad_authenticator' };
  if (p.messageAuthenticatorOffset === undefined) {
    return requireMessageAuthenticator ? { ok: false, reason: 'missing_message_authenticator' } : { ok: true, messageAuthenticator: false };
  }
  if (!checkMessageAuthenticator(p, secret, requestAuthenticator)) return { ok: false, reason: 'bad_message_authenticator' };
  return { ok: true, messageAuthenticator: true };
}

/**
 * Verifies a request received by a server. Accounting, CoA and Disconnect requests carry a
 * keyed Request Authenticator (RFC 2866 §3, RFC 5176 §3); Access-Request and Status-Server can
 * only be checked through Message-Authenticator (RFC 3579 §3.2, RFC 5997 §3).
 */
export function verifyRequest(p: RadiusPacket, secret: Uint8Array, requireMessageAuthenticator = false): VerifyResult {
  const random = hasRandomAuthenticator(p.code);
  if (!random) {
    if (!constantTimeEqual(keyedMd5(p.bytes, ZERO16, secret), p.authenticator)) return { ok: false, reason: 'bad_authenticator' };
  }
  if (p.messageAuthenticatorOffset === undefined) {
    const need = requireMessageAuthenticator || p.code === RadiusCode.StatusServer;
    return need ? { ok: false, reason: 'missing_message_authenticator' } : { ok: true, messageAuthenticator: false };
  }
  if (!checkMessageAuthenticator(p, secret, random ? p.authenticator : ZERO16)) return { ok: false, reason: 'bad_message_authenticator' };
  return { ok: true, messageAuthenticator: true };
}

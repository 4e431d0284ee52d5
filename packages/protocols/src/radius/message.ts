import { BngError } from '@bng/api';
import { AttrType, AUTHENTICATOR_LENGTH, RADIUS_HEADER_LENGTH, RADIUS_MAX_LENGTH, RadiusCode } from './constants.js';
import { hiddenPasswordLength, hidePasswordInto } from './crypto.js';
import { copyInto, MD5_INIT, md5Scratch, scratch } from './hash.js';
import { hmacKey } from './md5.js';
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

// Request packets are carved from shared 16 KiB blocks: a Uint8Array of its own costs about
// 1 µs (an ArrayBuffer outside the heap), a view into a block about a tenth of that. A packet
// keeps its block alive only as long as the packet itself is referenced.
const SLAB_SIZE = 16384;
let slab = new Uint8Array(SLAB_SIZE);
let slabOff = 0;
function packetBuffer(length: number): Uint8Array {
  if (slabOff + length > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabOff = 0;
  }
  const b = slab.subarray(slabOff, slabOff + length);
  slabOff += (length + 7) & ~7;
  return b;
}

/**
 * Builds and signs a request; returns the bytes and the Request Authenticator they carry. The
 * bytes may be a view into a larger shared block (use byteOffset/byteLength, not .buffer alone).
 */
export function encodeRequest(input: EncodeRequestInput): { bytes: Uint8Array; authenticator: Uint8Array } {
  const { code, identifier, secret } = input;
  const random = hasRandomAuthenticator(code);
  let auth: Uint8Array;
  if (random) {
    if (!input.authenticator || input.authenticator.length !== AUTHENTICATOR_LENGTH) {
      throw new BngError('BNG_ERR_ENCODE', 'radius: Access-Request and Status-Server need a 16-octet random authenticator');
    }
    auth = input.authenticator;
  } else {
    auth = ZERO16;
  }
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new BngError('BNG_ERR_ENCODE', `radius: code ${code} out of range`);
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) throw new BngError('BNG_ERR_ENCODE', `radius: identifier ${identifier} out of range`);
  // RFC 5997 §3: Status-Server MUST carry Message-Authenticator.
  const wantMa = input.messageAuthenticator === true || code === RadiusCode.StatusServer;
  // The packet is laid out once, in its final buffer: sizes first, then the octets.
  const attrs = input.attributes;
  let length = RADIUS_HEADER_LENGTH + (wantMa ? 18 : 0);
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.type === AttrType.MessageAuthenticator) continue;
    let n = a.value.length;
    if (a.hide === 'user-password') {
      // RFC 2865 §5.2 hides with the Request Authenticator, which only Access-Requests make random.
      if (!random) throw new BngError('BNG_ERR_ENCODE', 'radius: User-Password only in Access-Request');
      n = hiddenPasswordLength(n);
    }
    // RFC 2865 §5: one octet of length, so a value holds at most 253 octets.
    if (n > 253) throw new BngError('BNG_ERR_ENCODE', `radius: attribute ${a.type} value of ${n} octets exceeds 253`);
    if (!Number.isInteger(a.type) || a.type < 1 || a.type > 255) throw new BngError('BNG_ERR_ENCODE', `radius: attribute type ${a.type} out of range`);
    length += 2 + n;
  }
  if (length > RADIUS_MAX_LENGTH) throw new BngError('BNG_ERR_ENCODE', `radius: packet of ${length} octets exceeds 4096`);
  const bytes = packetBuffer(length);
  bytes[0] = code;
  bytes[1] = identifier;
  bytes[2] = length >> 8;
  bytes[3] = length & 0xff;
  copyInto(bytes, 4, auth, 0, AUTHENTICATOR_LENGTH);
  let off = RADIUS_HEADER_LENGTH;
  if (wantMa) {
    // Message-Authenticator first, its value zero until signed below.
    bytes[off] = AttrType.MessageAuthenticator;
    bytes[off + 1] = 18;
    for (let i = off + 2; i < off + 18; i++) bytes[i] = 0;
    off += 18;
  }
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.type === AttrType.MessageAuthenticator) continue;
    bytes[off] = a.type;
    if (a.hide === 'user-password') {
      const n = hiddenPasswordLength(a.value.length);
      bytes[off + 1] = n + 2;
      hidePasswordInto(bytes, off + 2, a.value, secret, auth);
      off += 2 + n;
    } else {
      bytes[off + 1] = a.value.length + 2;
      off = copyInto(bytes, off + 2, a.value, 0, a.value.length);
    }
  }
  if (wantMa) {
    // RFC 3579 §3.2 (Access-Request) and RFC 5176 §3.2 (CoA/Disconnect; the same rule is used
    // for Accounting-Request): HMAC-MD5 over the packet with the Message-Authenticator zeroed and,
    // for non-Access requests, the Request Authenticator zeroed too.
    copyInto(scratch(length), 0, bytes, 0, length);
    hmacKey(secret).macScratch(length, bytes, RADIUS_HEADER_LENGTH + 2);
  }
  if (!random) {
    // RFC 2866 §3 / RFC 5176 §3: Request Authenticator = MD5(Code+Identifier+Length+16 zero
    // octets+attributes+secret).
    const sc = scratch(length + secret.length);
    copyInto(sc, 0, bytes, 0, length);
    copyInto(sc, length, secret, 0, secret.length);
    md5Scratch(MD5_INIT, 0, length + secret.length, bytes, 4);
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
  const n = bytes.length;
  if (input.messageAuthenticator) {
    // RFC 3579 §3.2 / RFC 5176 §3.2: responses compute the HMAC with the Request Authenticator
    // of the request they answer in the authenticator field.
    copyInto(scratch(n), 0, bytes, 0, n);
    hmacKey(input.secret).macScratch(n, bytes, 22);
  }
  // RFC 2865 §3 Response Authenticator: MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
  const sc = scratch(n + input.secret.length);
  copyInto(sc, 0, bytes, 0, n);
  copyInto(sc, n, input.secret, 0, input.secret.length);
  md5Scratch(MD5_INIT, 0, n + input.secret.length, bytes, 4);
  return bytes;
}

export type VerifyFailure = 'bad_authenticator' | 'bad_message_authenticator' | 'missing_message_authenticator';
export type VerifyResult = { ok: true; messageAuthenticator: boolean } | { ok: false; reason: VerifyFailure };

const DIGEST = new Uint8Array(16);
const OK_WITH_MA: VerifyResult = Object.freeze({ ok: true, messageAuthenticator: true });
const OK_WITHOUT_MA: VerifyResult = Object.freeze({ ok: true, messageAuthenticator: false });
const BAD_AUTHENTICATOR: VerifyResult = Object.freeze({ ok: false, reason: 'bad_authenticator' });
const BAD_MA: VerifyResult = Object.freeze({ ok: false, reason: 'bad_message_authenticator' });
const MISSING_MA: VerifyResult = Object.freeze({ ok: false, reason: 'missing_message_authenticator' });

/** DIGEST equals b[off..off+16), compared without an early exit. */
function digestMatches(b: Uint8Array, off: number): boolean {
  let diff = 0;
  for (let i = 0; i < 16; i++) diff |= DIGEST[i]! ^ b[off + i]!;
  return diff === 0;
}

/** Copies the packet to the scratch with `authField` in the authenticator; returns the scratch. */
function packetToScratch(b: Uint8Array, authField: Uint8Array, extra: number): Uint8Array {
  const n = b.length;
  const s = scratch(n + extra);
  copyInto(s, 0, b, 0, 4);
  copyInto(s, 4, authField, 0, AUTHENTICATOR_LENGTH);
  copyInto(s, 20, b, 20, n);
  return s;
}

function checkMessageAuthenticator(p: RadiusPacket, secret: Uint8Array, authField: Uint8Array): boolean {
  const off = p.messageAuthenticatorOffset;
  if (off === undefined) return true;
  const b = p.bytes;
  // HMAC over the packet with authField in the authenticator and the MA value zeroed.
  const key = hmacKey(secret);
  const s = packetToScratch(b, authField, 0);
  s.fill(0, off, off + 16);
  key.macScratch(b.length, DIGEST, 0);
  return digestMatches(b, off);
}

/** MD5(Code+Identifier+Length+authField+Attributes+Secret) equals the packet's authenticator. */
function keyedMd5Matches(b: Uint8Array, authField: Uint8Array, secret: Uint8Array): boolean {
  const n = b.length;
  const s = packetToScratch(b, authField, secret.length);
  copyInto(s, n, secret, 0, secret.length);
  md5Scratch(MD5_INIT, 0, n + secret.length, DIGEST, 0);
  return digestMatches(b, 4);
}

/**
 * Verifies a response against the request it answers: the Response Authenticator (RFC 2865 §3)
 * and, when present or required, the Message-Authenticator (RFC 3579 §3.2).
 */
export function verifyResponse(p: RadiusPacket, requestAuthenticator: Uint8Array, secret: Uint8Array, requireMessageAuthenticator = false): VerifyResult {
  if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH || !keyedMd5Matches(p.bytes, requestAuthenticator, secret)) return BAD_AUTHENTICATOR;
  if (p.messageAuthenticatorOffset === undefined) return requireMessageAuthenticator ? MISSING_MA : OK_WITHOUT_MA;
  if (!checkMessageAuthenticator(p, secret, requestAuthenticator)) return BAD_MA;
  return OK_WITH_MA;
}

/**
 * Verifies a request received by a server. Accounting, CoA and Disconnect requests carry a
 * keyed Request Authenticator (RFC 2866 §3, RFC 5176 §3); Access-Request and Status-Server can
 * only be checked through Message-Authenticator (RFC 3579 §3.2, RFC 5997 §3).
 */
export function verifyRequest(p: RadiusPacket, secret: Uint8Array, requireMessageAuthenticator = false): VerifyResult {
  const random = hasRandomAuthenticator(p.code);
  if (!random) {
    if (!keyedMd5Matches(p.bytes, ZERO16, secret)) return BAD_AUTHENTICATOR;
  }
  if (p.messageAuthenticatorOffset === undefined) {
    const need = requireMessageAuthenticator || p.code === RadiusCode.StatusServer;
    return need ? MISSING_MA : OK_WITHOUT_MA;
  }
  if (!checkMessageAuthenticator(p, secret, random ? p.authenticator : ZERO16)) return BAD_MA;
  return OK_WITH_MA;
}

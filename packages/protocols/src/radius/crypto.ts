import { BngError } from '@bng/api';
import { copyInto, MD5_INIT, md5Scratch, scratch } from './hash.js';
import { hmacKey, md5Of } from './md5.js';

export function md5(...parts: Uint8Array[]): Uint8Array {
  return md5Of(...parts);
}

export function hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = hmacKey(key);
  copyInto(scratch(data.length), 0, data, 0, data.length);
  const out = new Uint8Array(16);
  k.macScratch(data.length, out, 0);
  return out;
}

/** Compares without an early exit, so timing says nothing about where a forgery differs. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const te = new TextEncoder();
export function utf8(s: string): Uint8Array {
  const n = s.length;
  if (n <= 64) {
    // Short ASCII (most attribute values) without the TextEncoder call.
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return te.encode(s);
      out[i] = c;
    }
    return out;
  }
  return te.encode(s);
}

/** RFC 2865 §5.2: User-Password hiding with the shared secret and the Request Authenticator. */
export function hidePassword(password: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Uint8Array {
  const out = new Uint8Array(hiddenPasswordLength(password.length));
  hidePasswordInto(out, 0, password, secret, requestAuthenticator);
  return out;
}

/** Length of the hidden User-Password value: padded to a multiple of 16 octets (RFC 2865 §5.2). */
export function hiddenPasswordLength(n: number): number {
  // RFC 2865 §5.2: the password is padded to a multiple of 16 octets, at most 128.
  if (n > 128) throw new BngError('BNG_ERR_ENCODE', 'radius: User-Password longer than 128 octets');
  return Math.max(16, Math.ceil(n / 16) * 16);
}

/** hidePassword writing its hiddenPasswordLength() octets to dst at dstOff (no allocation). */
export function hidePasswordInto(dst: Uint8Array, dstOff: number, password: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): void {
  const n = hiddenPasswordLength(password.length);
  const sl = secret.length;
  for (let i = 0; i < n; i += 16) {
    // b(i) = MD5(secret + c(i-1)), c(0) = Request Authenticator; c(i) = p(i) xor b(i).
    const prevLen = i === 0 ? requestAuthenticator.length : 16;
    const s = scratch(sl + prevLen);
    copyInto(s, 0, secret, 0, sl);
    if (i === 0) copyInto(s, sl, requestAuthenticator, 0, prevLen);
    else copyInto(s, sl, dst, dstOff + i - 16, dstOff + i);
    md5Scratch(MD5_INIT, 0, sl + prevLen, dst, dstOff + i);
    for (let j = 0; j < 16; j++) {
      const k = i + j;
      if (k < password.length) dst[dstOff + k] = dst[dstOff + k]! ^ password[k]!;
    }
  }
}

/** Inverse of hidePassword; trailing NUL padding removed. Returns undefined on a bad length. */
export function unhidePassword(hidden: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Uint8Array | undefined {
  // RFC 2865 §5.2: the hidden value is 16..128 octets, a multiple of 16.
  if (hidden.length < 16 || hidden.length > 128 || hidden.length % 16 !== 0) return undefined;
  const out = new Uint8Array(hidden.length);
  let prev = requestAuthenticator;
  for (let i = 0; i < hidden.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = hidden[i + j]! ^ b[j]!;
    prev = hidden.subarray(i, i + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}

/**
 * RFC 2868 §3.5 / RFC 2548 §2.4.2 salt decryption (Tunnel-Password, MS-MPPE-Send/Recv-Key):
 * value = salt(2) + ciphertext; the first plaintext octet is the key length.
 */
export function saltDecrypt(value: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Uint8Array | undefined {
  if (value.length < 18 || (value.length - 2) % 16 !== 0) return undefined;
  const salt = value.subarray(0, 2);
  // RFC 2868 §3.5: the most significant bit of the salt MUST be set.
  if ((salt[0]! & 0x80) === 0) return undefined;
  const c = value.subarray(2);
  const p = new Uint8Array(c.length);
  let prev: Uint8Array = new Uint8Array([...requestAuthenticator, ...salt]);
  for (let i = 0; i < c.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) p[i + j] = c[i + j]! ^ b[j]!;
    prev = c.subarray(i, i + 16);
  }
  const len = p[0]!;
  if (len > p.length - 1) return undefined;
  return p.subarray(1, 1 + len);
}

/** RFC 2868 §3.5 salt encryption; `salt` must have its top bit set and be unique per packet. */
export function saltEncrypt(plain: Uint8Array, salt: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Uint8Array {
  if (salt.length !== 2 || (salt[0]! & 0x80) === 0) throw new BngError('BNG_ERR_ENCODE', 'radius: salt must be 2 octets with the top bit set');
  if (plain.length > 239) throw new BngError('BNG_ERR_ENCODE', 'radius: salted value too long');
  const p = new Uint8Array(Math.ceil((plain.length + 1) / 16) * 16);
  p[0] = plain.length;
  p.set(plain, 1);
  const out = new Uint8Array(2 + p.length);
  out.set(salt);
  let prev: Uint8Array = new Uint8Array([...requestAuthenticator, ...salt]);
  for (let i = 0; i < p.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[2 + i + j] = p[i + j]! ^ b[j]!;
    prev = out.subarray(2 + i, 2 + i + 16);
  }
  return out;
}

/**
 * CHAP-Password value (RFC 2865 §5.3): CHAP Ident (1 octet) + Response (16 octets), where the
 * Response is MD5(Ident + secret + challenge) per RFC 1994 §4.1.
 */
export function chapPassword(chapId: number, password: Uint8Array, challenge: Uint8Array): Uint8Array {
  const out = new Uint8Array(17);
  out[0] = chapId & 0xff;
  out.set(md5(new Uint8Array([chapId & 0xff]), password, challenge), 1);
  return out;
}

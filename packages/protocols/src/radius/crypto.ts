import { BngError } from '@bng/api';
import { hmacKey, md5Of } from './md5.js';

export function md5(...parts: Uint8Array[]): Uint8Array {
  return md5Of(...parts);
}

export function hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
  const h = hmacKey(key).start();
  h.update(data);
  return h.digest();
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
  return te.encode(s);
}

/** RFC 2865 §5.2: User-Password hiding with the shared secret and the Request Authenticator. */
export function hidePassword(password: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Uint8Array {
  // RFC 2865 §5.2: the password is padded to a multiple of 16 octets, at most 128.
  if (password.length > 128) throw new BngError('BNG_ERR_ENCODE', 'radius: User-Password longer than 128 octets');
  const padded = new Uint8Array(Math.max(16, Math.ceil(password.length / 16) * 16));
  padded.set(password);
  const out = new Uint8Array(padded.length);
  let prev = requestAuthenticator;
  for (let i = 0; i < padded.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = padded[i + j]! ^ b[j]!;
    prev = out.subarray(i, i + 16);
  }
  return out;
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

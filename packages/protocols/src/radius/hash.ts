/**
 * The MD5 compression function (RFC 1321 §3.4), unrolled, and a one-shot digest over a shared
 * scratch buffer. Internal to the codec: RADIUS hashes short messages made of a few pieces
 * (header, authenticator, attributes, secret), and copying them into one buffer that is then
 * padded in place costs less than streaming them through a hash object.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** RFC 1321 §3.3: the initial state A, B, C, D. */
export const MD5_INIT = Int32Array.from([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);

/** One 64-octet block given as sixteen little-endian words w[o..o+16). */
export function compressWords(st: Int32Array, w: Int32Array, o: number): void {
  const x0 = w[o]!, x1 = w[o + 1]!, x2 = w[o + 2]!, x3 = w[o + 3]!, x4 = w[o + 4]!, x5 = w[o + 5]!, x6 = w[o + 6]!, x7 = w[o + 7]!;
  const x8 = w[o + 8]!, x9 = w[o + 9]!, x10 = w[o + 10]!, x11 = w[o + 11]!, x12 = w[o + 12]!, x13 = w[o + 13]!, x14 = w[o + 14]!, x15 = w[o + 15]!;
  let a = st[0]!;
  let b = st[1]!;
  let c = st[2]!;
  let d = st[3]!;
  let t: number;
  // Rounds 1-4 (F, G, H, I), sixteen steps each; constants K[i] = floor(|sin(i + 1)| * 2^32).
  t = (a + ((b & c) | (~b & d)) + -0x28955b88 + x0) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + -0x173848aa + x1) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + 0x242070db + x2) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + -0x3e423112 + x3) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((b & c) | (~b & d)) + -0xa83f051 + x4) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + 0x4787c62a + x5) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + -0x57cfb9ed + x6) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + -0x2b96aff + x7) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((b & c) | (~b & d)) + 0x698098d8 + x8) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + -0x74bb0851 + x9) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + -0xa44f + x10) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + -0x76a32842 + x11) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((b & c) | (~b & d)) + 0x6b901122 + x12) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + -0x2678e6d + x13) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + -0x5986bc72 + x14) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + 0x49b40821 + x15) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((d & b) | (~d & c)) + -0x9e1da9e + x1) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + -0x3fbf4cc0 + x6) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + 0x265e5a51 + x11) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + -0x16493856 + x0) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + ((d & b) | (~d & c)) + -0x29d0efa3 + x5) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + 0x2441453 + x10) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + -0x275e197f + x15) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + -0x182c0438 + x4) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + ((d & b) | (~d & c)) + 0x21e1cde6 + x9) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + -0x3cc8f82a + x14) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + -0xb2af279 + x3) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + 0x455a14ed + x8) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + ((d & b) | (~d & c)) + -0x561c16fb + x13) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + -0x3105c08 + x2) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + 0x676f02d9 + x7) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + -0x72d5b376 + x12) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + (b ^ c ^ d) + -0x5c6be + x5) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + -0x788e097f + x8) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + 0x6d9d6122 + x11) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + -0x21ac7f4 + x14) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (b ^ c ^ d) + -0x5b4115bc + x1) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + 0x4bdecfa9 + x4) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + -0x944b4a0 + x7) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + -0x41404390 + x10) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (b ^ c ^ d) + 0x289b7ec6 + x13) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + -0x155ed806 + x0) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + -0x2b10cf7b + x3) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + 0x4881d05 + x6) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (b ^ c ^ d) + -0x262b2fc7 + x9) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + -0x1924661b + x12) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + 0x1fa27cf8 + x15) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + -0x3b53a99b + x2) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (c ^ (b | ~d)) + -0xbd6ddbc + x0) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + 0x432aff97 + x7) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + -0x546bdc59 + x14) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + -0x36c5fc7 + x5) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
  t = (a + (c ^ (b | ~d)) + 0x655b59c3 + x12) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + -0x70f3336e + x3) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + -0x100b83 + x10) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + -0x7a7ba22f + x1) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
  t = (a + (c ^ (b | ~d)) + 0x6fa87e4f + x8) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + -0x1d31920 + x15) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + -0x5cfebcec + x6) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + 0x4e0811a1 + x13) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
  t = (a + (c ^ (b | ~d)) + -0x8ac817e + x4) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + -0x42c50dcb + x11) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + 0x2ad7d2bb + x2) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + -0x14792c6f + x9) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
  st[0] = (st[0]! + a) | 0;
  st[1] = (st[1]! + b) | 0;
  st[2] = (st[2]! + c) | 0;
  st[3] = (st[3]! + d) | 0;
}

const X = new Int32Array(16);

/** One 64-octet block at b[off..off+64). */
export function compressBytes(st: Int32Array, b: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    X[i] = b[j]! | (b[j + 1]! << 8) | (b[j + 2]! << 16) | (b[j + 3]! << 24); // little-endian words (RFC 1321 §2)
  }
  compressWords(st, X, 0);
}

let scratchBytes = new Uint8Array(8192);
let scratchWords = new Int32Array(scratchBytes.buffer);
const ST = new Int32Array(4);

/**
 * The shared scratch buffer, at least `n` octets long. Callers copy a message to its start and
 * call md5Scratch before anything else uses it (it is valid until the next call).
 */
export function scratch(n: number): Uint8Array {
  // md5Scratch pads in place: up to 72 octets past the message.
  if (n + 72 > scratchBytes.length) {
    let size = scratchBytes.length;
    while (n + 72 > size) size *= 2;
    scratchBytes = new Uint8Array(size);
    scratchWords = new Int32Array(scratchBytes.buffer);
  }
  return scratchBytes;
}

/**
 * MD5 of scratch[0..len), continuing from `state` after `prefix` octets (a multiple of 64)
 * were already hashed; writes the 16-octet digest to out[outOff..outOff+16). Overwrites the
 * scratch after `len` with the padding.
 */
export function md5Scratch(state: Int32Array, prefix: number, len: number, out: Uint8Array, outOff: number): void {
  const s = scratchBytes;
  // RFC 1321 §3.1-3.2: 0x80, zeros to 56 mod 64, then the bit length as 64 bits little-endian.
  const end = (len + 8 + 64) & ~63;
  s[len] = 0x80;
  s.fill(0, len + 1, end - 8);
  const bits = (prefix + len) * 8;
  const lo = bits >>> 0;
  const hi = Math.floor(bits / 2 ** 32) >>> 0;
  s[end - 8] = lo & 0xff;
  s[end - 7] = (lo >>> 8) & 0xff;
  s[end - 6] = (lo >>> 16) & 0xff;
  s[end - 5] = lo >>> 24;
  s[end - 4] = hi & 0xff;
  s[end - 3] = (hi >>> 8) & 0xff;
  s[end - 2] = (hi >>> 16) & 0xff;
  s[end - 1] = hi >>> 24;
  ST[0] = state[0]!;
  ST[1] = state[1]!;
  ST[2] = state[2]!;
  ST[3] = state[3]!;
  if (LITTLE_ENDIAN) {
    const w = scratchWords;
    for (let off = 0; off < end; off += 64) compressWords(ST, w, off >> 2);
  } else {
    for (let off = 0; off < end; off += 64) compressBytes(ST, s, off);
  }
  for (let i = 0; i < 4; i++) {
    const v = ST[i]!;
    out[outOff + i * 4] = v & 0xff;
    out[outOff + i * 4 + 1] = (v >>> 8) & 0xff;
    out[outOff + i * 4 + 2] = (v >>> 16) & 0xff;
    out[outOff + i * 4 + 3] = v >>> 24;
  }
}

/** Copies src[start..end) to dst at dstOff; a loop beats TypedArray.set for a few octets. */
export function copyInto(dst: Uint8Array, dstOff: number, src: Uint8Array, start: number, end: number): number {
  if (end - start > 64) {
    dst.set(src.subarray(start, end), dstOff);
    return dstOff + end - start;
  }
  for (let i = start; i < end; i++) dst[dstOff++] = src[i]!;
  return dstOff;
}

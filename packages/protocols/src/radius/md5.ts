/**
 * MD5 (RFC 1321) and HMAC-MD5 (RFC 2104) for RADIUS authenticators. In JavaScript because
 * node:crypto spends more time creating a Hash/Hmac object than hashing a 100-octet packet,
 * and because HMAC can start from the key's precomputed inner and outer states. Checked
 * against node:crypto in the tests.
 */

const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;
// RFC 1321 §3.4: per-round rotation amounts.
const S = new Uint8Array([7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]);
const W = new Int32Array(16);

function compress(st: Int32Array, b: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    W[i] = b[j]! | (b[j + 1]! << 8) | (b[j + 2]! << 16) | (b[j + 3]! << 24); // little-endian words (RFC 1321 §2)
  }
  let a = st[0]!;
  let bb = st[1]!;
  let c = st[2]!;
  let d = st[3]!;
  let t: number;
  let x: number;
  let s: number;
  // RFC 1321 §3.4: four rounds of sixteen steps with F, G, H and I.
  for (let i = 0; i < 16; i++) {
    x = (a + ((bb & c) | (~bb & d)) + K[i]! + W[i]!) | 0;
    s = S[i]!;
    t = d; d = c; c = bb; bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  for (let i = 16; i < 32; i++) {
    x = (a + ((d & bb) | (~d & c)) + K[i]! + W[(5 * i + 1) & 15]!) | 0;
    s = S[i]!;
    t = d; d = c; c = bb; bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  for (let i = 32; i < 48; i++) {
    x = (a + (bb ^ c ^ d) + K[i]! + W[(3 * i + 5) & 15]!) | 0;
    s = S[i]!;
    t = d; d = c; c = bb; bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  for (let i = 48; i < 64; i++) {
    x = (a + (c ^ (bb | ~d)) + K[i]! + W[(7 * i) & 15]!) | 0;
    s = S[i]!;
    t = d; d = c; c = bb; bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0; a = t;
  }
  st[0] = (st[0]! + a) | 0;
  st[1] = (st[1]! + bb) | 0;
  st[2] = (st[2]! + c) | 0;
  st[3] = (st[3]! + d) | 0;
}

const INIT = Int32Array.from([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);

export class Md5 {
  private readonly st: Int32Array;
  private readonly buf = new Uint8Array(64);
  private bufLen = 0;
  private total: number;

  constructor(state: Int32Array = INIT, total = 0) {
    this.st = new Int32Array(4);
    this.st.set(state);
    this.total = total;
  }

  update(data: Uint8Array): this {
    let off = 0;
    const n = data.length;
    this.total += n;
    if (this.bufLen > 0) {
      const take = Math.min(64 - this.bufLen, n);
      this.buf.set(data.subarray(0, take), this.bufLen);
      this.bufLen += take;
      off = take;
      if (this.bufLen < 64) return this;
      compress(this.st, this.buf, 0);
      this.bufLen = 0;
    }
    while (n - off >= 64) {
      compress(this.st, data, off);
      off += 64;
    }
    if (off < n) {
      this.buf.set(data.subarray(off), 0);
      this.bufLen = n - off;
    }
    return this;
  }

  digest(): Uint8Array {
    // RFC 1321 §3.1-3.2: pad with 0x80, zeros to 56 mod 64, then the bit length little-endian.
    const buf = this.buf;
    const bits = this.total * 8;
    buf[this.bufLen] = 0x80;
    buf.fill(0, this.bufLen + 1);
    if (this.bufLen >= 56) {
      compress(this.st, buf, 0);
      buf.fill(0);
    }
    const lo = bits >>> 0;
    const hi = Math.floor(bits / 2 ** 32) >>> 0;
    for (let i = 0; i < 4; i++) {
      buf[56 + i] = (lo >>> (8 * i)) & 0xff;
      buf[60 + i] = (hi >>> (8 * i)) & 0xff;
    }
    compress(this.st, buf, 0);
    this.bufLen = 0;
    const out = new Uint8Array(16);
    for (let i = 0; i < 4; i++) {
      const v = this.st[i]!;
      out[i * 4] = v & 0xff;
      out[i * 4 + 1] = (v >>> 8) & 0xff;
      out[i * 4 + 2] = (v >>> 16) & 0xff;
      out[i * 4 + 3] = (v >>> 24) & 0xff;
    }
    return out;
  }

  /** Internal state after whole blocks only (used to precompute HMAC pads). */
  snapshot(): { state: Int32Array; total: number } {
    if (this.bufLen !== 0) throw new Error('md5 snapshot needs a block boundary');
    return { state: Int32Array.from(this.st), total: this.total };
  }
}

export function md5Of(...parts: Uint8Array[]): Uint8Array {
  const h = new Md5();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC-MD5 key with the inner and outer pad states precomputed (RFC 2104 §4 note). */
export class HmacMd5Key {
  private readonly inner: { state: Int32Array; total: number };
  private readonly outer: { state: Int32Array; total: number };

  constructor(key: Uint8Array) {
    // RFC 2104 §2: keys longer than the block are hashed first.
    const k = key.length > 64 ? md5Of(key) : key;
    const ipad = new Uint8Array(64).fill(0x36);
    const opad = new Uint8Array(64).fill(0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i]! ^= k[i]!;
      opad[i]! ^= k[i]!;
    }
    this.inner = new Md5().update(ipad).snapshot();
    this.outer = new Md5().update(opad).snapshot();
  }

  /** A running HMAC: update() the message, then digest(). */
  start(): { update(d: Uint8Array): unknown; digest(): Uint8Array } {
    const inner = new Md5(this.inner.state, this.inner.total);
    const outerState = this.outer;
    return {
      update: (d: Uint8Array) => inner.update(d),
      digest: () => new Md5(outerState.state, outerState.total).update(inner.digest()).digest(),
    };
  }
}

const keyCache = new WeakMap<Uint8Array, HmacMd5Key>();
/** The precomputed key for a secret (cached per secret object). */
export function hmacKey(secret: Uint8Array): HmacMd5Key {
  let k = keyCache.get(secret);
  if (!k) {
    k = new HmacMd5Key(secret);
    keyCache.set(secret, k);
  }
  return k;
}

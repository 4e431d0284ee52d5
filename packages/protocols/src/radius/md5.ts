/**
 * MD5 (RFC 1321) and HMAC-MD5 (RFC 2104) for RADIUS authenticators. In JavaScript because
 * node:crypto spends more time creating a Hash/Hmac object than hashing a 100-octet packet,
 * and because HMAC can start from the key's precomputed inner and outer states. Checked
 * against node:crypto in the tests.
 */
import { compressBytes, copyInto, MD5_INIT, md5Scratch, scratch } from './hash.js';

/** A streaming MD5 (for large or piecewise input; md5Of is faster for short messages). */
export class Md5 {
  private readonly st: Int32Array;
  private readonly buf = new Uint8Array(64);
  private bufLen = 0;
  private total: number;

  constructor(state: Int32Array = MD5_INIT, total = 0) {
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
      copyInto(this.buf, this.bufLen, data, 0, take);
      this.bufLen += take;
      off = take;
      if (this.bufLen < 64) return this;
      compressBytes(this.st, this.buf, 0);
      this.bufLen = 0;
    }
    while (n - off >= 64) {
      compressBytes(this.st, data, off);
      off += 64;
    }
    if (off < n) {
      copyInto(this.buf, 0, data, off, n);
      this.bufLen = n - off;
    }
    return this;
  }

  digest(): Uint8Array {
    const out = new Uint8Array(16);
    const s = scratch(64);
    copyInto(s, 0, this.buf, 0, this.bufLen);
    // The whole blocks are in the state; the rest is finished (and padded) in the scratch.
    md5Scratch(this.st, this.total - this.bufLen, this.bufLen, out, 0);
    this.bufLen = 0;
    return out;
  }

  /** Internal state after whole blocks only (used to precompute HMAC pads). */
  snapshot(): { state: Int32Array; total: number } {
    if (this.bufLen !== 0) throw new Error('md5 snapshot needs a block boundary');
    return { state: Int32Array.from(this.st), total: this.total };
  }
}

/** MD5 of the concatenation of `parts`. */
export function md5Of(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const s = scratch(n);
  let off = 0;
  for (const p of parts) off = copyInto(s, off, p, 0, p.length);
  const out = new Uint8Array(16);
  md5Scratch(MD5_INIT, 0, n, out, 0);
  return out;
}

/** HMAC-MD5 key with the inner and outer pad states precomputed (RFC 2104 §4 note). */
export class HmacMd5Key {
  private readonly inner: { state: Int32Array; total: number };
  private readonly outer: { state: Int32Array; total: number };
  private readonly mid = new Uint8Array(16);

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

  /**
   * HMAC of the message the caller has just copied to scratch(len)[0..len), written to
   * out[outOff..outOff+16). Uses (and overwrites) the shared scratch buffer.
   */
  macScratch(len: number, out: Uint8Array, outOff: number): void {
    md5Scratch(this.inner.state, 64, len, this.mid, 0);
    copyInto(scratch(16), 0, this.mid, 0, 16);
    md5Scratch(this.outer.state, 64, 16, out, outOff);
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

/**
 * Deterministic, platform-independent string hashing for the hashring. Every replica must compute
 * the same owner and the same address from the same inputs, so nothing here may depend on
 * process state (no random seeds, no Map iteration order).
 */

/** A 53-bit hash (cyrb53): fast, well mixed and exactly representable as a JS number. */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Rendezvous (highest random weight) choice of one member for a key. Ties (astronomically rare)
 * break on the member name so the answer never depends on the order of `members`.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const m of members) {
    const score = hash53(`${key}\u0000${m}`);
    if (score > bestScore || (score === bestScore && best !== undefined && m > best)) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

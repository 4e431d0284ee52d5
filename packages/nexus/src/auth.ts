/**
 * Credentials and principals. Tokens are random 32-byte secrets shown once at creation; only
 * their SHA-256 is stored (in the replicated `auth` document, which never leaves the Nexus mesh),
 * so a copy of the state does not reveal a usable credential. The operator (admin) token, the
 * peer secret and the device bootstrap key come from configuration.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BngError } from '@bng/api';
import type { Store } from './store.js';
import { AUTH_DOC } from './store.js';

export type Principal =
  | { kind: 'admin' }
  | { kind: 'netco'; id: string }
  | { kind: 'ispco'; id: string }
  | { kind: 'device'; id: string }
  | { kind: 'bootstrap' };

export type PrincipalKindName = Principal['kind'];

interface TokenEntry { kind: 'netco' | 'ispco' | 'device'; id: string; at: number }

export function describePrincipal(p: Principal): string {
  return 'id' in p ? `${p.kind}:${p.id}` : p.kind;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

export const hashToken = (token: string): string => sha256(token).toString('hex');

/** Equality of two strings in time independent of where they differ (their lengths are not secret). */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export interface Auth {
  /**
   * The principal a bearer token stands for, or undefined when the token is unknown. With
   * `connection` (the request's socket), a token already resolved on that connection is not
   * hashed again while no credential was issued or revoked meanwhile.
   */
  resolve(token: string, connection?: object): Principal | undefined;
  /** Issue a new token for a principal, revoking the one issued before it. */
  issue(kind: TokenEntry['kind'], id: string, now: number): string;
  revoke(kind: TokenEntry['kind'], id: string): void;
  checkPeerSecret(token: string): boolean;
}

export function createAuth(config: { adminToken: string; bootstrapKey?: string | undefined; peerSecret?: string | undefined }, deps: { store: Store }): Auth {
  const doc = deps.store.doc(AUTH_DOC);
  const tokens = doc.getMap<TokenEntry>('tokens');
  const current = doc.getMap<string>('current');
  // Every request is authenticated: the presented token is hashed once, and that one digest is
  // compared in constant time with the configured credentials' digests (computed here, once) and
  // then looked up among the issued tokens, which are stored by the same digest. It was five
  // SHA-256s per request (two per configured credential, one for the lookup).
  const adminDigest = sha256(config.adminToken);
  const bootstrapDigest = config.bootstrapKey === undefined ? undefined : sha256(config.bootstrapKey);
  // A BNG sends every request on the same keep-alive connection with the same token: the principal
  // found for it is kept with the connection (and dropped with it), valid until any credential is
  // issued or revoked here or on a peer (the generation moves on). The presented token is compared
  // with the kept one in constant time: behind a proxy one connection may carry several clients.
  let generation = 0;
  tokens.observe(() => { generation++; });
  const byConnection = new WeakMap<object, { token: string; generation: number; principal: Principal }>();
  const lookup = (token: string): Principal | undefined => {
    const digest = sha256(token);
    if (timingSafeEqual(digest, adminDigest)) return { kind: 'admin' };
    if (bootstrapDigest !== undefined && timingSafeEqual(digest, bootstrapDigest)) return { kind: 'bootstrap' };
    const entry = tokens.get(digest.toString('hex'));
    return entry ? { kind: entry.kind, id: entry.id } : undefined;
  };
  return {
    resolve(token, connection) {
      if (connection === undefined) return lookup(token);
      const kept = byConnection.get(connection);
      if (kept !== undefined && kept.generation === generation && sameText(kept.token, token)) return kept.principal;
      const principal = lookup(token);
      if (principal) byConnection.set(connection, { token, generation, principal: Object.freeze(principal) });
      else byConnection.delete(connection);
      return principal;
    },
    issue(kind, id, now) {
      const token = `nx${kind[0]}_${randomBytes(32).toString('base64url')}`;
      const h = hashToken(token);
      doc.transact(() => {
        const prev = current.get(`${kind}:${id}`);
        if (prev) tokens.delete(prev);
        tokens.set(h, { kind, id, at: now });
        current.set(`${kind}:${id}`, h);
      });
      return token;
    },
    revoke(kind, id) {
      doc.transact(() => {
        const prev = current.get(`${kind}:${id}`);
        if (prev) tokens.delete(prev);
        current.delete(`${kind}:${id}`);
      });
    },
    checkPeerSecret(token) {
      return config.peerSecret !== undefined && safeEqual(token, config.peerSecret);
    },
  };
}

export function requireKind(p: Principal | undefined, allowed: readonly PrincipalKindName[]): Principal {
  if (!p) throw new BngError('BNG_ERR_UNAUTHENTICATED', 'missing or unknown credential: send Authorization: Bearer <token>');
  if (!allowed.includes(p.kind)) {
    throw new BngError('BNG_ERR_FORBIDDEN', `${describePrincipal(p)} may not use this endpoint (allowed: ${allowed.join(', ')})`);
  }
  return p;
}

export const forbidden = (p: Principal, what: string) =>
  new BngError('BNG_ERR_FORBIDDEN', `${describePrincipal(p)} may not access ${what}`);


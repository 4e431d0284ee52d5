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

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export interface Auth {
  /** The principal a bearer token stands for, or undefined when the token is unknown. */
  resolve(token: string): Principal | undefined;
  /** Issue a new token for a principal, revoking the one issued before it. */
  issue(kind: TokenEntry['kind'], id: string, now: number): string;
  revoke(kind: TokenEntry['kind'], id: string): void;
  checkPeerSecret(token: string): boolean;
}

export function createAuth(config: { adminToken: string; bootstrapKey?: string | undefined; peerSecret?: string | undefined }, deps: { store: Store }): Auth {
  const doc = deps.store.doc(AUTH_DOC);
  const tokens = doc.getMap<TokenEntry>('tokens');
  const current = doc.getMap<string>('current');
  return {
    resolve(token) {
      if (safeEqual(token, config.adminToken)) return { kind: 'admin' };
      if (config.bootstrapKey !== undefined && safeEqual(token, config.bootstrapKey)) return { kind: 'bootstrap' };
      const entry = tokens.get(hashToken(token));
      return entry ? { kind: entry.kind, id: entry.id } : undefined;
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


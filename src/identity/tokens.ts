// Issue and verify the JWTs users put in their docker CLI config. The algorithm is always pinned: a token
// signed with anything else (HS256 with the public key, `none`) is refused.

import { createHash, randomUUID } from 'node:crypto'
import jwt from 'jsonwebtoken'
import type { TokenSettings } from './keys.js'

export interface TokenClaims {
  user: string
  tokenId: string
  expiresAt: number
}

export type TokenVerdict = { ok: true, claims: TokenClaims } | { ok: false, reason: string }

export function issueToken (privateKey: string, settings: TokenSettings, user: string, ttlSeconds: number): string {
  return jwt.sign({}, privateKey, {
    algorithm: settings.algorithm,
    issuer: settings.issuer,
    audience: settings.audience,
    subject: user,
    expiresIn: ttlSeconds,
    jwtid: randomUUID()
  })
}

/**
 * Verifies tokens, remembering good ones until they expire: an ECDSA verify costs far more than the rest of
 * a decision, and the same few tokens arrive over and over.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, TokenClaims>()
  private readonly maxCached: number

  constructor (private readonly publicKey: string, private readonly settings: TokenSettings, options: { maxCached?: number } = {}) {
    this.maxCached = options.maxCached ?? 10_000
  }

  verify (token: string, now = Date.now()): TokenVerdict {
    const cached = this.cache.get(token)
    if (cached !== undefined) {
      if (cached.expiresAt * 1000 > now) return { ok: true, claims: cached }
      this.cache.delete(token)
    }
    let payload: jwt.JwtPayload
    try {
      payload = jwt.verify(token, this.publicKey, {
        algorithms: [this.settings.algorithm],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTimestamp: Math.floor(now / 1000)
      }) as jwt.JwtPayload
    } catch (err) {
      return { ok: false, reason: explain(err) }
    }
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.exp !== 'number') {
      return { ok: false, reason: 'the token names no user (sub) or has no expiry (exp)' }
    }
    const claims: TokenClaims = { user: payload.sub, tokenId: payload.jti ?? fingerprint(token), expiresAt: payload.exp }
    if (this.cache.size >= this.maxCached) this.cache.clear()
    this.cache.set(token, claims)
    return { ok: true, claims }
  }
}

function explain (err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return `the token expired at ${err.expiredAt.toISOString()}; get a new one`
  if (err instanceof jwt.NotBeforeError) return 'the token is not valid yet'
  if (err instanceof jwt.JsonWebTokenError) return `the token is not valid here (${err.message}); get a token issued for this daemon`
  return 'the token could not be verified'
}

/** A short, non-reversible name for a token without a jti, for the audit record. */
export function fingerprint (token: string): string {
  return 'sha256:' + createHash('sha256').update(token).digest('hex').slice(0, 16)
}

// Issue and verify the JWTs users put in their docker CLI config. The algorithm is always pinned: a token
// signed with anything else (HS256 with the public key, `none`) is refused. So is a token that asks for a JWS
// extension (`crit`, RFC 7515 4.1.11: none is understood here), and one valid for longer than the policy allows.

import { createHash, randomUUID } from 'node:crypto'
import jwt from 'jsonwebtoken'
import { systemClock, type Clock } from '../core/clock.js'
import { durationMs, durationText } from '../core/duration.js'
import { TOKEN_DEFAULTS } from '../policy/schema.js'
import type { TokenSettings } from './keys.js'

export interface TokenClaims {
  user: string
  tokenId: string
  /** Seconds since the epoch, as the token says. */
  expiresAt: number
  issuedAt: number
}

export interface TokenVerifierOptions {
  maxCached?: number
  /** The longest lifetime (exp - iat) accepted, read at each call so a policy reload applies; default 90 days. */
  maxLifetimeMs?: () => number
  /** What `now` is when a token's exp, iat and lifetime are judged; default the system clock. */
  clock?: Clock
}

/** How far ahead of this clock a token's iat may be (issuers' clocks drift). */
const CLOCK_SKEW_SECONDS = 300

export type TokenVerdict = { ok: true, claims: TokenClaims } | { ok: false, reason: string }

/** Signs a token; `token issue` has checked `ttlSeconds` against the policy's tokens.maxLifetime. */
export function issueToken (privateKey: string, settings: TokenSettings, user: string, ttlSeconds: number): string {
  return issueTokenWithId(privateKey, settings, user, ttlSeconds).token
}

/** A new token and what a record may say of it: its ID (jti) and expiry, never the token. */
export function issueTokenWithId (privateKey: string, settings: TokenSettings, user: string, ttlSeconds: number): { token: string, tokenId: string, expiresAt: string } {
  const tokenId = randomUUID()
  const token = jwt.sign({}, privateKey, {
    algorithm: settings.algorithm,
    issuer: settings.issuer,
    audience: settings.audience,
    subject: user,
    expiresIn: ttlSeconds,
    jwtid: tokenId
  })
  const { exp } = jwt.decode(token) as { exp: number }
  return { token, tokenId, expiresAt: new Date(exp * 1000).toISOString() }
}

/**
 * Verifies tokens, remembering good ones until they expire: an ECDSA verify costs far more than the rest of
 * a decision, and the same few tokens arrive over and over.
 */
export class TokenVerifier {
  /** By the token's tail (see cacheKey), holding the whole token: a hit needs the exact same token. */
  private readonly cache = new Map<string, { token: string, claims: TokenClaims }>()
  private readonly maxCached: number
  private readonly maxLifetimeMs: () => number
  private readonly clock: Clock

  constructor (private readonly publicKey: string, private readonly settings: TokenSettings, options: TokenVerifierOptions = {}) {
    this.maxCached = options.maxCached ?? 10_000
    const fallback = durationMs(TOKEN_DEFAULTS.maxLifetime)
    this.maxLifetimeMs = options.maxLifetimeMs ?? (() => fallback)
    this.clock = options.clock ?? systemClock
  }

  verify (token: string): TokenVerdict {
    const now = this.clock.now()
    const key = cacheKey(token)
    const entry = this.cache.get(key)
    const cached = entry !== undefined && entry.token === token ? entry.claims : undefined
    if (cached !== undefined) {
      if (cached.expiresAt * 1000 > now) {
        // The cap may have been lowered by a reload since the token was first seen.
        const tooLong = lifetimeProblem(cached.issuedAt, cached.expiresAt, now, this.maxLifetimeMs())
        return tooLong === null ? { ok: true, claims: cached } : { ok: false, reason: tooLong }
      }
      this.cache.delete(key)
    }
    let verified: jwt.Jwt
    try {
      verified = jwt.verify(token, this.publicKey, {
        algorithms: [this.settings.algorithm],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTimestamp: Math.floor(now / 1000),
        complete: true
      })
    } catch (err) {
      return { ok: false, reason: explain(err) }
    }
    if (Object.hasOwn(verified.header, 'crit')) {
      return { ok: false, reason: `the token's header asks for extensions portcullis does not implement (crit: ${JSON.stringify(verified.header.crit).slice(0, 100)}), so it is refused (RFC 7515 4.1.11); use a token from \`portcullis token issue\`` }
    }
    const payload = verified.payload as jwt.JwtPayload
    if (typeof payload !== 'object' || typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.exp !== 'number') {
      return { ok: false, reason: 'the token names no user (sub) or has no expiry (exp)' }
    }
    if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) {
      return { ok: false, reason: 'the token has no issue time (iat), so its lifetime cannot be checked; get a token from `portcullis token issue`' }
    }
    const tooLong = lifetimeProblem(payload.iat, payload.exp, now, this.maxLifetimeMs())
    if (tooLong !== null) return { ok: false, reason: tooLong }
    const claims: TokenClaims = { user: payload.sub, tokenId: payload.jti ?? fingerprint(token), expiresAt: payload.exp, issuedAt: payload.iat }
    if (this.cache.size >= this.maxCached) this.cache.clear()
    this.cache.set(key, { token, claims })
    return { ok: true, claims }
  }
}

/** Why a token's lifetime is not acceptable, or null: issued in the future, valid longer than the cap from its
 * issue time, or (whatever its iat says) expiring further ahead than the cap from now. */
function lifetimeProblem (issuedAt: number, expiresAt: number, now: number, maxLifetimeMs: number): string | null {
  const cap = durationText(maxLifetimeMs)
  if (issuedAt > now / 1000 + CLOCK_SKEW_SECONDS) return `the token claims to be issued in the future (iat ${issuedAt}); get a new one`
  if ((expiresAt - issuedAt) * 1000 > maxLifetimeMs || expiresAt * 1000 - now > maxLifetimeMs) {
    return `the token is valid for longer than tokens.maxLifetime (${cap}) allows; get one with a shorter --ttl`
  }
  return null
}

function explain (err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return `the token expired at ${err.expiredAt.toISOString()}; get a new one`
  if (err instanceof jwt.NotBeforeError) return 'the token is not valid yet'
  if (err instanceof jwt.JsonWebTokenError) return `the token is not valid here (${err.message}); get a token issued for this daemon`
  return 'the token could not be verified'
}

/**
 * The tail of a token, as the key of maps that need it: a Map hashes a fresh string (each call's token is a new
 * string parsed from the daemon's document) over all its characters, about 1 µs for a 500-character JWT. The
 * tail is the signature's end, which tells tokens apart; whoever uses the key still compares whole tokens.
 */
export function cacheKey (token: string): string {
  return token.length <= TOKEN_KEY_LENGTH ? token : token.slice(-TOKEN_KEY_LENGTH)
}

const TOKEN_KEY_LENGTH = 48

/** A short, non-reversible name for a token without a jti, for the audit record. */
export function fingerprint (token: string): string {
  return 'sha256:' + createHash('sha256').update(token).digest('hex').slice(0, 16)
}

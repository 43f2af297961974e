// Who is calling, in order of trust: the daemon-verified TLS user, portcullis's own lookups, the SSH bridge's
// session grants, a signed token, else anonymous. A token that is present but bad is refused outright rather than treated as anonymous.

import { timingSafeEqual } from 'node:crypto'
import type { AuthZRequest, IdentityVerdict } from '../core/types.js'
import { BRIDGE_USER, RESERVED_USERS } from '../core/reserved-users.js'
import { BRIDGE_HEADER, type BridgeGrants } from './bridge-grants.js'
import { fingerprint, type TokenVerifier } from './tokens.js'

export const TOKEN_HEADER = 'X-Portcullis-Token'
export const INTERNAL_HEADER = 'X-Portcullis-Internal'

export class IdentityResolver {
  private readonly internalSecret: Buffer

  constructor (private readonly tokens: TokenVerifier | null, internalSecret: string, private readonly grants: BridgeGrants | null = null) {
    this.internalSecret = Buffer.from(internalSecret)
  }

  resolve (req: AuthZRequest): IdentityVerdict {
    if (req.UserAuthNMethod === 'TLS' && typeof req.User === 'string' && req.User !== '') {
      // A record naming portcullis-bridge must mean the bridge: a certificate with that name is refused.
      if (RESERVED_USERS.has(req.User)) return { ok: false, method: 'tls', reason: reservedReason(req.User) }
      return { ok: true, identity: { user: req.User, method: 'tls' } }
    }
    const headers = req.RequestHeaders ?? {}
    const internal = header(headers, INTERNAL_HEADER)
    if (internal !== undefined && this.isInternal(internal)) {
      return { ok: true, identity: { user: 'portcullis', method: 'internal' } }
    }
    const grantSecret = header(headers, BRIDGE_HEADER)
    if (grantSecret !== undefined) {
      // Only the bridge in this process can hold a live grant; a stale or guessed one is refused, never anonymous.
      const grant = this.grants?.find(grantSecret)
      if (grant === undefined) return { ok: false, method: 'bridge', reason: 'the SSH bridge session this call claims is over or unknown' }
      if (grant.kind === 'housekeeping') {
        return { ok: true, identity: { user: BRIDGE_USER, method: 'bridge-housekeeping', session: grant.session, exec: grant.exec } }
      }
      return { ok: true, identity: { user: grant.user, method: 'bridge', session: grant.session } }
    }
    const token = header(headers, TOKEN_HEADER)
    if (token !== undefined && token !== '') {
      if (this.tokens === null) return { ok: false, method: 'jwt', reason: 'tokens are not enabled on this daemon (no keys)' }
      const verdict = this.tokens.verify(token.trim())
      // The fingerprint lets a reviewer tie repeated bad attempts to one token without storing it.
      if (!verdict.ok) return { ok: false, method: 'jwt', reason: verdict.reason, tokenId: fingerprint(token.trim()) }
      if (RESERVED_USERS.has(verdict.claims.user)) return { ok: false, method: 'jwt', reason: reservedReason(verdict.claims.user), tokenId: verdict.claims.tokenId }
      return { ok: true, identity: { user: verdict.claims.user, method: 'jwt', tokenId: verdict.claims.tokenId } }
    }
    return { ok: true, identity: { user: null, method: 'anonymous' } }
  }

  /** Whether `req` is one of portcullis's own look-ups (its internal header, and no TLS user who outranks it). */
  isOwnLookup (req: AuthZRequest): boolean {
    if (req.UserAuthNMethod === 'TLS' && typeof req.User === 'string' && req.User !== '') return false
    const internal = header(req.RequestHeaders ?? {}, INTERNAL_HEADER)
    return internal !== undefined && this.isInternal(internal)
  }

  private isInternal (value: string): boolean {
    const given = Buffer.from(value)
    return given.length === this.internalSecret.length && timingSafeEqual(given, this.internalSecret)
  }
}

/** Go canonicalizes header names (`X-Portcullis-Token`), but match any case to be safe. */
export function header (headers: Record<string, string>, name: string): string | undefined {
  const exact = headers[name]
  if (exact !== undefined) return exact
  const lower = name.toLowerCase()
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lower) return headers[key]
  return undefined
}

function reservedReason (user: string): string {
  return `"${user}" is the name portcullis records its own calls under, so no caller may use it; issue the certificate or token for a person`
}

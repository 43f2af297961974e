// `Authorization: Bearer <token>` on portcullis's HTTP API (elevation, auditors' audit reads): the token is verified
// like the plugin verifies the docker CLI's (algorithm, issuer and audience pinned).

import type { Request } from 'express'
import type { TokenVerifier } from './tokens.js'

/** The user an `Authorization: Bearer <token>` header names, the token verified like the plugin verifies it; or why not. */
export function readBearer (req: Request, tokens: TokenVerifier | null): { ok: true, user: string, tokenId: string, /** seconds since the epoch */ expiresAt: number } | { ok: false, reason: string } {
  const header = req.get('authorization')
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'the request has no Authorization header' }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (match === null) return { ok: false, reason: 'the Authorization header is not "Bearer <token>"' }
  if (tokens === null) return { ok: false, reason: 'tokens are not enabled on this daemon (no keys: an admin runs `portcullis keys init`)' }
  const verdict = tokens.verify(match[1]!)
  if (!verdict.ok) return { ok: false, reason: verdict.reason }
  return { ok: true, user: verdict.claims.user, tokenId: verdict.claims.tokenId, expiresAt: verdict.claims.expiresAt }
}

// Token issuance through the running daemon (`portcullis token issue --admin-socket`): the daemon signs with its own
// key, under the policy in force's tokens.maxLifetime, and records `token.issue` (user, token ID, expiry, who asked)
// before the token leaves it. A token issued offline from the key file never passes the daemon and is not recorded.

import type express from 'express'
import type { AuditStore } from '../audit/store.js'
import { durationText } from '../core/duration.js'
import { PortcullisError } from '../errors.js'
import { readKey, readTokenSettings } from '../identity/keys.js'
import { issueTokenWithId } from '../identity/tokens.js'
import type { PolicySource } from '../policy/source.js'
import { adminCallerFields } from './peer-identity.js'

/** A user name as the policy spells one (src/policy/schema.ts). */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/
/** What the client says it is (its login, sudo's user, host): at most this long in the record. */
const MAX_CLAIM = 200

export function addTokenRoutes (app: express.Express, deps: { audit: AuditStore, policy: PolicySource, keys?: string }): void {
  const keys = deps.keys
  if (keys === undefined) return
  app.post('/v1/tokens', async (req, res) => {
    const user = typeof req.query.user === 'string' ? req.query.user : ''
    if (!USER_NAME.test(user)) throw new PortcullisError('PORTCULLIS_TOKEN_USER', JSON.stringify(user.slice(0, 100)))
    const ttl = typeof req.query.ttl === 'string' ? req.query.ttl : ''
    if (!/^[1-9][0-9]{0,9}$/.test(ttl)) throw new PortcullisError('PORTCULLIS_TOKEN_TTL', JSON.stringify(ttl.slice(0, 20)))
    const ttlSeconds = Number(ttl)
    const maxLifetimeMs = deps.policy.current.tokens.maxLifetimeMs
    if (ttlSeconds * 1000 > maxLifetimeMs) throw new PortcullisError('PORTCULLIS_TOKEN_TTL_TOO_LONG', durationText(maxLifetimeMs), 'the policy in force', durationText(maxLifetimeMs))
    const issued = issueTokenWithId(readKey(keys, 'privateKey'), readTokenSettings(keys), user, ttlSeconds)
    // What the client claims (its login, sudo's user) is kept as a claim; who it is, is the kernel's word (peer).
    const claimed = typeof req.query.requestedBy === 'string' ? req.query.requestedBy.slice(0, MAX_CLAIM) : null
    const caller = await adminCallerFields(req)
    // Recorded before the answer: a token the trail does not hold is never handed out.
    await deps.audit.append({
      kind: 'system',
      action: 'token.issue',
      user,
      tokenId: issued.tokenId,
      reason: `token ${issued.tokenId} issued for ${user} through the admin socket, valid until ${issued.expiresAt}`,
      fields: { expiresAt: issued.expiresAt, ttlSeconds, via: 'admin-socket', requestedBy: claimed, ...caller }
    })
    // Whether the policy in force names the user (a project or a global role): the CLI warns about a token for nobody.
    const inPolicy = deps.policy.current.membershipsOf(user).length > 0
    res.json({ token: issued.token, tokenId: issued.tokenId, user, expiresAt: issued.expiresAt, inPolicy })
  })
}

// Auditors (separation of duties, 等保 三权分立): users the policy names in audit.auditors read the audit trail with
// their own token through the elevation API, without root on the host. Anyone else, a bad token or none is
// refused, and the refusal is recorded by recordedRead.

import type { Request } from 'express'
import { PortcullisError } from '../errors.js'
import { readBearer } from '../identity/bearer.js'
import type { TokenVerifier } from '../identity/tokens.js'
import type { PolicySource } from '../policy/source.js'
import type { IdentifyReader } from './audit-read-record.js'
import type { ReaderStanding } from './open-audit-reads.js'

export function identifyAuditor (tokens: TokenVerifier | null, policy: PolicySource): IdentifyReader {
  return (req: Request) => {
    const signedIn = readBearer(req, tokens)
    if (!signedIn.ok) {
      return { ok: false, error: new PortcullisError('PORTCULLIS_AUDIT_UNAUTHENTICATED', signedIn.reason), claim: { via: 'http', detail: signedIn.reason } }
    }
    const { user, tokenId, expiresAt } = signedIn
    // The policy in force at this request: a reload that removes an auditor takes their access away at once.
    if (!isAuditor(policy, user)) {
      return { ok: false, error: new PortcullisError('PORTCULLIS_AUDIT_NOT_AUDITOR', user), claim: { via: 'http', user, tokenId, detail: `${user} is not in audit.auditors` } }
    }
    return { ok: true, reader: { via: 'http', user, tokenId, expiresAt: expiresAt * 1000, tokenStillGood: () => readBearer(req, tokens).ok } }
  }
}

/** Whether an auditor's open read may go on under the policy in force (asked again after each reload): whichever
 * token it was opened with, it ends once its user is no longer in audit.auditors, or once that token would no
 * longer be taken (a lowered tokens.maxLifetime). */
export function auditorStanding (policy: PolicySource): ReaderStanding {
  return (read) => {
    if (!isAuditor(policy, read.user)) return 'auditor-removed'
    return read.tokenStillGood?.() === false ? 'token-invalid' : null
  }
}

function isAuditor (policy: PolicySource, user: string): boolean {
  return policy.current.audit.auditors?.has(user) === true
}

// The shape of an elevation request as stored (`req!<id>` in the audit store's `elevation` key space) and as the API returns
// it: who asked for which role where, for how long and why, and what became of it.

import { randomBytes } from 'node:crypto'
import type { Grant } from '../core/grant.js'
import { parseJsonObject } from '../json-object.js'

type RequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'revoked'

interface GrantInfo {
  /** `g-` and 12 hex digits: what decisions and audit records name. */
  id: string
  /** ms since the epoch. */
  expiresAt: number
}

export interface ElevationRequest {
  /** `r-` and 12 hex digits. */
  id: string
  user: string
  project: string
  role: string
  /** The role the user held in the project when asking (null: none). */
  heldRole: string | null
  /** How long the grant lasts once approved. */
  ttlMs: number
  reason: string
  state: RequestState
  createdAt: number
  /** When a pending request expires if nobody decides it. */
  pendingUntil: number
  decidedAt?: number
  decidedBy?: string
  decisionReason?: string
  grant?: GrantInfo
  autoApproved?: boolean
  /** When the grant ended (ran out or was revoked) and that was recorded; unset while it runs. */
  endedAt?: number
  revokedBy?: string
  revokeReason?: string
  /** When it reached its end (denied, expired, withdrawn, its grant ended or was revoked); unset until then. */
  finishedAt?: number
}

export const REQUEST_ID_PATTERN = /^r-[0-9a-f]{12}$/
const GRANT_ID_PATTERN = /^g-[0-9a-f]{12}$/

export function newRequestId (): string {
  return 'r-' + randomBytes(6).toString('hex')
}

export function newGrantId (): string {
  return 'g-' + randomBytes(6).toString('hex')
}

/** The grant of an approved request, for as long as it runs; null otherwise. */
export function activeGrantOf (request: ElevationRequest, now: number): Grant | null {
  if (request.state !== 'approved' || request.grant === undefined || request.endedAt !== undefined) return null
  if (request.grant.expiresAt <= now) return null
  return { id: request.grant.id, user: request.user, project: request.project, role: request.role, expiresAt: request.grant.expiresAt, request: request.id }
}

/** When a request finished, or null while it is pending or its grant runs. Requests stored before finishedAt
 * existed fall back on the times they do have. */
export function finishedAtOf (request: ElevationRequest): number | null {
  if (request.state === 'pending') return null
  if (request.state === 'approved' && request.endedAt === undefined) return null
  return request.finishedAt ?? request.endedAt ?? request.decidedAt ?? request.pendingUntil
}

/** A stored request read back, or null when it is not one (the entry was damaged or written by something else). */
export function parseStoredRequest (text: string): ElevationRequest | null {
  const value = parseJsonObject(text)
  if (value === null) return null
  const r = value as unknown as ElevationRequest
  const strings = [r.id, r.user, r.project, r.role, r.reason, r.state]
  if (strings.some((s) => typeof s !== 'string') || !REQUEST_ID_PATTERN.test(r.id)) return null
  if (![r.ttlMs, r.createdAt, r.pendingUntil].every(Number.isFinite)) return null
  if (!['pending', 'approved', 'denied', 'expired', 'revoked'].includes(r.state)) return null
  if (r.state === 'approved' && (r.grant === undefined || !GRANT_ID_PATTERN.test(r.grant.id) || !Number.isFinite(r.grant.expiresAt))) return null
  return r
}

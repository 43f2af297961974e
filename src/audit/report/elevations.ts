// The report's story of each just-in-time elevation request, told by its elevation records: who asked for what and
// why, who approved or denied it and when, and how long the grant ran.

import type { AuditRecord } from '../record.js'

export interface ElevationStory {
  request: string
  user: string | null
  project: string | null
  role: string | null
  heldRole: string | null
  /** The requester's reason. */
  reason: string | null
  ttlMs: number | null
  requestedAt: string | null
  /** approved, denied, expired (nobody decided), pending (still, at the end of the range). */
  outcome: 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn'
  decidedBy: string | null
  decidedAt: string | null
  decisionReason: string | null
  autoApproved: boolean
  grant: string | null
  grantExpiresAt: string | null
  /** When the grant stopped (ran out or was revoked), and by whom when revoked. */
  endedAt: string | null
  endedHow: 'ran out' | 'revoked' | null
  revokedBy: string | null
  /** Seqs of the records this was told from. */
  seqs: number[]
}

/** Adds one elevation record to `stories` (by request ID); records without one (rate limits) are left out. */
export function addElevationStep (stories: Map<string, ElevationStory>, record: AuditRecord): void {
  const fields = record.fields ?? {}
  const id = text(fields.request)
  if (id === null) return
  let story = stories.get(id)
  if (story === undefined) {
    story = {
      request: id, user: record.user, project: record.project, role: record.role ?? null, heldRole: null, reason: null, ttlMs: null,
      requestedAt: null, outcome: 'pending', decidedBy: null, decidedAt: null, decisionReason: null, autoApproved: false,
      grant: null, grantExpiresAt: null, endedAt: null, endedHow: null, revokedBy: null, seqs: []
    }
    stories.set(id, story)
  }
  story.seqs.push(record.seq)
  story.heldRole = text(fields.heldRole) ?? story.heldRole
  story.reason = text(fields.reason) ?? story.reason
  story.ttlMs = typeof fields.ttlMs === 'number' ? fields.ttlMs : story.ttlMs
  story.grant = text(fields.grant) ?? story.grant
  story.grantExpiresAt = text(fields.grantExpiresAt) ?? story.grantExpiresAt
  switch (record.action) {
    case 'elevation.request':
      story.requestedAt = record.time
      break
    case 'elevation.approve':
    case 'elevation.deny':
      story.outcome = record.action === 'elevation.approve' ? 'approved' : 'denied'
      story.decidedBy = text(fields.decidedBy) ?? text(fields.by)
      story.decidedAt = record.time
      story.decisionReason = text(fields.decisionReason)
      story.autoApproved = fields.autoApproved === true
      break
    case 'elevation.expire':
      story.outcome = 'expired'
      story.decidedAt = record.time
      break
    case 'elevation.revoke':
      if (story.outcome === 'pending') {
        story.outcome = 'withdrawn'
        story.decidedBy = text(fields.by)
        story.decidedAt = record.time
      } else {
        story.endedAt = record.time
        story.endedHow = 'revoked'
        story.revokedBy = text(fields.by)
      }
      break
    case 'elevation.end':
      story.endedAt = record.time
      story.endedHow = 'ran out'
      break
  }
}

function text (value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null
}

// The shape of one audit record, as stored and as handed to readers.

import type { AuthMethod } from '../core/types.js'
import { parseJsonObject } from '../json-object.js'

/** `decision`: a judged request; `response`: what the daemon answered to an allowed one; `system`: the store or
 * daemon itself (started, stopped, policy reloaded...); `session`: an SSH bridge session (start, end, denied);
 * `elevation`: a just-in-time role request and its grant (asked, approved, denied, expired, revoked, ended). */
type AuditKind = 'decision' | 'response' | 'system' | 'session' | 'elevation'

export type AuditDecision = 'allow' | 'deny'

export interface AuditRecord {
  /** 1, 2, 3...: contiguous, never reused. */
  seq: number
  /** ISO 8601 with milliseconds, assigned by the store. */
  time: string
  kind: AuditKind
  user: string | null
  authMethod: AuthMethod | null
  tokenId?: string
  action: string | null
  project: string | null
  resource: string | null
  method: string | null
  uri: string | null
  decision: AuditDecision | null
  reason: string | null
  code?: string
  role?: string
  /** Security-relevant request fields (env values already redacted by the reader). */
  fields?: Record<string, unknown>
  /** For `response` records: the seq of the decision it answers. */
  reqSeq?: number
  /** For `response` records: the status the daemon answered with. */
  status?: number
  /** The previous record's hash; 64 zeros for the first record. */
  prevHash: string
  /** sha256 hex of `prevHash + '\n' + bodyText`, where bodyText is the stored JSON text of the record without
   * `hash` (which is stored last); see chain.ts. */
  hash: string
}

/** What a caller hands to `append`: everything but `kind` may be left out (stored as null, or omitted when the
 * record field is optional). */
export interface AuditInput {
  kind: AuditKind
  user?: string | null
  authMethod?: AuthMethod | null
  tokenId?: string | null
  action?: string | null
  project?: string | null
  resource?: string | null
  method?: string | null
  uri?: string | null
  decision?: AuditDecision | null
  reason?: string | null
  code?: string | null
  role?: string | null
  fields?: Record<string, unknown> | null
  reqSeq?: number | null
  status?: number | null
}

/** The last durable record: `{ seq: 0, hash: GENESIS_HASH }` for an empty store. */
export interface AuditHead {
  seq: number
  hash: string
}

export const GENESIS_HASH = '0'.repeat(64)

export const AUDIT_KINDS: ReadonlySet<string> = new Set<AuditKind>(['decision', 'response', 'system', 'session', 'elevation'])

/** A stored record parsed back, or null when the text is not JSON or lacks the fields the chain needs.
 * Other fields are not checked here: the hash covers them. */
export function parseRecord (text: string): AuditRecord | null {
  const value = parseJsonObject(text)
  if (value === null) return null
  const record = value as unknown as AuditRecord
  if (!Number.isSafeInteger(record.seq) || typeof record.prevHash !== 'string' || typeof record.hash !== 'string') return null
  return record
}

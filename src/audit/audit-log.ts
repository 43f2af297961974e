// The seam between what writes records (the plugin's authorizer, the bridge, the elevation service) and the trail
// behind it: they need to append and to know whether appends are taken, not which store holds them. AuditStore is
// the implementation `serve` runs; tests use a small one in memory (test/fakes/audit-log.ts); the fleet's
// PostgreSQL trail (issue 14) is meant to be another.

import type { AuditInput, AuditRecord } from './record.js'

export interface AppendOptions {
  /**
   * The caller does not wait on this record: let it ride with the next batch (at most LAZY_WAIT_MS later)
   * instead of paying for an fsync of its own. The promise still settles once it is durable.
   */
  lazy?: boolean
}

export interface AuditLog {
  /** Resolves with the record as stored once it is durable; rejects (with a coded AuditError) when it is not. */
  append: (input: AuditInput, options?: AppendOptions) => Promise<AuditRecord>
  /** Why appends are refused since a write failed; null while they are taken. */
  readonly failure: Error | null
  /** Whether the trail is being closed: appends are refused from now on. */
  readonly closing: boolean
}

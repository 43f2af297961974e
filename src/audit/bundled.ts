// How far evidence bundles reach: `s!bundled` holds the highest seq an `audit bundle` wrote out. Retention
// removes nothing past it (unless forced), so no record expires before a reviewer has a copy of it.

import { AuditError } from './errors.js'
import type { AuditDb } from './level.js'
import { BUNDLED_KEY } from './keys.js'
import { storageError, tablesHolding } from './storage-errors.js'

/** The highest bundled seq; 0 when nothing was ever bundled (or the entry is unreadable). */
export async function readBundledSeq (db: AuditDb, snapshot?: ReturnType<AuditDb['snapshot']>): Promise<number> {
  let raw: string | undefined
  try {
    raw = await db.get(BUNDLED_KEY, snapshot !== undefined ? { snapshot } : {})
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesHolding(db, BUNDLED_KEY))
  }
  const seq = raw === undefined ? 0 : Number(raw)
  return Number.isSafeInteger(seq) && seq > 0 ? seq : 0
}

/** Raises the bundled seq to `toSeq` (never lowers it: an older bundle does not undo a newer one), durably.
 * Resolves with the stored value. Callers serialize calls (AuditStore does). */
export async function writeBundledSeq (db: AuditDb, toSeq: number): Promise<number> {
  if (!Number.isSafeInteger(toSeq) || toSeq < 0) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`the bundled seq ${String(toSeq)} is not a record seq`])
  const current = await readBundledSeq(db)
  if (toSeq <= current) return current
  try {
    await db.put(BUNDLED_KEY, String(toSeq), { sync: true })
  } catch (err) {
    throw storageError(err, db.location)
  }
  return toSeq
}

// How far the copies reach: `s!bundled` holds the highest seq an `audit bundle` wrote out, `s!shipped` the highest
// the fleet database holds. Retention removes nothing past either (unless forced), so no record expires before a
// reviewer or the fleet has a copy of it.

import { AuditError } from './errors.js'
import type { AuditDb } from './level.js'
import { BUNDLED_KEY, SHIPPED_KEY } from './keys.js'
import { storageError, tablesHolding } from './storage-errors.js'

/** The highest bundled seq; 0 when nothing was ever bundled (or the entry is unreadable). */
export async function readBundledSeq (db: AuditDb, snapshot?: ReturnType<AuditDb['snapshot']>): Promise<number> {
  return await readMark(db, BUNDLED_KEY, snapshot) ?? 0
}

/** The highest seq the fleet database holds (`s!shipped`), or null when this store never shipped: then retention
 * holds nothing back for the fleet. */
export async function readShippedSeq (db: AuditDb, snapshot?: ReturnType<AuditDb['snapshot']>): Promise<number | null> {
  return await readMark(db, SHIPPED_KEY, snapshot)
}

/** Raises the bundled seq to `toSeq` (never lowers it: an older bundle does not undo a newer one), durably.
 * Resolves with the stored value. Callers serialize calls (AuditStore does). */
export async function writeBundledSeq (db: AuditDb, toSeq: number): Promise<number> {
  return await raiseMark(db, BUNDLED_KEY, toSeq, 'bundled', true)
}

/** Raises the shipped seq to `toSeq`. Lowering it is never needed: the database's high-water mark only rises. */
// Not synced: a mark lost in a crash is an older one, which only makes retention keep more.
export async function writeShippedSeq (db: AuditDb, toSeq: number): Promise<number> {
  return await raiseMark(db, SHIPPED_KEY, toSeq, 'shipped', false)
}

async function readMark (db: AuditDb, key: string, snapshot?: ReturnType<AuditDb['snapshot']>): Promise<number | null> {
  let raw: string | undefined
  try {
    raw = await db.get(key, snapshot !== undefined ? { snapshot } : {})
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesHolding(db, key))
  }
  if (raw === undefined) return null
  const seq = Number(raw)
  return Number.isSafeInteger(seq) && seq > 0 ? seq : 0
}

async function raiseMark (db: AuditDb, key: string, toSeq: number, what: string, sync: boolean): Promise<number> {
  if (!Number.isSafeInteger(toSeq) || toSeq < 0) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`the ${what} seq ${String(toSeq)} is not a record seq`])
  const current = await readMark(db, key)
  if (current !== null && toSeq <= current) return current
  try {
    await db.put(key, String(toSeq), { sync })
  } catch (err) {
    throw storageError(err, db.location)
  }
  return toSeq
}

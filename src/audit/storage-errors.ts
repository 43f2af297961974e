// LevelDB's own failures (a table or log it cannot read, an I/O error) as coded errors that name the file and,
// where the caller knows it, the record; and the damage LevelDB passed over in silence when it opened the store.

import { readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { AuditError, messageOf } from './errors.js'
import type { AuditDb } from './level.js'

/** LevelDB's messages name a file by its path: a table, a write-ahead log, a manifest. */
const FILE_IN_MESSAGE = /(?:[^\s:]*\/)?(\d+\.(?:ldb|sst|log)|MANIFEST-\d+|CURRENT)\b/

/** Whether `err` is LevelDB reporting damage or an I/O failure (not a closed database or a bad argument). */
export function isStorageFailure (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'LEVEL_CORRUPTION' || code === 'LEVEL_IO_ERROR' || /^(?:Corruption|IO error):/.test(messageOf(err))
}

/** `err` as PORTCULLIS_AUDIT_STORAGE when it is a storage failure (naming the file, and `seq` when given);
 * anything else is returned as it is. When LevelDB's message names no file, `tables` (see tablesOverlapping) are
 * named as where the damage lies. */
export function storageError (err: unknown, dir: string, seq?: number, tables: readonly string[] = []): unknown {
  if (err instanceof AuditError || !isStorageFailure(err)) return err
  const message = messageOf(err)
  const exhausted = exhaustedResource(message)
  if (exhausted !== null) return new AuditError('PORTCULLIS_AUDIT_RESOURCES', [dir, message.split(dir + '/').join(''), exhausted], { cause: err })
  const file = FILE_IN_MESSAGE.exec(message)?.[1]
  const where = file !== undefined
    ? `file ${file}`
    : tables.length === 0 ? 'a table LevelDB does not name' : tables.length === 1 ? `table ${tables[0]!}` : `one of the tables ${listTables(tables)}`
  const record = seq !== undefined ? `, at record ${seq}` : ''
  return new AuditError('PORTCULLIS_AUDIT_STORAGE', [dir, where, record, message.split(dir + '/').join(''), dir], { cause: err })
}

/** LevelDB reports a full disk or a spent descriptor limit as an `IO error` like any other: told apart here, so
 * that the operator is not sent to restore a backup of a store that is whole. Null when `message` is neither. */
export function exhaustedResource (message: string): string | null {
  if (/Too many open files|EMFILE|ENFILE/.test(message)) return 'file descriptors'
  if (/No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/.test(message)) return 'disk space'
  return null
}

/** Whether `err` (LevelDB's own, or already coded) is a full disk or a spent descriptor limit: a condition of the
 * host that passes, never evidence of damage to record against the store. */
export function isExhaustion (err: unknown): boolean {
  if (err instanceof AuditError) return err.code === 'PORTCULLIS_AUDIT_RESOURCES'
  return isStorageFailure(err) && exhaustedResource(messageOf(err)) !== null
}

/**
 * What LevelDB skipped while opening the store in `dir`: it drops the parts of a write-ahead log that fail their
 * checksum (and every record after them in that block) and says so only in its info log (`LOG`), which each open
 * rewrites. One line per drop, with the file named, e.g. `000006.log: dropping 32768 bytes; Corruption: checksum
 * mismatch`. Empty when nothing was dropped or the info log cannot be read.
 */
export function droppedAtOpen (dir: string): string[] {
  let text: string
  try {
    text = readFileSync(join(dir, 'LOG'), 'utf8')
  } catch {
    return []
  }
  const dropped: string[] = []
  for (const line of text.split('\n')) {
    const at = line.indexOf('(ignoring error) ')
    if (at < 0 && !line.includes(': dropping ')) continue
    const what = at >= 0 ? line.slice(at + '(ignoring error) '.length) : line.replace(/^\S+ \S+ /, '')
    dropped.push(what.replace(/(?:[^\s:]*\/)(\d+\.log)/g, (_, name: string) => basename(name)))
  }
  return dropped
}

/** One table in LevelDB's `leveldb.sstables` listing: ` 5:472961['r!…' @ 2 : 1 .. 'x!…' @ 6003 : 1]`. */
const TABLE_LINE = /^\s*(\d+):\d+\['(.*)' @ \d+ : \d+ \.\. '(.*)' @ \d+ : \d+\]$/

function listTables (tables: readonly string[]): string {
  return tables.length > 8 ? `${tables.slice(0, 8).join(', ')} and ${tables.length - 8} more` : tables.join(', ')
}

/** The tables whose key range holds `key` (LevelDB's own listing, newest level first), as file names: where a
 * record LevelDB cannot read lies. Empty when LevelDB does not say. */
export function tablesHolding (db: AuditDb, key: string): string[] {
  return tablesOverlapping(db, { gte: key, lte: key })
}

/** The tables whose key range meets `range` (the whole store when it is left out): where damage found while
 * walking that range can lie. Empty when LevelDB does not say. */
export function tablesOverlapping (db: AuditDb, range: { gte?: string, lt?: string, lte?: string } = {}): string[] {
  let listing: string
  try {
    listing = (db as unknown as { getProperty: (name: string) => string }).getProperty('leveldb.sstables')
  } catch {
    return []
  }
  const found: string[] = []
  for (const line of listing.split('\n')) {
    const match = TABLE_LINE.exec(line)
    if (match === null) continue
    const [smallest, largest] = [match[2]!, match[3]!]
    const after = (range.lte !== undefined && smallest > range.lte) || (range.lt !== undefined && smallest >= range.lt)
    if (!after && (range.gte === undefined || largest >= range.gte)) found.push(`${match[1]!.padStart(6, '0')}.ldb`)
  }
  return found
}

/** Why record `key` cannot be read ("LevelDB cannot read it in table 000005.ldb: Corruption: …"), or null when
 * LevelDB reads it or finds nothing: LevelDB passes over a block it cannot decode as if its records were never
 * written, so a gap is probed with this to tell a damaged table from records removed. */
export async function unreadableDetail (db: AuditDb, key: string, snapshot?: ReturnType<AuditDb['snapshot']>): Promise<string | null> {
  try {
    await db.get(key, snapshot !== undefined ? { snapshot } : {})
    return null
  } catch (err) {
    if (!isStorageFailure(err)) return null
    if (isExhaustion(err)) throw storageError(err, db.location)
    const tables = tablesHolding(db, key)
    return `LevelDB cannot read it${tables.length > 0 ? ` in ${tables.length === 1 ? 'table' : 'one of the tables'} ${tables.join(', ')}` : ''}: ${messageOf(err)}`
  }
}

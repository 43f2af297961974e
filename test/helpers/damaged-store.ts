// Audit stores made by the real AuditStore and then damaged on disk the way a failing disk or a careless hand
// would: bytes flipped in a table or in the write-ahead log, a table cut short.
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AuditStore } from '../../src/audit/store.js'

/**
 * Makes a store with `tabled` records in a table (written, then moved into a .ldb by closing and reopening) and
 * `logged` more that are only in the write-ahead log when it is closed.
 */
export async function makeStore (dir: string, tabled = 3000, logged = 500): Promise<void> {
  const fill = async (from: number, count: number): Promise<void> => {
    const store = await AuditStore.open(dir)
    try {
      await Promise.all(Array.from({ length: count }, (_, i) => store.append({
        kind: 'decision', user: 'alice', action: 'container.create', decision: 'allow', reason: `record ${from + i} ` + 'x'.repeat(200)
      })))
    } finally {
      await store.close()
    }
  }
  await fill(1, tabled)
  await fill(tabled + 1, logged)
}

function newest (dir: string, ext: string, first = false): string {
  const names = readdirSync(dir).filter((n) => n.endsWith(ext)).sort()
  const name = first ? names[0] : names[names.length - 1]
  if (name === undefined) throw new Error(`no ${ext} file in ${dir}: ${names.join(', ')}`)
  return name
}

/** Flips `count` bytes at `offset` in the file; answers the file's name. */
function flip (dir: string, name: string, offset: number, count = 50): string {
  const path = join(dir, name)
  const bytes = readFileSync(path)
  for (let i = offset; i < offset + count && i < bytes.length; i++) bytes[i]! ^= 0xff
  writeFileSync(path, bytes)
  return name
}

/** Flips bytes in the records' part of the oldest table. */
export const flipTable = (dir: string): string => flip(dir, newest(dir, '.ldb', true), 4000)
/** Flips bytes in the write-ahead log, inside the records written after the last reopen. */
export const flipLog = (dir: string): string => flip(dir, newest(dir, '.log'), 5000)
/** Cuts the oldest table to half its length. */
export function truncateTable (dir: string): string {
  const name = newest(dir, '.ldb', true)
  truncateSync(join(dir, name), Math.floor(statSync(join(dir, name)).size / 2))
  return name
}

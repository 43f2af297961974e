// Audit stores made by the real AuditStore and then damaged on disk the way a failing disk or a careless hand
// would: bytes flipped in a table or in the write-ahead log, a table cut short.
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import type { AuditRecord } from '../../src/audit/record.js'
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

function newest (dir: string, ext: string): string {
  const names = readdirSync(dir).filter((n) => n.endsWith(ext)).sort()
  const name = names[names.length - 1]
  if (name === undefined) throw new Error(`no ${ext} file in ${dir}: ${names.join(', ')}`)
  return name
}

/** The largest table: the one holding the records (the store's first flush leaves a small one of settings). */
function largestTable (dir: string): string {
  const names = readdirSync(dir).filter((n) => n.endsWith('.ldb'))
  if (names.length === 0) throw new Error(`no table in ${dir}`)
  return names.reduce((a, b) => statSync(join(dir, b)).size > statSync(join(dir, a)).size ? b : a)
}

/** Flips `count` bytes at `offset` in the file; answers the file's name. */
function flip (dir: string, name: string, offset: number, count = 50): string {
  const path = join(dir, name)
  const bytes = readFileSync(path)
  for (let i = offset; i < offset + count && i < bytes.length; i++) bytes[i]! ^= 0xff
  writeFileSync(path, bytes)
  return name
}

/**
 * Empties the journal, which would otherwise put back every record these stores hold (they are small): the
 * damaged records are then as old as those of a store whose journal has long moved past them.
 */
export function forgetJournal (dir: string): void {
  const path = join(dir, 'journal')
  writeFileSync(path, Buffer.alloc(statSync(path).size))
}

/** Flips bytes in the records' part of the records' table, and forgets the journal (see forgetJournal). */
export function flipTable (dir: string): string {
  forgetJournal(dir)
  return flip(dir, largestTable(dir), 4000)
}
/**
 * Flips bytes in the table that holds the first keys starting with `prefix` (LevelDB's own list of its tables and
 * their key ranges says which): where a background compaction split the keys is up to LevelDB's timing, so the
 * largest table need not be the one a test means to damage. Answers the table's name.
 */
export async function flipTableHolding (dir: string, prefix: string): Promise<string> {
  forgetJournal(dir)
  const db = new Level<string, string>(dir)
  await db.open()
  let listing: string
  try {
    listing = (db as unknown as { getProperty: (name: string) => string }).getProperty('leveldb.sstables')
  } finally {
    await db.close()
  }
  // Lines like ` 12:34567['k!0000000000000001' @ 5 : 1 .. 'r!…' @ 9 : 1]`.
  const tables = [...listing.matchAll(/(\d+):\d+\['(.*?)' @ \d+ : \d+ \.\. '(.*?)' @ \d+ : \d+\]/g)]
    .map(([, number, smallest, largest]) => ({ name: `${number!.padStart(6, '0')}.ldb`, smallest: smallest!, largest: largest! }))
    .filter((table) => table.smallest.startsWith(prefix) || (table.smallest < prefix && table.largest >= prefix))
    .sort((a, b) => (a.smallest < b.smallest ? -1 : 1))
  const table = tables[0]
  if (table === undefined) throw new Error(`no table holds keys starting ${prefix} in ${dir}:\n${listing}`)
  return flip(dir, table.name, 4000)
}

/** Flips bytes in the write-ahead log, inside the records written after the last reopen. */
export const flipLog = (dir: string): string => flip(dir, newest(dir, '.log'), 5000)
/** Cuts the records' table to half its length, and forgets the journal (see forgetJournal). */
export function truncateTable (dir: string): string {
  forgetJournal(dir)
  const name = largestTable(dir)
  truncateSync(join(dir, name), Math.floor(statSync(join(dir, name)).size / 2))
  return name
}

/** The newest record, read by opening the store (serve stopped). */
export async function newestRecord (data: string): Promise<AuditRecord> {
  const store = await AuditStore.open(data)
  try {
    return (await store.tail(1))[0]!
  } finally {
    await store.close()
  }
}

// A named key space of the audit store (keys.ts, KEY_SPACES): the entries another module keeps beside the records,
// in an abstract-level sublevel of the store's database. The store is the only writer: a key space reaches the
// database only through it, follows it when it is reopened after a failed write, and is refused writes while it
// is (LevelDB's log may end in half a batch then, and what is written after it is dropped when the log is replayed).

import type { AuditDb } from './level.js'
import type { KeySpaceName } from './keys.js'

interface KeyRange {
  gte?: string
  gt?: string
  lte?: string
  lt?: string
}

export interface KeySpace {
  readonly name: KeySpaceName
  /** The value under `key`, or undefined. */
  get: (key: string) => Promise<string | undefined>
  /** Resolves once the entry is on disk (a synced write). */
  put: (key: string, value: string) => Promise<void>
  /** Synced unless `sync: false` (an entry whose loss a restart repairs). */
  del: (key: string, options?: { sync?: boolean }) => Promise<void>
  /** The entries in `range` (keys as the space names them), in key order. */
  iterate: (range?: KeyRange) => AsyncIterable<[string, string]>
}

/** The sublevel `name` of `db`, typed for the store's string keys and values. */
export function sublevelOf (db: AuditDb, name: KeySpaceName) {
  return db.sublevel<string, string>(name, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
}

type Sublevel = ReturnType<typeof sublevelOf>

/** Write options: a sublevel passes them on to the database, where classic-level reads `sync`, which
 * abstract-level's types leave out. */
function writeOptions (sync: boolean): { keyEncoding: 'utf8' } {
  return { keyEncoding: 'utf8', sync } as { keyEncoding: 'utf8' }
}

/** What a key space asks of the store that owns it. */
export interface KeySpaceOwner {
  /** The database now open (it changes when the store reopens). */
  current: () => AuditDb
  /** Why writes are refused now, or null. */
  blocked: () => Error | null
}

/** A key space over `owner`'s database, made again from whichever database is current. */
export function createKeySpace (owner: KeySpaceOwner, name: KeySpaceName): KeySpace {
  let db: AuditDb | null = null
  let sublevel: Sublevel | null = null
  const space = (): Sublevel => {
    const current = owner.current()
    if (sublevel === null || db !== current) {
      db = current
      sublevel = sublevelOf(current, name)
    }
    return sublevel
  }
  const writable = (): Sublevel => {
    const blocked = owner.blocked()
    if (blocked !== null) throw blocked
    return space()
  }
  return {
    name,
    get: async (key) => await space().get(key),
    put: async (key, value) => { await writable().put(key, value, writeOptions(true)) },
    del: async (key, options = {}) => { await writable().del(key, writeOptions(options.sync ?? true)) },
    iterate: (range = {}) => space().iterator(range)
  }
}

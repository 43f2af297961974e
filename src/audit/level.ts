// Opening the LevelDB behind the store, with LevelDB's failures turned into errors a user can act on.

import { Level } from 'level'
import type { Logger } from 'pino'
import { AuditError, messageOf } from './errors.js'
import { isStorageFailure, storageError } from './storage-errors.js'
import { inspectStoreDir, makeStoreDir, makeStorePrivate } from './store-dir.js'
import { refuseUnknownLayout } from './migration.js'

export type AuditDb = Level<string, string>

/** LevelDB's max_open_files for the store: see openAuditDb. */
const MAX_OPEN_FILES = 74

/**
 * Opens the store in `dir`. With `create`, a missing or empty directory gets a new store; a directory that holds
 * anything else is refused (see store-dir.ts), and the store is made private (0700/0600) before and after LevelDB
 * opens it, each change logged and added to `madePrivate`. Without `create`, nothing is made or changed.
 */
export async function openAuditDb (dir: string, { create, logger, madePrivate = [] }: { create: boolean, logger?: Logger, madePrivate?: string[] }): Promise<AuditDb> {
  // LevelDB makes the directory even with createIfMissing false; look first so that verifying a wrong path
  // leaves nothing behind.
  const state = inspectStoreDir(dir)
  if (!create && state === 'fresh') throw new AuditError('PORTCULLIS_AUDIT_NOT_FOUND', [dir])
  if (create && state === 'fresh') makeStoreDir(dir)
  if (create) madePrivate.push(...makeStorePrivate(dir))
  // A larger write buffer means fewer level-0 files and so fewer compactions competing with the hot path.
  // createIfMissing only for a directory found empty: a store that loses CURRENT while this runs is refused by LevelDB.
  // LevelDB maps each table it opens (mmap) and keeps it open in its table cache, whose size is maxOpenFiles less 10:
  // the pages reads touched count in serve's RSS, which grew with the store at LevelDB's default of 1,000 (BENCHMARKS.md,
  // "Memory over millions of decisions"). 74 is LevelDB's least: at most 64 tables (of at most 2 MiB) stay mapped.
  const db: AuditDb = new Level(dir, { createIfMissing: create && state === 'fresh', keyEncoding: 'utf8', valueEncoding: 'utf8', writeBufferSize: 16 * 1024 * 1024, maxOpenFiles: MAX_OPEN_FILES })
  try {
    await db.open()
  } catch (err) {
    // abstract-level reports LEVEL_DATABASE_NOT_OPEN and puts the reason in `cause`.
    const cause = (err as { cause?: unknown }).cause
    if ((cause as { code?: unknown } | undefined)?.code === 'LEVEL_LOCKED') {
      throw new AuditError('PORTCULLIS_AUDIT_LOCKED', [dir], { cause: err })
    }
    // A table, log or manifest LevelDB cannot read: named, with what to do about it.
    if (isStorageFailure(cause)) throw storageError(cause, dir)
    throw new AuditError('PORTCULLIS_AUDIT_OPEN_FAILED', [dir, messageOf(cause ?? err)], { cause: err })
  }
  if (!create) {
    // A store opened for writing is checked (and brought up to this layout) by AuditStore.open.
    try {
      await refuseUnknownLayout(db, dir)
    } catch (err) {
      await db.close()
      throw err
    }
  }
  if (create) {
    // What LevelDB made in the open, under a umask that may have let others read it.
    try {
      madePrivate.push(...makeStorePrivate(dir))
    } catch (err) {
      await db.close()
      throw err
    }
    if (madePrivate.length > 0) logger?.warn({ dir, changed: madePrivate }, 'audit store files were readable by other users: made them private (0700 directory, 0600 files)')
  }
  return db
}

/**
 * One database object for the modules of src/audit that keep the store's database (checkpoints, retention: see
 * auditDatabase in store.ts) while the LevelDB behind it is closed and opened again after a failed write (see
 * AuditStore): every property is read from whichever database is current.
 */
export class AuditDbHandle {
  #current: AuditDb
  /** Why writes through the handle are refused, or null. */
  #blocked: Error | null = null
  readonly db: AuditDb

  constructor (initial: AuditDb) {
    this.#current = initial
    // The target has the database's prototype (so instanceof holds) and no own properties to pin the proxy to.
    this.db = new Proxy(Object.create(Object.getPrototypeOf(initial) as object) as AuditDb, {
      get: (_target, property) => {
        // After a failed write LevelDB's log may end in half a batch, and what is written after it is dropped when
        // the log is replayed: nothing may be written until the database is reopened.
        if (this.#blocked !== null && (property === 'put' || property === 'del' || property === 'batch')) {
          const blocked = this.#blocked
          return async () => { throw blocked }
        }
        const current = this.#current
        const value: unknown = Reflect.get(current, property, current)
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value
      }
    })
  }

  get current (): AuditDb {
    return this.#current
  }

  /** Why writes are refused now, or null (the store's key spaces refuse theirs with it too). */
  get blocked (): Error | null {
    return this.#blocked
  }

  replace (next: AuditDb): void {
    this.#current = next
  }

  /** Refuses writes (put, del, batch) with `reason` until called with null. */
  block (reason: Error | null): void {
    this.#blocked = reason
  }
}

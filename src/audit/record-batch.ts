// How the store hands a batch of records to LevelDB: one native WriteBatch per database, filled key by key,
// written, cleared and filled again for the next batch.
//
// The alternatives cost more on serve's main thread, where at 64 calls in flight every microsecond comes off the
// rate (BENCHMARKS.md, "The durable write: the journal"):
// - abstract-level's public batch() copies, encodes and checks every operation (half the main thread);
// - classic-level's array form (`_batch`) reads each operation's `type`, `key` and `value` through N-API by name,
//   about ten N-API calls per key (10 % of the main thread at six keys per record);
// - a chained batch per write holds its native WriteBatch until V8 collects its handle, and V8, blind to that
//   memory, lets tens of MiB of them pile up (BENCHMARKS.md, "Memory over millions of decisions").
// One batch kept for the database's life is filled with one N-API call per key and holds at most one write's
// worth of native memory (LevelDB's WriteBatch keeps its buffer's capacity when cleared), freed with the batch
// when the store moves to a reopened database.

import type { AuditDb } from './level.js'

/** classic-level's own chained batch (`db._chainedBatch()`), used without abstract-level's wrapper: its `_put`
 * and `_clear` go straight to the native batch, `_write` writes it. */
interface NativeBatch {
  _put: (key: string, value: string) => void
  _clear: () => void
  _write: (options: { sync: boolean }) => Promise<void>
}

export class RecordBatch {
  readonly db: AuditDb
  readonly #native: NativeBatch
  #writing = false

  constructor (db: AuditDb) {
    this.db = db
    this.#native = (db as unknown as { _chainedBatch: () => NativeBatch })._chainedBatch()
  }

  /** Adds a put to the batch being filled. Only between writes: the batch in flight is LevelDB's until it ends. */
  put (key: string, value: string): void {
    if (this.#writing) throw new Error('RecordBatch.put while its write is in flight')
    this.#native._put(key, value)
  }

  /** Drops what was put since the last write (a batch that will not be written). */
  discard (): void {
    if (!this.#writing) this.#native._clear()
  }

  /** Writes what was put since the last write, then empties the batch (whether or not the write succeeded). */
  async write (sync: boolean): Promise<void> {
    // The native write of a closed database would reach a LevelDB that is gone: refuse it as abstract-level would.
    if (this.db.status !== 'open') {
      this.#native._clear()
      throw Object.assign(new Error(`Database is not open: cannot write the audit batch (status ${this.db.status})`), { code: 'LEVEL_DATABASE_NOT_OPEN' })
    }
    this.#writing = true
    try {
      await this.#native._write({ sync })
    } finally {
      this.#writing = false
      this.#native._clear()
    }
  }
}

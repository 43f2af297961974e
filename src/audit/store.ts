// The append-only audit store. Every append resolves only once its record is on disk: one small O_DSYNC append
// to the journal (journal.ts), while the same batch goes to LevelDB (the record, its index entries, the head)
// without sync. Appends that arrive while a batch is being written share the next one (group commit), so the cost
// of the disk is paid once per batch rather than once per Docker call. At open, whatever LevelDB lost of the
// journal's records is put back (journal-replay.ts).

import { readdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import type { CastHeader } from './asciicast.js'
import { CastSink, type CastOperation, type CastSinkOptions, type CastStorage } from './cast-sink.js'
import { readSessionMarkers, type SessionMarker } from './session-markers.js'
import { createRecordingFile, readRecordingChunks, recordingPath, RecordingSink, type RecordingSinkOptions, type RecordingStorage } from './recordings.js'
import { isFile, readSessionCast } from './session-cast.js'
import { sealRecord, type SealedRecord } from './chain.js'
import { AuditError, messageOf } from './errors.js'
import { AuditDbHandle, openAuditDb, type AuditDb } from './level.js'
import { createKeySpace, type KeySpace } from './key-space.js'
import { migrateLayout } from './migration.js'
import { makeStorePrivate } from './store-dir.js'
import { AuditJournal, DEFAULT_HALF_BYTES } from './journal.js'
import { replayJournal, type JournalReplay } from './journal-replay.js'
import { storageError } from './storage-errors.js'
import { HEAD_KEY, RECORD_RANGE, castRange, decodeHead, encodeHead, encodeMarker, isSessionId, markerKey, recordKey, type KeySpaceName } from './keys.js'
import { addIndexEntries, ensureIndexes } from './indexes.js'
import { queryRecords, queryStored, type AuditFilter, type StoredRecord } from './query.js'
import { readBundledSeq, writeBundledSeq, writeShippedSeq } from './bundled.js'
import type { AppendOptions, AuditLog } from './audit-log.js'
import type { RecordingStore } from './recording-store.js'
import { AUDIT_KINDS, GENESIS_HASH, parseRecord, type AuditHead, type AuditInput, type AuditRecord } from './record.js'
import { verifyChain, type VerifyOptions, type VerifyReport } from './verify.js'

export interface AuditStoreOptions {
  logger?: Logger
  /** Most records written in one batch. Default 1024. */
  maxBatch?: number
  /** After a failed write, the longest wait between attempts to reopen the store (the first is after 100 ms, each
   * next one twice as late). Default 1000. */
  retryMaxMs?: number
  /** Bytes in each half of the journal (tests make it small to exercise the switch). Default 8 MiB. */
  journalHalfBytes?: number
}

/** Why the store refuses records, for `portcullis status`. `failing`: a write failed and the store retries by
 * itself; `broken`: after the failure the store no longer matched what had been written, so it stays refused
 * until an operator looks (see PORTCULLIS_AUDIT_RECOVERY_REFUSED). */
export interface AuditOutage {
  state: 'failing' | 'broken'
  code: string
  error: string
  /** When the first write failed. */
  since: string
  /** Records that could not be stored: the failed batch, what was queued behind it, and every append refused since. */
  refusedRecords: number
  /** Of those, decisions: each was a Docker call (or bridge session) that was denied because it could not be recorded. */
  deniedCalls: number
  /** Attempts to reopen the store so far, and why the last one failed. */
  attempts: number
  lastAttemptError?: string
  /** The last record known to be on disk when the write failed: the store reopens from it. */
  durable: AuditHead
}

export interface ReadOptions {
  fromSeq?: number
  toSeq?: number
  limit?: number
  /** Newest first. */
  reverse?: boolean
}

/** Counters for the admin socket and for tests that check group commit. */
export interface AuditStats {
  batches: number
  records: number
  largestBatch: number
}

interface PendingAppend {
  record: AuditRecord
  /** What is stored: the record serialized once, when it was sealed. */
  text: string
  resolve: (record: AuditRecord) => void
  reject: (err: Error) => void
}

/** Called with each record once it is durable, and the exact text stored for it. */
type Listener = (record: AuditRecord, text: string) => void

interface BatchPut { type: 'put', key: string, value: string }

const DEFAULT_MAX_BATCH = 1024
/** Where LevelDB is asked to flush its memtable: no key is this small, so no table is compacted with it. */
const FLUSH_ONLY_KEY = '\u0000'
const FIRST_RETRY_MS = 100
const DEFAULT_RETRY_MAX_MS = 1000
/** How long a lazy record may wait for a batch to share before it gets one of its own. */
const LAZY_WAIT_MS = 50

/** Set in AuditStore's static block: the one way to its database from outside the class (auditDatabase). */
let databaseOfStore: (store: AuditStore) => AuditDb

export class AuditStore implements AuditLog, RecordingStore {
  static {
    databaseOfStore = (store) => store.#handle.db
  }

  readonly dir: string
  /** The modes open() took group and other access away from (`name: 0644 -> 0600`); empty when it was private. */
  readonly madePrivate: readonly string[]
  /** What open() put back from the journal into LevelDB (records a crash of the host took from LevelDB's log). */
  readonly journalReplay: Readonly<JournalReplay>
  #journal!: AuditJournal
  /** The database now open; `#handle.db` (what auditDatabase() and the key spaces reach) follows it when the store is reopened. */
  #db: AuditDb
  readonly #handle: AuditDbHandle
  readonly #logger: Logger
  readonly #maxBatch: number
  readonly #listeners = new Set<Listener>()
  readonly #stats: AuditStats = { batches: 0, records: 0, largestBatch: 0 }
  /** Where the next append goes: assigned at append time, ahead of the disk by whatever is queued. */
  #nextSeq: number
  #lastHash: string
  /** The last record known to be on disk. */
  #durable: AuditHead
  #queue: PendingAppend[] = []
  #flushing: Promise<void> | null = null
  #lazyTimer: NodeJS.Timeout | null = null
  #failure: Error | null = null
  /** Set from the first failed write until the records of the outage are durable. */
  #outage: AuditOutage | null = null
  #retryTimer: NodeJS.Timeout | null = null
  #retryDelay = FIRST_RETRY_MS
  readonly #retryMaxMs: number
  /** A reopen under way, so close() can wait for it. */
  #recovering: Promise<void> | null = null
  #closing: Promise<void> | null = null
  /** Recordings still being written: close() lets them write what they hold first. */
  readonly #sinks = new Set<CastSink | RecordingSink>()
  /** Sessions whose recording openRecording is opening (file made, sink not yet in #sinks). */
  readonly #opening = new Set<string>()
  /** Recording writes and marker deletions not yet settled: close() waits for them. */
  readonly #castOperations = new Set<Promise<void>>()
  #dbClosed = false
  /** The last task exclusive() was given, so the next waits for it. */
  #exclusive: Promise<unknown> = Promise.resolve()
  readonly #keySpaces = new Map<KeySpaceName, KeySpace>()
  readonly #castStorage: CastStorage = {
    // Chunk values carry their own encoding (bytes), which the database's string-typed batch does not model.
    write: (operations: CastOperation[]) => this.#castOperation(() => this.#failure !== null ? Promise.reject(this.#unavailable()) : this.#db.batch(operations as unknown as Array<{ type: 'put', key: string, value: string }>, { sync: true })),
    remove: (key: string) => this.#castOperation(() => this.#db.del(key)),
    settled: (sink: CastSink) => { this.#sinks.delete(sink) }
  }
  readonly #recordingStorage: RecordingStorage = {
    release: async (sessionId: string) => { await this.#castOperation(() => this.#db.del(markerKey(sessionId))) },
    settled: (sink: RecordingSink) => { this.#sinks.delete(sink) }
  }

  private constructor (dir: string, db: AuditDb, head: AuditHead, madePrivate: string[], journalReplay: JournalReplay, options: AuditStoreOptions) {
    this.dir = dir
    this.madePrivate = madePrivate
    this.journalReplay = journalReplay
    this.#db = db
    this.#handle = new AuditDbHandle(db)
    this.#retryMaxMs = options.retryMaxMs !== undefined && options.retryMaxMs >= FIRST_RETRY_MS ? options.retryMaxMs : DEFAULT_RETRY_MAX_MS
    this.#logger = options.logger ?? pino({ enabled: false })
    this.#maxBatch = options.maxBatch !== undefined && options.maxBatch >= 1 ? Math.floor(options.maxBatch) : DEFAULT_MAX_BATCH
    this.#nextSeq = head.seq + 1
    this.#lastHash = head.hash
    this.#durable = head
  }

  /** Opens the store in `dir`, or creates one when `dir` is missing or empty, and makes it private (0700/0600).
   * Fails with PORTCULLIS_AUDIT_DAMAGED when `dir` holds LevelDB files without CURRENT, PORTCULLIS_AUDIT_NOT_A_STORE
   * when it holds anything else, PORTCULLIS_AUDIT_LOCKED when another process, or another
   * store in this one, has it open, and with PORTCULLIS_AUDIT_HEAD_MISMATCH when its last record is not the one
   * its head names (it was tampered with: run verify). */
  static async open (dir: string, options: AuditStoreOptions = {}): Promise<AuditStore> {
    const madePrivate: string[] = []
    const db = await openAuditDb(dir, { create: true, logger: options.logger, madePrivate })
    try {
      const head = await readHead(db, dir)
      // Before anything else writes: a store of a newer layout is refused here, an older one brought up to this one.
      await migrateLayout(db, dir, options.logger)
      await ensureIndexes(db, options.logger)
      const { contents, begin } = await AuditJournal.read(dir, options.journalHalfBytes ?? DEFAULT_HALF_BYTES)
      const replay = await replayJournal(db, contents.texts, head)
      if (replay.restored.length > 0 || replay.problems.length > 0) {
        options.logger?.warn({ dir, restored: replay.restored, problems: replay.problems }, 'the audit journal held records LevelDB had lost (the host stopped without writing them out): put back')
      }
      const store = new AuditStore(dir, db, replay.head, madePrivate, replay, options)
      // Everything the journal holds is now durable in LevelDB: its open wrote every log it found into synced tables
      // (it does not reuse logs), and the replay was a synced write. So the journal may be written over from here.
      // A flush also moves what was put back out of the log into a table; on a store with a damaged table it can
      // fail, and the start verification, not this, is what names that damage.
      try {
        await store.#makeLevelDbDurable()
        // The flush began a new log file, under whatever umask this process has.
        madePrivate.push(...makeStorePrivate(dir))
      } catch (err) {
        options.logger?.warn({ err, dir }, 'LevelDB could not write its memtable out at open; going on (what it holds is durable in its log)')
      }
      store.#journal = await begin(() => store.#makeLevelDbDurable())
      return store
    } catch (err) {
      await db.close()
      throw storageError(err, dir)
    }
  }

  /**
   * LevelDB's memtable written out as a synced table: every record given to LevelDB so far no longer needs the
   * journal. (A synced write would sync only LevelDB's newest log, not an older one still waiting for its table.)
   * compactRange reports no error when LevelDB could not switch its log (out of file descriptors): the flush is
   * checked by the log files, since LevelDB deletes a log only once a synced MANIFEST has its records in tables.
   */
  async #makeLevelDbDurable (): Promise<void> {
    const logsBefore = levelDbLogs(this.dir)
    const newest = logsBefore.at(-1) ?? 0
    // `level` is classic-level under Node; its type leaves compactRange out.
    await (this.#db as unknown as { compactRange: (start: string, end: string) => Promise<void> }).compactRange(FLUSH_ONLY_KEY, FLUSH_ONLY_KEY)
    const left = levelDbLogs(this.dir).filter((number) => number <= newest)
    if (left.length > 0) {
      throw new AuditError('PORTCULLIS_AUDIT_JOURNAL', [join(this.dir, 'journal'), `LevelDB did not write its log ${String(left[0]).padStart(6, '0')}.log out to a table, so the journal cannot be written over yet`])
    }
  }

  /** Adds a record; resolves with it once it is durable. Rejects when the record cannot be stored: the caller
   * must then refuse whatever it was recording. */
  append (input: AuditInput, options: AppendOptions = {}): Promise<AuditRecord> {
    if (this.#failure !== null) {
      this.#countRefused(input.kind, 1)
      return Promise.reject(this.#unavailable())
    }
    if (this.#closing !== null) return Promise.reject(new AuditError('PORTCULLIS_AUDIT_CLOSED'))
    if (!AUDIT_KINDS.has(input.kind)) return Promise.reject(new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`unknown kind ${String(input.kind)}`]))
    let sealed: SealedRecord
    try {
      sealed = sealRecord(input, this.#nextSeq, new Date().toISOString(), this.#lastHash)
    } catch (err) {
      return Promise.reject(new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [messageOf(err)], { cause: err }))
    }
    // Only now is the position taken, so a record that could not be built leaves no hole.
    this.#nextSeq++
    const { record, text } = sealed
    this.#lastHash = record.hash
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, text, resolve, reject })
      if (options.lazy === true && this.#flushing === null) {
        this.#lazyTimer ??= setTimeout(() => this.#startFlush(), LAZY_WAIT_MS)
      } else {
        this.#startFlush()
      }
    })
  }

  #startFlush (): void {
    if (this.#lazyTimer !== null) {
      clearTimeout(this.#lazyTimer)
      this.#lazyTimer = null
    }
    this.#flushing ??= this.#flush()
  }

  /** Writes queued appends batch by batch until none are left. Never rejects. */
  async #flush (): Promise<void> {
    // Let appends made in the same tick join the first batch.
    await Promise.resolve()
    while (this.#queue.length > 0) {
      const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch)
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch)
      const last = batch[batch.length - 1]!.record
      try {
        // The array form, not a chained batch: classic-level frees a chained batch's native WriteBatch only when V8
        // collects it, and V8, blind to that memory, lets tens of MiB of them pile up between full collections
        // (BENCHMARKS.md, "Memory over millions of decisions"); the array form's is freed when the write ends.
        // The index entries are in the record's batch, so an index never names a record that is not in LevelDB.
        const operations: BatchPut[] = []
        const collect = { put: (key: string, value: string) => operations.push({ type: 'put', key, value }) }
        const texts: string[] = []
        for (let i = 0; i < batch.length; i++) {
          const pending = batch[i]!
          operations.push({ type: 'put', key: recordKey(pending.record.seq), value: pending.text })
          addIndexEntries(collect, pending.record)
          texts.push(pending.text)
        }
        operations.push({ type: 'put', key: HEAD_KEY, value: encodeHead(last) })
        const payload = Buffer.from(texts.join('\n'), 'utf8')
        if (this.#journal.fits(payload.length)) {
          // Both at once: the journal makes the batch durable, LevelDB makes it readable.
          const [journaled, stored] = await Promise.allSettled([this.#journal.append(payload), writeOperations(this.#db, operations, false)])
          if (stored.status === 'rejected') {
            // Its callers are told it failed and their calls are denied: the journal must not bring it back.
            if (journaled.status === 'fulfilled') {
              // A retract that fails leaves the journal refusing appends until the store is reopened (restart()).
              await this.#journal.retract(journaled.value).catch((err: unknown) => this.#logger.error({ err, firstSeq: batch[0]!.record.seq }, 'could not take back a batch from the audit journal whose LevelDB write failed'))
            }
            throw stored.reason
          }
          if (journaled.status === 'rejected') throw journaled.reason
        } else {
          // A batch larger than half the journal: LevelDB's own synced write makes it durable instead.
          await writeOperations(this.#db, operations, true)
        }
      } catch (err) {
        this.#fail(err, batch)
        break
      }
      this.#durable = { seq: last.seq, hash: last.hash }
      this.#stats.batches++
      this.#stats.records += batch.length
      if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length
      for (const pending of batch) pending.resolve(pending.record)
      if (this.#listeners.size > 0) for (const pending of batch) this.#notify(pending.record, pending.text)
    }
    this.#flushing = null
  }

  /** A failed write leaves the in-memory chain ahead of the disk, and LevelDB's log may end in half a batch;
   * refusing every further append until the store is reopened (from the disk's head) is what keeps the stored
   * chain free of holes. The reopen is retried by itself: see #recover. */
  #fail (err: unknown, batch: PendingAppend[]): void {
    const cause = err instanceof Error ? err : new Error(String(err))
    this.#failure = cause
    const failed = batch.concat(this.#queue)
    this.#queue = []
    const code = (cause as { code?: unknown }).code
    if (this.#outage === null) this.#retryDelay = FIRST_RETRY_MS
    this.#outage ??= {
      state: 'failing',
      code: 'PORTCULLIS_AUDIT_WRITE_FAILED',
      error: cause.message,
      since: new Date().toISOString(),
      refusedRecords: 0,
      deniedCalls: 0,
      attempts: 0,
      durable: { ...this.#durable }
    }
    this.#outage.error = typeof code === 'string' ? `${cause.message} (${code})` : cause.message
    for (const pending of failed) if (!isOutageRecord(pending.record)) this.#countRefused(pending.record.kind, 1)
    this.#logger.error({ err: cause, dir: this.dir, firstSeq: failed[0]?.record.seq, lostAppends: failed.length, alert: 'audit-write-failed' },
      'audit write failed: denying every call until a write succeeds again; portcullis reopens the store by itself once it can')
    const rejection = new AuditError('PORTCULLIS_AUDIT_WRITE_FAILED', [cause.message], { cause })
    for (const pending of failed) pending.reject(rejection)
    this.#handle.block(this.#unavailable())
    this.#scheduleRecovery()
  }

  #countRefused (kind: string, n: number): void {
    if (this.#outage === null) return
    this.#outage.refusedRecords += n
    if (kind === 'decision') this.#outage.deniedCalls += n
  }

  #unavailable (): AuditError {
    const failure = this.#failure!
    if (failure instanceof AuditError && failure.code === 'PORTCULLIS_AUDIT_RECOVERY_REFUSED') return failure
    return new AuditError('PORTCULLIS_AUDIT_UNAVAILABLE', [this.#outage?.since ?? '', failure.message], { cause: failure })
  }

  #scheduleRecovery (): void {
    if (this.#closing !== null || this.#retryTimer !== null || this.#recovering !== null) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#recovering = this.#recover().finally(() => {
        this.#recovering = null
        if (this.#failure !== null && this.#outage?.state === 'failing') this.#scheduleRecovery()
      })
    }, this.#retryDelay)
    this.#retryDelay = Math.min(this.#retryDelay * 2, this.#retryMaxMs)
  }

  /**
   * Closes the database and opens it again (LevelDB replays its log, dropping a half-written batch at its end),
   * checks that it still holds every record that was durable before the failure and that the chain from there to
   * its head holds, then records the outage and takes records again. Any failure on the way is retried later;
   * a store that no longer matches is not added to (PORTCULLIS_AUDIT_RECOVERY_REFUSED).
   */
  async #recover (): Promise<void> {
    const outage = this.#outage
    if (outage === null || this.#closing !== null) return
    outage.attempts++
    let db: AuditDb | null = null
    let head: AuditHead = this.#durable
    let problem: string | null
    try {
      // Waiting recording writes fail with the old database; they must not hold up its close.
      await Promise.allSettled([...this.#castOperations])
      await this.#db.close()
      db = await openAuditDb(this.dir, { create: false, logger: this.#logger })
      try {
        head = await readHead(db, this.dir)
        // A batch can be in the journal although LevelDB's write of it failed: the journal is what was made durable.
        head = (await replayJournal(db, await this.#journal.contents(), head)).head
        problem = await problemSince(db, outage.durable, head)
      } catch (err) {
        // The last record is not the one the head names: no retry will change that.
        if (!(err instanceof AuditError && err.code === 'PORTCULLIS_AUDIT_HEAD_MISMATCH')) throw err
        problem = `its head does not match its last record: ${err.message}`
      }
    } catch (err) {
      if (db !== null) await db.close().catch(() => {})
      outage.lastAttemptError = messageOf(err)
      this.#logger.warn({ err, attempt: outage.attempts, retryMs: this.#retryDelay }, 'the audit store cannot be reopened yet; retrying')
      return
    }
    this.#db = db
    this.#handle.replace(db)
    if (this.#closing !== null) return
    try {
      // Whatever a failed write left in the journal is behind a fresh half (the reopened LevelDB holds it all durably).
      await this.#journal.restart(async () => await this.#makeLevelDbDurable())
    } catch (err) {
      outage.lastAttemptError = messageOf(err)
      this.#logger.warn({ err, attempt: outage.attempts, retryMs: this.#retryDelay }, 'the audit journal cannot be begun again yet; retrying')
      return
    }
    if (problem !== null) {
      outage.state = 'broken'
      outage.code = 'PORTCULLIS_AUDIT_RECOVERY_REFUSED'
      outage.error = problem
      this.#failure = new AuditError('PORTCULLIS_AUDIT_RECOVERY_REFUSED', [this.dir, problem, this.dir])
      this.#logger.error({ dir: this.dir, problem, alert: 'audit-recovery-refused' }, 'after the failed write the audit store no longer matches what was written: refusing every call until an operator looks')
      return
    }
    this.#durable = head
    this.#nextSeq = head.seq + 1
    this.#lastHash = head.hash
    this.#failure = null
    this.#handle.block(null)
    const recoveredAt = new Date()
    const downMs = recoveredAt.getTime() - Date.parse(outage.since)
    const gap = { failedAt: outage.since, recoveredAt: recoveredAt.toISOString(), downMs, deniedCalls: outage.deniedCalls, refusedRecords: outage.refusedRecords, attempts: outage.attempts }
    // A write can reach the disk and still report failure (its fsync failed): those records are in the chain, but
    // their callers were told they were not, and their calls were denied.
    const unacknowledged = head.seq > outage.durable.seq ? { fromSeq: outage.durable.seq + 1, toSeq: head.seq } : null
    // Both first, in one batch, before any call made from now on; should it fail, the outage goes on.
    const failed = this.append({
      kind: 'system',
      action: 'audit.write-failed',
      code: outage.code,
      reason: `audit writes failed from ${outage.since}: ${outage.error}; every call was denied until they worked again`,
      fields: { alert: true, failedAt: outage.since, error: outage.error, durableSeq: outage.durable.seq }
    })
    const recovered = this.append({
      kind: 'system',
      action: 'audit.write-recovered',
      reason: `audit writes work again after ${Math.round(downMs / 1000)} s; ${outage.deniedCalls} calls were denied meanwhile` +
        (unacknowledged === null ? '' : `; records ${unacknowledged.fromSeq} to ${unacknowledged.toSeq} reached the disk although their write failed: their calls were denied`),
      fields: { ...gap, resumedAfterSeq: head.seq, ...(unacknowledged !== null ? { unacknowledged } : {}) }
    })
    try {
      await Promise.all([failed, recovered])
    } catch {
      return // #fail ran again: the next attempt follows
    }
    this.#outage = null
    this.#logger.warn({ ...gap, dir: this.dir }, 'audit writes work again: portcullis takes calls again')
  }

  #notify (record: AuditRecord, text: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(record, text)
      } catch (err) {
        this.#logger.warn({ err, seq: record.seq }, 'an audit subscriber threw; it stays subscribed')
      }
    }
  }

  /**
   * The key space `name` (keys.ts, KEY_SPACES): what another module keeps beside the records (elevation requests,
   * the ownership registry). Writes are synced, refused while the store is after a failed write, and follow the
   * store when it reopens.
   */
  keySpace (name: KeySpaceName): KeySpace {
    let space = this.#keySpaces.get(name)
    if (space === undefined) {
      space = createKeySpace({ current: () => this.#handle.current, blocked: () => this.#handle.blocked }, name)
      this.#keySpaces.set(name, space)
    }
    return space
  }

  /**
   * Runs `task` once every task given before it has settled: the store's one queue for work that reads the chain
   * and then writes on what it read (signing a checkpoint, expiry, the bundled mark), so that expiry never removes
   * records a checkpoint is being checked against. Appends and key-space writes do not wait for it.
   */
  exclusive<T> (task: () => Promise<T>): Promise<T> {
    const result = this.#exclusive.then(task, task)
    this.#exclusive = result.then(() => {}, () => {})
    return result
  }

  /** Why the store refuses new records (a write failed), or null while it takes them. */
  get failure (): Error | null {
    return this.#failure
  }

  /** True once close() began: appends are refused from then on, like after a failure. */
  get closing (): boolean {
    return this.#closing !== null
  }

  /** The write failure the store is in or recovering from (until its records are durable), or null. */
  outage (): AuditOutage | null {
    return this.#outage === null ? null : { ...this.#outage, durable: { ...this.#outage.durable } }
  }

  /** The last durable record's seq and hash. */
  head (): AuditHead {
    return { seq: this.#durable.seq, hash: this.#durable.hash }
  }

  stats (): AuditStats {
    return { ...this.#stats }
  }

  /** Calls `listener` with every record once it is durable, in seq order, and its stored text. Returns the unsubscribe function. */
  subscribe (listener: Listener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Durable records in seq order (newest first with `reverse`), streamed from disk in constant memory. */
  read (options: ReadOptions = {}): AsyncIterable<AuditRecord> {
    return readRecords(this.#db, options)
  }

  /** Durable records that match `filter`, in seq order, all read from one snapshot: records appended while the
   * caller reads are not seen. See query.ts. */
  query (filter: AuditFilter): AsyncIterable<AuditRecord> {
    return queryRecords(this.#db, filter)
  }

  /** The same as query(), with each record's stored text (what exports write). */
  queryStored (filter: AuditFilter): AsyncIterable<StoredRecord> {
    return queryStored(this.#db, filter)
  }

  /** Notes that an evidence bundle holds every record up to `toSeq` (`s!bundled`; it only ever rises), so
   * retention may remove them. Resolves with the bundled seq now stored. */
  markBundled (toSeq: number): Promise<number> {
    if (!Number.isSafeInteger(toSeq) || toSeq < 0 || toSeq > this.#durable.seq) {
      return Promise.reject(new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`cannot mark record ${String(toSeq)} as bundled: the newest durable record is ${this.#durable.seq}`]))
    }
    // A read then a write: one at a time, with signing and expiry.
    return this.exclusive(async () => await writeBundledSeq(this.#handle.db, toSeq))
  }

  /** Notes that the fleet database holds every record up to `toSeq` (`s!shipped`), so retention may remove them. */
  markShipped (toSeq: number): Promise<number> {
    // In the store's one queue: expiry reads the mark and removes up to it, so the two must not interleave.
    return this.exclusive(async () => await writeShippedSeq(this.#handle.db, Math.min(toSeq, this.#durable.seq)))
  }

  /** The highest seq an evidence bundle holds; 0 when none was made. */
  bundledSeq (): Promise<number> {
    return readBundledSeq(this.#db)
  }

  /**
   * Opens the recording of a session whose session.start is record `startSeq`. Its first chunk also writes the
   * open-session marker; release() removes it once session.end is durable. Throws PORTCULLIS_AUDIT_CLOSED after
   * close(), PORTCULLIS_AUDIT_UNAVAILABLE after a failed append (the session must not start unrecorded), and
   * PORTCULLIS_AUDIT_INVALID_INPUT for a malformed session ID or seq.
   */
  castSink (sessionId: string, startSeq: number, options: CastSinkOptions = {}): CastSink {
    if (this.#failure !== null) throw this.#unavailable()
    if (this.#closing !== null) throw new AuditError('PORTCULLIS_AUDIT_CLOSED')
    if (!isSessionId(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID (s- and 16 lowercase hex digits)`])
    if (!Number.isSafeInteger(startSeq) || startSeq < 1) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`the session.start seq ${String(startSeq)} is not a record seq`])
    const sink = new CastSink(this.#castStorage, sessionId, startSeq, options)
    this.#sinks.add(sink)
    return sink
  }

  /**
   * Opens the recording of a session whose session.start is record `startSeq`: creates its frame file
   * (recordings/<session>.rec, private, new) with the header frame, durably, and the open-session marker, so a
   * session the daemon dies in is found at the next start; release() removes the marker once session.end is
   * durable. Rejects with what the file system said when the file cannot be made, PORTCULLIS_AUDIT_CLOSED after
   * close(), PORTCULLIS_AUDIT_UNAVAILABLE after a failed append, PORTCULLIS_AUDIT_INVALID_INPUT for a malformed
   * session ID or seq.
   */
  async openRecording (sessionId: string, startSeq: number, header: CastHeader, options: RecordingSinkOptions = {}): Promise<RecordingSink> {
    if (this.#failure !== null) throw this.#unavailable()
    if (this.#closing !== null) throw new AuditError('PORTCULLIS_AUDIT_CLOSED')
    if (!isSessionId(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID (s- and 16 lowercase hex digits)`])
    if (!Number.isSafeInteger(startSeq) || startSeq < 1) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`the session.start seq ${String(startSeq)} is not a record seq`])
    // Open from before its file exists to when its sink is in #sinks: the fleet must not take the file for closed.
    this.#opening.add(sessionId)
    try {
      const file = await createRecordingFile(this.dir, sessionId, header)
      const sink = new RecordingSink(this.#recordingStorage, sessionId, startSeq, file, options)
      try {
        await this.#castOperation(() => this.#db.put(markerKey(sessionId), encodeMarker(startSeq), { sync: true }))
      } catch (err) {
        // Nothing ran: the file holds only its header, and no session.end will vouch for it.
        await sink.finish().catch(() => {})
        await rm(file.path, { force: true }).catch(() => {})
        throw err
      }
      if (this.#closing !== null) {
        await sink.close()
        throw new AuditError('PORTCULLIS_AUDIT_CLOSED')
      }
      this.#sinks.add(sink)
      return sink
    } finally {
      this.#opening.delete(sessionId)
    }
  }

  /** A session's recording as asciicast text, in pieces of whole lines, streamed in constant memory: rendered
   * from its frame file, or read from the chunks recordings were stored in before. Empty when it has none. */
  readCast (sessionId: string): AsyncIterable<string> {
    if (!isSessionId(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID`])
    return readSessionCast(this.#db, this.dir, sessionId)
  }

  /** The bytes of a session's recording file, in pieces (what bundles copy), or null when it has none. */
  async readRecordingFile (sessionId: string): Promise<AsyncIterable<Buffer> | null> {
    if (!isSessionId(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID`])
    const path = recordingPath(this.dir, sessionId)
    if (!await isFile(path)) return null
    // A session recorded in chunks has no file of portcullis's: one beside its chunks was added.
    for await (const _ of this.#db.keys({ ...castRange(sessionId), limit: 1 })) {
      throw new AuditError('PORTCULLIS_AUDIT_RECORDING_INVALID', [path, '0', `session ${sessionId} was recorded in chunks in the store, so no file of it is portcullis's: it was added`])
    }
    return readRecordingChunks(path)
  }

  /** The durable bytes of a session's recording while this store writes it (the fleet ships no further; 0 while
   * openRecording is still opening it), or null when no sink of this store has it open or is opening it. */
  openRecordingBytes (sessionId: string): number | null {
    // Being opened: its header is not vouched durable to anyone yet.
    if (this.#opening.has(sessionId)) return 0
    for (const sink of this.#sinks) if (sink instanceof RecordingSink && sink.sessionId === sessionId) return sink.summary().bytes
    return null
  }

  /** Sessions whose recording was opened and not released: live ones, or, at start-up, those a previous run
   * died in (see recoverInterruptedSessions). */
  openSessionMarkers (): Promise<SessionMarker[]> {
    return readSessionMarkers(this.#db)
  }

  /** Whether the session's open-session marker is there: its recording was opened and its session.end is not
   * (yet) durable. */
  async hasSessionMarker (sessionId: string): Promise<boolean> {
    if (!isSessionId(sessionId)) return false
    return await this.#db.get(markerKey(sessionId)) !== undefined
  }

  deleteSessionMarker (sessionId: string): Promise<void> {
    if (!isSessionId(sessionId)) return Promise.reject(new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID`]))
    return this.#castOperation(() => this.#db.del(markerKey(sessionId)))
  }

  /** Runs a write or deletion for a recording, so that close() can wait for it. */
  #castOperation (operation: () => Promise<void>): Promise<void> {
    if (this.#dbClosed) return Promise.reject(new AuditError('PORTCULLIS_AUDIT_CLOSED'))
    const pending = operation()
    const tracked = pending.then(() => {}, () => {})
    this.#castOperations.add(tracked)
    void tracked.then(() => this.#castOperations.delete(tracked))
    return pending
  }

  /** The newest `n` durable records, oldest first. */
  async tail (n: number): Promise<AuditRecord[]> {
    const records: AuditRecord[] = []
    if (n <= 0) return records
    for await (const record of this.read({ reverse: true, limit: n })) records.push(record)
    return records.reverse()
  }

  /** Checks the stored chain; see verifyChain. */
  verify (options: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyChain(this.#db, options)
  }

  /** Refuses new appends and recordings, waits for the queued records and for the text open recordings hold to
   * be written, then closes the database. A recording still open then fails with PORTCULLIS_AUDIT_CLOSED at its
   * next write, and its marker makes the next start record the session as interrupted. */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
      this.#retryTimer = null
      if (this.#recovering !== null) await this.#recovering
      if (this.#queue.length > 0) this.#startFlush()
      await Promise.allSettled([...this.#sinks].map(async (sink) => sink instanceof RecordingSink ? await sink.close() : await sink.flush()))
      while (this.#flushing !== null) await this.#flushing
      while (this.#castOperations.size > 0) await Promise.all(this.#castOperations)
      this.#dbClosed = true
      await this.#journal.close().catch((err: unknown) => this.#logger.warn({ err }, 'could not close the audit journal'))
      await this.#db.close()
    })()
    return this.#closing
  }
}

/**
 * The database behind `store`, for the modules of src/audit that read and write their own keys beside the records
 * (checkpoints, expiry, the start verification, bundles) and for tests of them. Nothing outside src/audit may call
 * it (eslint.config.js): other modules keep their entries in a key space (AuditStore.keySpace). It follows the
 * store when it reopens, and refuses writes while the store is after a failed write.
 */
export function auditDatabase (store: AuditStore): AuditDb {
  return databaseOfStore(store)
}

/**
 * Writes `operations` in one LevelDB batch through classic-level's own batch, skipping abstract-level's generic
 * per-operation copying, encoding look-ups and checks: at 64 calls in flight they took half the main thread, and
 * every key and value here is a string the store made itself. A database that is not open goes the public way,
 * which raises abstract-level's own error.
 */
function writeOperations (db: AuditDb, operations: BatchPut[], sync: boolean): Promise<void> {
  if (db.status !== 'open') return db.batch(operations, { sync })
  return (db as unknown as { _batch: (operations: BatchPut[], options: { sync: boolean }) => Promise<void> })._batch(operations, { sync })
}

/** The numbers of LevelDB's write-ahead logs in `dir`, lowest first. */
function levelDbLogs (dir: string): number[] {
  return readdirSync(dir).flatMap((name) => {
    const match = /^(\d+)\.log$/.exec(name)
    return match === null ? [] : [Number(match[1])]
  }).sort((a, b) => a - b)
}

/** Records in seq order (newest first with `reverse`), streamed from disk in constant memory. */
export async function * readRecords (db: AuditDb, options: ReadOptions = {}): AsyncIterable<AuditRecord> {
  const range = {
    gte: options.fromSeq !== undefined ? recordKey(Math.max(0, options.fromSeq)) : RECORD_RANGE.gte,
    ...(options.toSeq !== undefined ? { lte: recordKey(Math.max(0, options.toSeq)) } : { lt: RECORD_RANGE.lt }),
    limit: options.limit ?? -1,
    reverse: options.reverse ?? false
  }
  const step = options.reverse === true ? -1 : 1
  let last: number | undefined
  /** Where seqs first jumped: LevelDB passes over a block it cannot decode and reports it only at the end. */
  let skipped: number | undefined
  try {
    for await (const [key, value] of db.iterator(range)) {
      const record = parseRecord(value)
      if (record === null) throw new AuditError('PORTCULLIS_AUDIT_CORRUPT', [key, 'not an audit record'])
      if (skipped === undefined && last !== undefined && record.seq !== last + step) skipped = last + step
      last = record.seq
      yield record
    }
  } catch (err) {
    throw storageError(err, db.location, skipped ?? (last === undefined ? undefined : last + step))
  }
}

/** The records a recovery writes about the outage: not refused calls when they fail too. */
function isOutageRecord (record: AuditRecord): boolean {
  return record.kind === 'system' && (record.action === 'audit.write-failed' || record.action === 'audit.write-recovered')
}

/** Why a reopened store cannot take records again after a failed write: the record that was durable before it
 * is gone or changed, or the chain from it to the head does not hold. Null when it is sound. */
async function problemSince (db: AuditDb, durable: AuditHead, head: AuditHead): Promise<string | null> {
  if (head.seq < durable.seq) return `record ${durable.seq} was written before the failure, but the store now ends at record ${head.seq}`
  if (durable.seq > 0) {
    const raw = await db.get(recordKey(durable.seq)) as string | undefined
    const record = raw === undefined ? null : parseRecord(raw)
    if (record?.hash !== durable.hash) return `record ${durable.seq}, written before the failure, is ${raw === undefined ? 'gone' : 'changed'}`
  }
  const report = await verifyChain(db, { fromSeq: durable.seq + 1 })
  return report.ok ? null : `record ${report.firstBad?.seq ?? '?'}: ${report.firstBad?.detail ?? 'the chain does not hold'}`
}

/** The head the next append builds on. The head entry and the last record are written in one batch, so they
 * disagree only when the store was changed outside portcullis; adding to such a chain would bury the evidence. */
async function readHead (db: AuditDb, dir: string): Promise<AuditHead> {
  const rawHead = await db.get(HEAD_KEY) as string | undefined
  let lastKey: string | undefined
  let lastValue: string | undefined
  for await (const [key, value] of db.iterator({ ...RECORD_RANGE, reverse: true, limit: 1 })) {
    lastKey = key
    lastValue = value
  }
  if (rawHead === undefined && lastKey === undefined) return { seq: 0, hash: GENESIS_HASH }
  const refuse = (why: string): AuditError => new AuditError('PORTCULLIS_AUDIT_HEAD_MISMATCH', [dir, why, dir])
  if (rawHead === undefined) throw refuse('records exist but the head entry is missing')
  const head = decodeHead(rawHead)
  if (head === null) throw refuse('the head entry is unreadable')
  if (lastKey === undefined || lastValue === undefined) throw refuse(`the head names record ${head.seq} but there are no records`)
  const last = parseRecord(lastValue)
  if (lastKey !== recordKey(head.seq) || last === null || last.seq !== head.seq || last.hash !== head.hash) {
    throw refuse(`the head names record ${head.seq} but the last stored record is ${last?.seq ?? lastKey}`)
  }
  return head
}

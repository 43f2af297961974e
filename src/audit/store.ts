// The append-only audit store. Every append resolves only once its record is on disk (a LevelDB batch
// written with sync), and appends that arrive while a batch is being written share the next one (group
// commit), so the cost of fsync is paid once per batch rather than once per Docker call.

import pino, { type Logger } from 'pino'
import { CastSink, readCastChunks, readSessionMarkers, type CastOperation, type CastSinkOptions, type CastStorage, type SessionMarker } from './casts.js'
import { sealRecord, type SealedRecord } from './chain.js'
import { AuditError, messageOf } from './errors.js'
import { openAuditDb, type AuditDb } from './level.js'
import { HEAD_KEY, RECORD_RANGE, decodeHead, encodeHead, isSessionId, markerKey, recordKey } from './keys.js'
import { addIndexEntries, ensureIndexes } from './indexes.js'
import { queryRecords, queryStored, type AuditFilter, type StoredRecord } from './query.js'
import { readBundledSeq, writeBundledSeq } from './bundled.js'
import { AUDIT_KINDS, GENESIS_HASH, parseRecord, type AuditHead, type AuditInput, type AuditRecord } from './record.js'
import { verifyChain, type VerifyOptions, type VerifyReport } from './verify.js'

export interface AuditStoreOptions {
  logger?: Logger
  /** Most records written in one batch. Default 1024. */
  maxBatch?: number
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

type Listener = (record: AuditRecord) => void

const DEFAULT_MAX_BATCH = 1024
/** How long a lazy record may wait for a batch to share before it gets one of its own. */
const LAZY_WAIT_MS = 50

export interface AppendOptions {
  /**
   * The caller does not wait on this record: let it ride with the next batch (at most LAZY_WAIT_MS later)
   * instead of paying for an fsync of its own. The promise still settles once it is durable.
   */
  lazy?: boolean
}

export class AuditStore {
  readonly dir: string
  /** The modes open() took group and other access away from (`name: 0644 -> 0600`); empty when it was private. */
  readonly madePrivate: readonly string[]
  readonly #db: AuditDb
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
  #closing: Promise<void> | null = null
  /** Recordings still being written: close() lets them write what they hold first. */
  readonly #sinks = new Set<CastSink>()
  /** Recording writes and marker deletions not yet settled: close() waits for them. */
  readonly #castOperations = new Set<Promise<void>>()
  #dbClosed = false
  /** The last markBundled() write, so the next waits for it. */
  #bundling: Promise<unknown> = Promise.resolve()
  readonly #castStorage: CastStorage = {
    // Chunk values carry their own encoding (bytes), which the database's string-typed batch does not model.
    write: (operations: CastOperation[]) => this.#castOperation(() => this.#db.batch(operations as unknown as Array<{ type: 'put', key: string, value: string }>, { sync: true })),
    remove: (key: string) => this.#castOperation(() => this.#db.del(key)),
    settled: (sink: CastSink) => { this.#sinks.delete(sink) }
  }

  private constructor (dir: string, db: AuditDb, head: AuditHead, madePrivate: string[], options: AuditStoreOptions) {
    this.dir = dir
    this.madePrivate = madePrivate
    this.#db = db
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
      await ensureIndexes(db, options.logger)
      return new AuditStore(dir, db, head, madePrivate, options)
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** Adds a record; resolves with it once it is durable. Rejects when the record cannot be stored: the caller
   * must then refuse whatever it was recording. */
  append (input: AuditInput, options: AppendOptions = {}): Promise<AuditRecord> {
    if (this.#failure !== null) return Promise.reject(new AuditError('PORTCULLIS_AUDIT_UNAVAILABLE', [this.#failure.message], { cause: this.#failure }))
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
        // A chained batch: LevelDB's array form costs several times more per entry, and with the index entries
        // (in the record's batch, so an index never names a record that is not on disk) there are several per record.
        const write = this.#db.batch()
        for (let i = 0; i < batch.length; i++) {
          const pending = batch[i]!
          write.put(recordKey(pending.record.seq), pending.text)
          addIndexEntries(write, pending.record)
        }
        write.put(HEAD_KEY, encodeHead(last))
        await write.write({ sync: true })
      } catch (err) {
        this.#fail(err, batch)
        break
      }
      this.#durable = { seq: last.seq, hash: last.hash }
      this.#stats.batches++
      this.#stats.records += batch.length
      if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length
      for (const pending of batch) pending.resolve(pending.record)
      if (this.#listeners.size > 0) for (const pending of batch) this.#notify(pending.record)
    }
    this.#flushing = null
  }

  /** A failed write leaves the in-memory chain ahead of the disk; refusing every further append until the
   * store is reopened (from the disk's head) is what keeps the stored chain free of holes. */
  #fail (err: unknown, batch: PendingAppend[]): void {
    const cause = err instanceof Error ? err : new Error(String(err))
    this.#failure = cause
    const failed = batch.concat(this.#queue)
    this.#queue = []
    this.#logger.error({ err: cause, dir: this.dir, firstSeq: failed[0]?.record.seq, lostAppends: failed.length },
      'audit write failed: denying every waiting call and refusing new records until portcullis is restarted')
    const rejection = new AuditError('PORTCULLIS_AUDIT_WRITE_FAILED', [cause.message], { cause })
    for (const pending of failed) pending.reject(rejection)
  }

  #notify (record: AuditRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record)
      } catch (err) {
        this.#logger.warn({ err, seq: record.seq }, 'an audit subscriber threw; it stays subscribed')
      }
    }
  }

  /** The database itself, for the modules that keep their own entries beside the records (checkpoints.ts,
   * retention.ts). Everything else goes through the methods of the store. */
  get db (): AuditDb {
    return this.#db
  }

  /** Why the store refuses new records (a write failed), or null while it takes them. */
  get failure (): Error | null {
    return this.#failure
  }

  /** The last durable record's seq and hash. */
  head (): AuditHead {
    return { seq: this.#durable.seq, hash: this.#durable.hash }
  }

  stats (): AuditStats {
    return { ...this.#stats }
  }

  /** Calls `listener` with every record once it is durable, in seq order. Returns the unsubscribe function. */
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
    // One at a time: each is a read then a write.
    const marked = this.#bundling.then(async () => await writeBundledSeq(this.#db, toSeq))
    this.#bundling = marked.catch(() => {})
    return marked
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
    if (this.#failure !== null) throw new AuditError('PORTCULLIS_AUDIT_UNAVAILABLE', [this.#failure.message], { cause: this.#failure })
    if (this.#closing !== null) throw new AuditError('PORTCULLIS_AUDIT_CLOSED')
    if (!isSessionId(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID (s- and 16 lowercase hex digits)`])
    if (!Number.isSafeInteger(startSeq) || startSeq < 1) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`the session.start seq ${String(startSeq)} is not a record seq`])
    const sink = new CastSink(this.#castStorage, sessionId, startSeq, options)
    this.#sinks.add(sink)
    return sink
  }

  /** A session's recording as stored: its chunk texts in order, streamed in constant memory. Empty when the
   * session has no recording. */
  readCast (sessionId: string): AsyncIterable<string> {
    if (!isSessionId(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`${JSON.stringify(sessionId)} is not a session ID`])
    return readCastChunks(this.#db, sessionId)
  }

  /** Sessions whose recording was opened and not released: live ones, or, at start-up, those a previous run
   * died in (see recoverInterruptedSessions). */
  openSessionMarkers (): Promise<SessionMarker[]> {
    return readSessionMarkers(this.#db)
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
      if (this.#queue.length > 0) this.#startFlush()
      await Promise.allSettled([...this.#sinks].map(async (sink) => await sink.flush()))
      while (this.#flushing !== null) await this.#flushing
      while (this.#castOperations.size > 0) await Promise.all(this.#castOperations)
      this.#dbClosed = true
      await this.#db.close()
    })()
    return this.#closing
  }
}

/** Records in seq order (newest first with `reverse`), streamed from disk in constant memory. */
export async function * readRecords (db: AuditDb, options: ReadOptions = {}): AsyncIterable<AuditRecord> {
  const range = {
    gte: options.fromSeq !== undefined ? recordKey(Math.max(0, options.fromSeq)) : RECORD_RANGE.gte,
    ...(options.toSeq !== undefined ? { lte: recordKey(Math.max(0, options.toSeq)) } : { lt: RECORD_RANGE.lt }),
    limit: options.limit ?? -1,
    reverse: options.reverse ?? false
  }
  for await (const [key, value] of db.iterator(range)) {
    const record = parseRecord(value)
    if (record === null) throw new AuditError('PORTCULLIS_AUDIT_CORRUPT', [key, 'not an audit record'])
    yield record
  }
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

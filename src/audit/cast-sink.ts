// Session recordings in the audit store: the asciicast text of one session, written in chunks beside the records
// (see keys.ts for the layout). A digest chained over the chunks (cast-digest.ts) goes into the session.end record.
//
// CastSink batches a session's text the way the store batches records: one write in flight, text that arrives
// meanwhile joins the next one (group commit), so a fast stream costs one fsync per batch, not one per line.

import { EventEmitter } from 'node:events'
import { CAST_GENESIS, nextCastDigest, type CastSummary } from './cast-digest.js'
import { AuditError, messageOf } from './errors.js'
import { GroupCommit, notNegative, positive } from './group-commit.js'
import { castKey, encodeMarker, markerKey } from './keys.js'

/** Chunks are handed to LevelDB as the UTF-8 bytes they are stored as: no round trip through strings. */
export type CastOperation = { type: 'put', key: string, value: string } | { type: 'put', key: string, value: Buffer, valueEncoding: 'buffer' } | { type: 'del', key: string }

/** What a sink needs from the store that owns the database. */
export interface CastStorage {
  /** Writes the operations as one batch, durably (fsync). */
  write: (operations: CastOperation[]) => Promise<void>
  /** Removes a key; need not be durable (a marker that survives a crash is cleaned up at the next start). */
  remove: (key: string) => Promise<void>
  /** The sink is finished or failed: the store stops waiting for it. */
  settled: (sink: CastSink) => void
}

export interface CastSinkOptions {
  /** Pending text above this makes write() return false until 'drain'. Default 16 MiB. */
  highWaterMark?: number
  /** Write a batch once this much text is pending, and cut chunks at most this large (at line ends). Default 1 MiB. */
  maxChunkBytes?: number
  /** Write pending text at most this long after it arrived. Default 200 ms. */
  flushIntervalMs?: number
}

const DEFAULT_HIGH_WATER_MARK = 16 * 1024 * 1024
const DEFAULT_MAX_CHUNK_BYTES = 1024 * 1024
const DEFAULT_FLUSH_INTERVAL_MS = 200

/**
 * The writer of one session's recording. Events: `'drain'` after write() returned false and the pending text
 * fell below the high-water mark; `'error'` (once, and only when someone listens: finish() rejects with the same
 * error) when a write failed; the sink then takes no more text, and the session must end.
 *
 * Chunk 0 is written as soon as it is given (it carries the open-session marker, so a session the daemon dies in
 * is found at the next start); later text waits up to flushIntervalMs or until maxChunkBytes are pending.
 */
export class CastSink extends EventEmitter {
  readonly sessionId: string
  readonly startSeq: number
  readonly #storage: CastStorage
  readonly #maxChunkBytes: number
  // Kept as bytes: a fast stream's text is encoded once here and then only cut, hashed and stored.
  readonly #batches: GroupCommit
  /** The durable state: chunks written, their bytes and digest. */
  #chunks = 0
  #bytes = 0
  #digest = CAST_GENESIS
  #finishing: Promise<CastSummary> | null = null
  #released: Promise<void> | null = null

  constructor (storage: CastStorage, sessionId: string, startSeq: number, options: CastSinkOptions = {}) {
    super()
    this.#storage = storage
    this.sessionId = sessionId
    this.startSeq = startSeq
    this.#maxChunkBytes = positive(options.maxChunkBytes, DEFAULT_MAX_CHUNK_BYTES)
    this.#batches = new GroupCommit({
      highWaterMark: positive(options.highWaterMark, DEFAULT_HIGH_WATER_MARK),
      maxBatchBytes: this.#maxChunkBytes,
      flushIntervalMs: notNegative(options.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS)
    }, {
      write: async (pieces, bytes) => { await this.#writeChunks(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, bytes)) },
      drained: () => this.emit('drain'),
      failed: (err) => err instanceof AuditError && err.code === 'PORTCULLIS_AUDIT_CLOSED'
        ? err
        : new AuditError('PORTCULLIS_AUDIT_CAST_WRITE_FAILED', [this.sessionId, messageOf(err)], { cause: err }),
      stopped: (err) => {
        this.#storage.settled(this)
        // An 'error' nobody listens to would throw here and take the daemon down; finish() reports it anyway.
        if (this.listenerCount('error') > 0) this.emit('error', err)
      }
    })
  }

  /**
   * Adds whole asciicast lines (each ending in '\n'). Returns false when the caller should pause its source until
   * 'drain', and always after a failure (the text is then dropped: the session must end).
   */
  write (text: string): boolean {
    if (this.#finishing !== null) throw new Error(`The recording of session ${this.sessionId} is finished; nothing more can be written to it.`)
    if (this.#batches.failure !== null) return false
    if (text === '') return this.#batches.accepting
    if (text.charCodeAt(text.length - 1) !== 10) throw new TypeError('A recording is written in whole lines: the text must end with a newline.')
    const bytes = Buffer.from(text, 'utf8')
    // Chunk 0 carries the open-session marker: it is written at once.
    return this.#batches.add([bytes], bytes.length, 1, this.#chunks === 0 && !this.#batches.writing)
  }

  /** Resolves once everything given so far is durable; rejects if a write failed. */
  async flush (): Promise<void> {
    await this.#batches.flush()
  }

  /** Writes everything pending and resolves with the summary for session.end. Rejects when a write failed
   * (then summary() still tells what is durable). Calling it again returns the same promise. */
  finish (): Promise<CastSummary> {
    this.#finishing ??= (async () => {
      try {
        await this.flush()
        return this.summary()
      } finally {
        this.#storage.settled(this)
      }
    })()
    return this.#finishing
  }

  /** Deletes the open-session marker; call it once session.end is durable. */
  release (): Promise<void> {
    this.#released ??= (async () => {
      this.#batches.stopTimer()
      this.#storage.settled(this)
      await this.#storage.remove(markerKey(this.sessionId))
    })()
    return this.#released
  }

  /** The durable part of the recording. */
  summary (): CastSummary {
    return { chunks: this.#chunks, bytes: this.#bytes, digest: this.#digest }
  }

  /** The error that stopped the recording, if one did. */
  get failure (): Error | null {
    return this.#batches.failure
  }

  /** Writes one batch as chunks of at most maxChunkBytes, cut at line ends; the durable state moves once they are. */
  async #writeChunks (text: Buffer): Promise<void> {
    const chunks = text.length <= this.#maxChunkBytes ? [text] : cutAtLineEnds(text, this.#maxChunkBytes)
    const operations: CastOperation[] = []
    let digest = this.#digest
    let index = this.#chunks
    for (const chunk of chunks) {
      operations.push({ type: 'put', key: castKey(this.sessionId, index), value: chunk, valueEncoding: 'buffer' })
      if (index === 0) operations.push({ type: 'put', key: markerKey(this.sessionId), value: encodeMarker(this.startSeq) })
      digest = nextCastDigest(digest, chunk)
      index++
    }
    await this.#storage.write(operations)
    this.#chunks = index
    this.#bytes += text.length
    this.#digest = digest
  }
}

/** Splits whole lines into pieces of at most `maxBytes` UTF-8 bytes, cut after a '\n' (a single longer line
 * stays whole). Works on the bytes: '\n' never occurs inside a multi-byte UTF-8 character. The pieces are views. */
function cutAtLineEnds (bytes: Buffer, maxBytes: number): Buffer[] {
  const pieces: Buffer[] = []
  let start = 0
  while (start < bytes.length) {
    let end = bytes.length
    if (end - start > maxBytes) {
      const lastNewline = bytes.lastIndexOf(0x0a, start + maxBytes - 1)
      end = lastNewline >= start ? lastNewline + 1 : bytes.indexOf(0x0a, start + maxBytes) + 1
      if (end === 0) end = bytes.length
    }
    pieces.push(bytes.subarray(start, end))
    start = end
  }
  return pieces
}

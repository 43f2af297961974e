// Session recordings as raw frames: one append-only file per session, `recordings/<session>.rec` in the store's
// directory. The bridge writes the bytes each way as they came, in timestamped frames, without decoding or
// escaping them; asciicast is rendered from the frames only when someone exports or replays the session.
//
//   file   = MAGIC frame*
//   frame  = type (1 byte) · time (6 bytes, µs since the start, big-endian) · length (4 bytes, big-endian) · payload
//   type   = 'h' header (the asciicast header as JSON; the first frame) | 'o' stdout or terminal output
//          | 'e' stderr | 'i' input | 'r' resize ("COLSxROWS")
//
// The session.end record carries `fields.recording` = { format, frames, bytes, sha256 } of the file, so the hash
// chain covers it. A file a crash cut in the middle of a frame is read up to its last whole frame.
//
// RecordingSink batches a session's frames the way the store batches records: one write (and fdatasync) in flight,
// frames that arrive meanwhile join the next one, so a fast stream costs one fsync per batch.

import crypto from 'node:crypto'
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { CastRenderer, parseCast, type CastHeader } from './asciicast.js'
import { AuditError, messageOf } from './errors.js'
import { GroupCommit, notNegative, positive } from './group-commit.js'

export const RECORDINGS_DIR = 'recordings'
const RECORDING_FORMAT = 'frames-v1'
/** The first bytes of every recording file. */
export const RECORDING_MAGIC = Buffer.from('PCREC01\n', 'latin1')
export const FRAME_HEADER_BYTES = 11
const MAX_MICROS = 2 ** 48 - 1
const MAX_FRAME_PAYLOAD = 2 ** 32 - 1

export type FrameType = 'h' | 'o' | 'e' | 'i' | 'r'
const FRAME_CODES: Record<FrameType, number> = { h: 0x68, o: 0x6f, e: 0x65, i: 0x69, r: 0x72 }
const FRAME_TYPES = new Map<number, FrameType>(Object.entries(FRAME_CODES).map(([type, code]) => [code, type as FrameType]))

interface Frame {
  type: FrameType
  /** Microseconds since the start of the recording. */
  micros: number
  payload: Buffer
}

/** What session.end records about a recording file: `fields.recording`. */
export interface RecordingSummary {
  format: typeof RECORDING_FORMAT
  /** Whole frames in the file, the header frame included. */
  frames: number
  /** Bytes of the file. */
  bytes: number
  /** sha256 (hex) of the file's bytes. */
  sha256: string
  /** Bytes after the last whole frame (a crash cut the file mid-frame); left out when there are none. */
  tornBytes?: number
}

export function isRecordingSummary (value: unknown): value is RecordingSummary {
  if (value === null || typeof value !== 'object') return false
  const { format, frames, bytes, sha256 } = value as Record<string, unknown>
  return format === RECORDING_FORMAT && Number.isSafeInteger(frames) && (frames as number) >= 0 &&
    Number.isSafeInteger(bytes) && (bytes as number) >= 0 && typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256)
}

export function recordingsDir (storeDir: string): string {
  return join(storeDir, RECORDINGS_DIR)
}

export function recordingPath (storeDir: string, sessionId: string): string {
  return join(storeDir, RECORDINGS_DIR, `${sessionId}.rec`)
}

/** The session IDs with a recording file in the store, from the file names; other names are returned apart. */
export function listRecordingFiles (storeDir: string): { sessions: string[], others: string[] } {
  let names: string[]
  try {
    names = fs.readdirSync(recordingsDir(storeDir))
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return { sessions: [], others: [] }
    throw err
  }
  return classifyRecordingNames(names)
}

/** The sessions and the other entries among the names in a recordings directory, sorted. */
export function classifyRecordingNames (names: string[]): { sessions: string[], others: string[] } {
  const sessions: string[] = []
  const others: string[] = []
  for (const name of names.sort()) {
    const match = /^(s-[0-9a-f]{16})\.rec$/.exec(name)
    if (match !== null) sessions.push(match[1]!)
    else others.push(name)
  }
  return { sessions, others }
}

/** The 11 bytes in front of a frame's payload. */
export function frameHeader (type: FrameType, micros: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header[0] = FRAME_CODES[type]
  header.writeUIntBE(Math.min(Math.max(0, Math.floor(micros)), MAX_MICROS), 1, 6)
  header.writeUInt32BE(length, 7)
  return header
}

/** Cuts a stream of recording bytes (magic first) into frames. */
class FrameParser {
  /** Bytes of whole frames (and the magic) taken so far. */
  consumed = 0
  frames = 0
  #buffer: Buffer = Buffer.alloc(0)
  #magicSeen = false
  /** Where the bytes stopped being frames, and why; null while they are. */
  invalid: { offset: number, why: string } | null = null

  /** The whole frames `chunk` completes. After an invalid frame it takes nothing more. */
  push (chunk: Buffer): Frame[] {
    if (this.invalid !== null) return []
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    const frames: Frame[] = []
    let at = 0
    const buffer = this.#buffer
    if (!this.#magicSeen) {
      if (buffer.length < RECORDING_MAGIC.length) return frames
      if (!buffer.subarray(0, RECORDING_MAGIC.length).equals(RECORDING_MAGIC)) {
        this.invalid = { offset: 0, why: 'it does not begin as a portcullis recording does' }
        return frames
      }
      this.#magicSeen = true
      at = RECORDING_MAGIC.length
      this.consumed = at
    }
    while (buffer.length - at >= FRAME_HEADER_BYTES) {
      const type = FRAME_TYPES.get(buffer[at]!)
      if (type === undefined || (type === 'h') !== (this.frames === 0)) {
        this.invalid = { offset: this.consumed, why: type === undefined ? `frame ${this.frames} has an unknown type (byte ${buffer[at]!})` : this.frames === 0 ? 'the first frame is not the header' : `frame ${this.frames} is a second header` }
        this.#buffer = Buffer.alloc(0)
        return frames
      }
      const length = buffer.readUInt32BE(at + 7)
      if (buffer.length - at - FRAME_HEADER_BYTES < length) break
      frames.push({ type, micros: buffer.readUIntBE(at + 1, 6), payload: buffer.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length) })
      at += FRAME_HEADER_BYTES + length
      this.consumed += FRAME_HEADER_BYTES + length
      this.frames++
    }
    this.#buffer = at === buffer.length ? Buffer.alloc(0) : buffer.subarray(at)
    return frames
  }

}

const READ_BYTES = 1024 * 1024

/** The file's bytes in pieces, read in constant memory; a link in its place is refused (ELOOP). */
export async function * readRecordingChunks (path: string): AsyncIterable<Buffer> {
  let handle: fs.promises.FileHandle
  try {
    // O_NONBLOCK: a FIFO in the file's place must not hold the reader (and a thread of the pool) for ever.
    handle = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ELOOP') throw new AuditError('PORTCULLIS_AUDIT_RECORDING_INVALID', [path, '0', 'it is a symbolic link, which portcullis never follows'], { cause: err })
    throw err
  }
  try {
    if (!(await handle.stat()).isFile()) throw new AuditError('PORTCULLIS_AUDIT_RECORDING_INVALID', [path, '0', 'it is not a regular file (a FIFO, device or directory took its place)'])
    for (;;) {
      const buffer = Buffer.allocUnsafe(READ_BYTES)
      const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, null)
      if (bytesRead === 0) return
      yield buffer.subarray(0, bytesRead)
    }
  } finally {
    await handle.close()
  }
}

/** What a recording's bytes hold: the summary of the file and what its frames tell about the session. */
export interface RecordingScan {
  summary: RecordingSummary
  /** Where the bytes stop being frames, other than a torn tail. */
  invalid: { offset: number, why: string } | null
  /** The time of the last frame, in microseconds. */
  lastMicros: number
  bytesOut: number
  bytesErr: number
  bytesIn: number
}

/** Hashes and parses a recording's bytes in one pass. */
export async function scanRecordingBytes (chunks: AsyncIterable<Buffer>): Promise<RecordingScan> {
  const hash = crypto.createHash('sha256')
  const parser = new FrameParser()
  let bytes = 0
  const scan = { lastMicros: 0, bytesOut: 0, bytesErr: 0, bytesIn: 0 }
  for await (const chunk of chunks) {
    hash.update(chunk)
    bytes += chunk.length
    for (const frame of parser.push(chunk)) {
      scan.lastMicros = Math.max(scan.lastMicros, frame.micros)
      if (frame.type === 'o') scan.bytesOut += frame.payload.length
      else if (frame.type === 'e') scan.bytesErr += frame.payload.length
      else if (frame.type === 'i') scan.bytesIn += frame.payload.length
    }
  }
  const torn = parser.invalid === null ? bytes - parser.consumed : 0
  const summary: RecordingSummary = { format: RECORDING_FORMAT, frames: parser.frames, bytes, sha256: hash.digest('hex') }
  if (torn > 0) summary.tornBytes = torn
  return { summary, invalid: parser.invalid, ...scan }
}

/** scanRecordingBytes of a recording file. */
export async function scanRecordingFile (path: string): Promise<RecordingScan> {
  return await scanRecordingBytes(readRecordingChunks(path))
}

const RENDER_BATCH_LINES = 4096

/**
 * A recording's bytes rendered as asciicast v2 text, in pieces of whole lines: the header, then the events, each
 * stream decoded as UTF-8 on its own (a character split across frames comes out whole). A torn last frame is left
 * out. Throws PORTCULLIS_AUDIT_RECORDING_INVALID where the bytes stop being frames.
 */
export async function * renderRecordingBytes (chunks: AsyncIterable<Buffer>, name: string): AsyncIterable<string> {
  const parser = new FrameParser()
  let renderer: CastRenderer | null = null
  let lastMicros = 0
  for await (const chunk of chunks) {
    const frames = parser.push(chunk)
    if (parser.invalid !== null && frames.length === 0) break
    for (const frame of frames) {
      lastMicros = frame.micros
      if (renderer === null) {
        renderer = new CastRenderer(parseHeaderFrame(frame, name))
        yield renderer.header() + '\n'
        continue
      }
      switch (frame.type) {
        case 'o': renderer.outputAt(frame.payload, frame.micros); break
        case 'e': renderer.errorOutputAt(frame.payload, frame.micros); break
        case 'i': renderer.inputAt(frame.payload, frame.micros); break
        case 'r': {
          const match = /^(\d+)x(\d+)$/.exec(frame.payload.toString('latin1'))
          if (match !== null && Number(match[1]) >= 1 && Number(match[2]) >= 1) renderer.resizeAt(Number(match[1]), Number(match[2]), frame.micros)
          break
        }
      }
    }
    if (renderer !== null) {
      const lines = renderer.drain()
      for (let i = 0; i < lines.length; i += RENDER_BATCH_LINES) yield lines.slice(i, i + RENDER_BATCH_LINES).join('\n') + '\n'
    }
    if (parser.invalid !== null) break
  }
  if (parser.invalid !== null) throw new AuditError('PORTCULLIS_AUDIT_RECORDING_INVALID', [name, String(parser.invalid.offset), parser.invalid.why])
  if (renderer === null) return
  renderer.finishAt(lastMicros)
  const lines = renderer.drain()
  if (lines.length > 0) yield lines.join('\n') + '\n'
}

export function renderRecordingFile (path: string): AsyncIterable<string> {
  return renderRecordingBytes(readRecordingChunks(path), path)
}

function parseHeaderFrame (frame: Frame, name: string): CastHeader {
  try {
    return parseCast(frame.payload.toString('utf8')).header
  } catch (err) {
    throw new AuditError('PORTCULLIS_AUDIT_RECORDING_INVALID', [name, String(RECORDING_MAGIC.length), `its header frame is not an asciicast header (${messageOf(err)})`])
  }
}

/** Makes `recordings/` in the store, private (0700), and checks that it is a directory of ours, not a link. */
export function makeRecordingsDir (storeDir: string): string {
  const dir = recordingsDir(storeDir)
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') throw err
  }
  const stat = fs.lstatSync(dir)
  if (!stat.isDirectory() || (process.getuid !== undefined && stat.uid !== process.getuid())) {
    throw new AuditError('PORTCULLIS_AUDIT_RECORDING_UNSAFE', [dir, stat.isSymbolicLink() ? 'it is a symbolic link' : !stat.isDirectory() ? 'it is not a directory' : `it belongs to uid ${stat.uid}`])
  }
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(dir, stat.mode & 0o700)
  return dir
}

export interface RecordingSinkOptions {
  /** Pending bytes above this make a write return false until 'drain'. Default 16 MiB. */
  highWaterMark?: number
  /** Write a batch once this much is pending. Default 1 MiB. */
  maxBatchBytes?: number
  /** Write pending frames at most this long after they arrived. Default 200 ms. */
  flushIntervalMs?: number
}

/** What a sink needs from the store that owns it. */
export interface RecordingStorage {
  /** Removes the open-session marker; need not be durable. */
  release: (sessionId: string) => Promise<void>
  /** The sink is finished or failed: the store stops waiting for it. */
  settled: (sink: RecordingSink) => void
}

const DEFAULT_HIGH_WATER_MARK = 16 * 1024 * 1024
const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024
const DEFAULT_FLUSH_INTERVAL_MS = 200

/** Creates a session's recording file (private, new, ours) and writes its header frame durably. */
export async function createRecordingFile (storeDir: string, sessionId: string, header: CastHeader): Promise<{ fd: number, path: string, bytes: Buffer }> {
  const dir = makeRecordingsDir(storeDir)
  const path = recordingPath(storeDir, sessionId)
  const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW } = fs.constants
  const fd = await new Promise<number>((resolve, reject) => fs.open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW, 0o600, (err, fd) => err === null ? resolve(fd) : reject(err)))
  try {
    fs.fchmodSync(fd, 0o600)
    const json = Buffer.from(JSON.stringify(header), 'utf8')
    const bytes = Buffer.concat([RECORDING_MAGIC, frameHeader('h', 0, json.length), json])
    await writeAll(fd, bytes)
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => err === null ? resolve() : reject(err)))
    // The file's name must survive a crash too (off the event loop: decisions are answered meanwhile).
    const dirHandle = await fs.promises.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)
    try { await dirHandle.sync() } finally { await dirHandle.close() }
    return { fd, path, bytes }
  } catch (err) {
    fs.closeSync(fd)
    // No session.end will vouch for it (the session is refused): left behind, it would read as added.
    fs.rmSync(path, { force: true })
    throw err
  }
}

function writeAll (fd: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      fs.write(fd, bytes, offset, bytes.length - offset, null, (err, written) => {
        if (err !== null) reject(err)
        else if (offset + written >= bytes.length) resolve()
        else step(offset + written)
      })
    }
    step(0)
  })
}

/**
 * The writer of one session's recording file. Events: `'drain'` after a write returned false and the pending bytes
 * fell below the high-water mark; `'error'` (once, and only when someone listens: finish() rejects with the same
 * error) when a write failed; the sink then takes nothing more, and the session must end.
 */
export class RecordingSink extends EventEmitter {
  readonly sessionId: string
  readonly startSeq: number
  readonly path: string
  readonly #storage: RecordingStorage
  readonly #origin = performance.now()
  #fd: number | null
  // Hashed as the bytes are handed to the disk; after a failure the summary is taken from the disk instead.
  readonly #hash = crypto.createHash('sha256')
  readonly #batches: GroupCommit
  #lastMicros = 0
  /** The durable state: frames and bytes on disk. */
  #frames: number
  #bytes: number
  #finishing: Promise<RecordingSummary> | null = null
  #released: Promise<void> | null = null

  constructor (storage: RecordingStorage, sessionId: string, startSeq: number, file: { fd: number, path: string, bytes: Buffer }, options: RecordingSinkOptions = {}) {
    super()
    this.#storage = storage
    this.sessionId = sessionId
    this.startSeq = startSeq
    this.path = file.path
    this.#fd = file.fd
    this.#hash.update(file.bytes)
    this.#frames = 1
    this.#bytes = file.bytes.length
    this.#batches = new GroupCommit({
      highWaterMark: positive(options.highWaterMark, DEFAULT_HIGH_WATER_MARK),
      maxBatchBytes: positive(options.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES),
      flushIntervalMs: notNegative(options.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS)
    }, {
      write: (pieces, bytes, frames) => {
        const batch = Buffer.concat(pieces, bytes)
        const written = this.#write(batch, frames)
        // Hashed here, on the main thread, while the thread pool writes: the two overlap.
        this.#hash.update(batch)
        return written
      },
      drained: () => this.emit('drain'),
      failed: (err) => err instanceof AuditError && err.code === 'PORTCULLIS_AUDIT_CLOSED'
        ? err
        : new AuditError('PORTCULLIS_AUDIT_CAST_WRITE_FAILED', [this.sessionId, `${this.path}: ${messageOf(err)}`], { cause: err }),
      stopped: (err) => {
        this.#storage.settled(this)
        if (this.listenerCount('error') > 0) this.emit('error', err)
      }
    })
  }

  /** Bytes the program wrote to the terminal (or to stdout, without a pty). False: pause the source until 'drain'. */
  output (chunk: Buffer): boolean { return this.#frame('o', chunk) }
  /** Bytes the program wrote to stderr, without a pty. */
  errorOutput (chunk: Buffer): boolean { return this.#frame('e', chunk) }
  /** Bytes the user typed. */
  input (chunk: Buffer): boolean { return this.#frame('i', chunk) }
  resize (cols: number, rows: number): boolean { return this.#frame('r', Buffer.from(`${cols}x${rows}`, 'latin1')) }

  #frame (type: FrameType, payload: Buffer): boolean {
    if (this.#finishing !== null) throw new Error(`The recording of session ${this.sessionId} is finished; nothing more can be written to it.`)
    if (this.#batches.failure !== null) return false
    if (payload.length === 0) return this.#batches.accepting
    // Never going back: a clock read late must not reorder what already happened.
    const micros = Math.max(this.#lastMicros, Math.round((performance.now() - this.#origin) * 1000))
    this.#lastMicros = micros
    const pieces: Buffer[] = []
    let bytes = 0
    for (let start = 0; start < payload.length; start += MAX_FRAME_PAYLOAD) {
      const piece = payload.length <= MAX_FRAME_PAYLOAD ? payload : payload.subarray(start, start + MAX_FRAME_PAYLOAD)
      pieces.push(frameHeader(type, micros, piece.length), piece)
      bytes += FRAME_HEADER_BYTES + piece.length
    }
    return this.#batches.add(pieces, bytes, pieces.length / 2)
  }

  /** Resolves once everything given so far is durable; rejects if a write failed. */
  async flush (): Promise<void> {
    await this.#batches.flush()
  }

  /** Writes everything pending, closes the file and resolves with the summary for session.end. Rejects when a
   * write failed (then summaryOnDisk() tells what is there). Calling it again returns the same promise. */
  finish (): Promise<RecordingSummary> {
    this.#finishing ??= (async () => {
      try {
        await this.flush()
        return this.summary()
      } finally {
        this.#closeFile()
        this.#storage.settled(this)
      }
    })()
    return this.#finishing
  }

  /** Stops taking frames (the store is closing): what is pending is written first. Later frames fail the sink. */
  async close (): Promise<void> {
    try {
      await this.flush()
    } catch {}
    if (this.#batches.failure === null) {
      const closed = new AuditError('PORTCULLIS_AUDIT_CLOSED')
      this.#batches.fail(closed)
      this.#storage.settled(this)
      if (this.listenerCount('error') > 0) this.emit('error', closed)
    }
    this.#closeFile()
  }

  /** Deletes the open-session marker; call it once session.end is durable. */
  release (): Promise<void> {
    this.#released ??= (async () => {
      this.#batches.stopTimer()
      this.#storage.settled(this)
      await this.#storage.release(this.sessionId)
    })()
    return this.#released
  }

  /** The durable part of the recording, while no write has failed. */
  summary (): RecordingSummary {
    return { format: RECORDING_FORMAT, frames: this.#frames, bytes: this.#bytes, sha256: this.#hash.copy().digest('hex') }
  }

  /** The summary of what the file holds now, read back from the disk (after a failed write, part of it may be there). */
  async summaryOnDisk (): Promise<RecordingSummary> {
    return (await scanRecordingFile(this.path)).summary
  }

  get failure (): Error | null {
    return this.#batches.failure
  }

  async #write (batch: Buffer, frames: number): Promise<void> {
    const fd = this.#fd
    if (fd === null) throw new AuditError('PORTCULLIS_AUDIT_CLOSED')
    await writeAll(fd, batch)
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => err === null ? resolve() : reject(err)))
    this.#frames += frames
    this.#bytes += batch.length
  }

  #closeFile (): void {
    if (this.#fd === null || this.#batches.writing) return
    const fd = this.#fd
    this.#fd = null
    try { fs.closeSync(fd) } catch {}
  }
}

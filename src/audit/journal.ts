// The audit journal: where a record becomes durable before its call is answered. LevelDB's synced batch (the
// record, its index entries and the head) costs an fsync of a growing log; one append written with O_DSYNC into
// blocks that were written once already costs a fraction of that. LevelDB still gets every record and index entry,
// written without sync; at open, journal-replay.ts puts back what LevelDB lost of the journal's records (a host
// crash can cut an unsynced log).
//
// The file has two halves used in turn. A half starts with a header naming its generation; frames follow, one per
// batch, each `u32 length, u32 CRC-32 of the payload seeded with the generation, payload` (the batch's stored
// record texts joined by '\n'). The seed makes frames left from a half's previous use fail their check, so reading
// stops where the current use ends. A half is written over only after LevelDB made everything in it durable: when
// writing leaves a half, a flush of LevelDB's memtable starts (see `MakeDurable`), and the next switch waits for it.

import { constants, type FileHandle, open } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { crc32 } from 'node:zlib'
import { AuditError, messageOf } from './errors.js'

const JOURNAL_FILE = 'journal'
/** Each half holds about 12,000 records of 700 bytes: the longest stretch LevelDB's unsynced writes may cover. */
export const DEFAULT_HALF_BYTES = 8 * 1024 * 1024
const MAGIC = 0x504a4e31 // 'PJN1'
const HEADER_BYTES = 16
const FRAME_HEADER_BYTES = 8
/** Zeros written at a time when the file is made. */
const ZERO_CHUNK = 1024 * 1024

/** Makes every record LevelDB was given so far durable in LevelDB itself. */
export type MakeDurable = () => Promise<void>

export interface JournalContents {
  /** The stored texts of the records in the journal, oldest first (both halves, the older generation first). */
  texts: string[]
  /** The generation of the newest half; the next one written is one more. */
  generation: number
}

interface Header {
  generation: number
}

export class AuditJournal {
  readonly path: string
  readonly #file: FileHandle
  readonly #halfBytes: number
  #makeDurable: MakeDurable
  #half = 0
  #generation: number
  /** Where the next frame goes, from the start of the file. */
  #offset = 0
  /** LevelDB making the half written before the current one durable: the next switch writes over that half. */
  #otherHalfDurable: Promise<void> = Promise.resolve()
  /** Set by a failed write: the journal takes nothing more until restart(). */
  #broken: AuditError | null = null

  private constructor (path: string, file: FileHandle, halfBytes: number, generation: number, makeDurable: MakeDurable) {
    this.path = path
    this.#file = file
    this.#halfBytes = halfBytes
    this.#generation = generation
    this.#makeDurable = makeDurable
  }

  /**
   * Reads the journal in `dir` (made, zero-filled, when missing) and answers what it holds. Call `begin` once those
   * records are durable in LevelDB (a checked flush, not only a synced write): from then on the journal is written over.
   */
  static async read (dir: string, halfBytes = DEFAULT_HALF_BYTES): Promise<{ contents: JournalContents, begin: (makeDurable: MakeDurable) => Promise<AuditJournal> }> {
    const path = join(dir, JOURNAL_FILE)
    let file: FileHandle
    try {
      // O_DSYNC: a write returns once its bytes are on disk, in one call instead of write then fdatasync.
      // O_NOFOLLOW and O_NONBLOCK: a link planted in its place is not followed, and a FIFO does not hang the start.
      file = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600)
    } catch (err) {
      throw journalError(path, err)
    }
    try {
      const stat = await file.stat()
      if (!stat.isFile()) throw new Error('it is not a regular file')
      if (stat.uid !== process.getuid?.()) throw new Error(`it belongs to uid ${stat.uid}, not to the user portcullis runs as`)
      if (stat.size < 2 * halfBytes) await zeroFill(file, stat.size, 2 * halfBytes)
      const halves = [await readHalf(file, 0, halfBytes), await readHalf(file, halfBytes, halfBytes)]
      const contents = contentsOf(halves)
      return {
        contents,
        begin: async (makeDurable) => {
          const journal = new AuditJournal(path, file, halfBytes, contents.generation, makeDurable)
          // Start in the half that holds the older generation (or none); the caller made both durable in LevelDB.
          const newest = halves.findIndex((half) => half !== null && half.generation === contents.generation)
          await journal.#begin(newest === 0 ? 1 : 0)
          return journal
        }
      }
    } catch (err) {
      await file.close().catch(() => {})
      throw journalError(path, err)
    }
  }

  /** What the journal holds now, read back from the disk. */
  async contents (): Promise<string[]> {
    try {
      return contentsOf([await readHalf(this.#file, 0, this.#halfBytes), await readHalf(this.#file, this.#halfBytes, this.#halfBytes)]).texts
    } catch (err) {
      throw journalError(this.path, err)
    }
  }

  /**
   * After the database was opened again (a failed write), with the journal's records put back in a synced write:
   * LevelDB's open wrote every log it found into synced tables, so all of it is durable there. Begins a fresh half
   * with the new database's `makeDurable`, so that nothing a failed write left in the journal (a torn frame, a
   * header half written, a frame that could not be taken back) stands before the next record.
   */
  async restart (makeDurable: MakeDurable): Promise<void> {
    this.#makeDurable = makeDurable
    this.#otherHalfDurable = Promise.resolve()
    await this.#begin(1 - this.#half)
    this.#broken = null
  }

  /** Whether a batch of `bytes` payload bytes can go into the journal at all (a half holds it). */
  fits (bytes: number): boolean {
    return HEADER_BYTES + FRAME_HEADER_BYTES + bytes <= this.#halfBytes
  }

  /** Appends one batch; resolves once it is on disk, with where it was written (for retract()). The payload must
   * fit (see fits()). After any failed write the journal refuses appends until restart(). */
  async append (payload: Buffer): Promise<number> {
    if (this.#broken !== null) throw this.#broken
    const end = (this.#half + 1) * this.#halfBytes
    if (this.#offset + FRAME_HEADER_BYTES + payload.length > end) await this.#switchHalf()
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
    frame.writeUInt32LE(payload.length, 0)
    frame.writeUInt32LE(crc32(payload, this.#generation), 4)
    payload.copy(frame, FRAME_HEADER_BYTES)
    const at = this.#offset
    await this.#write(frame, at)
    this.#offset = at + frame.length
    return at
  }

  /** Takes back the last batch appended, written at `at`: reading stops before it, and the next batch goes there. */
  async retract (at: number): Promise<void> {
    await this.#write(Buffer.alloc(FRAME_HEADER_BYTES), at)
    this.#offset = at
  }

  async close (): Promise<void> {
    await this.#otherHalfDurable.catch(() => {})
    await this.#file.close()
  }

  /** Leaves the current half: LevelDB starts making it durable, and writing goes on in the other half once
   * LevelDB made *that* one durable (it started doing so a whole half ago). */
  async #switchHalf (): Promise<void> {
    const leaving = this.#makeDurable()
    // A flush that fails is seen at the next switch; until then nothing is written over.
    leaving.catch(() => {})
    try {
      await this.#otherHalfDurable
    } catch (err) {
      throw this.#fail(err)
    }
    this.#otherHalfDurable = leaving
    await this.#begin(1 - this.#half)
  }

  /** Writes a new header at the start of `half`; the journal moves there only once it is on disk. */
  async #begin (half: number): Promise<void> {
    const generation = (this.#generation + 1) >>> 0
    const header = Buffer.alloc(HEADER_BYTES)
    header.writeUInt32LE(MAGIC, 0)
    header.writeUInt32LE(generation, 4)
    header.writeUInt32LE(crc32(header.subarray(0, 8)), 8)
    const start = half * this.#halfBytes
    await this.#write(header, start)
    this.#generation = generation
    this.#half = half
    this.#offset = start + HEADER_BYTES
  }

  /** One positioned write, all of it or a failure: a short write is as torn as a failed one. */
  async #write (bytes: Buffer, at: number): Promise<void> {
    let written: number
    try {
      written = (await this.#file.write(bytes, 0, bytes.length, at)).bytesWritten
    } catch (err) {
      throw this.#fail(err)
    }
    if (written !== bytes.length) throw this.#fail(new Error(`only ${written} of ${bytes.length} bytes were written`))
  }

  /** What a failed write leaves is unknown (a torn frame or header): nothing more is appended until restart(). */
  #fail (err: unknown): AuditError {
    this.#broken = journalError(this.path, err)
    return this.#broken
  }
}

function contentsOf (halves: Array<(Header & { texts: string[] }) | null>): JournalContents {
  const ordered = halves.filter((half) => half !== null).sort((a, b) => a.generation - b.generation)
  return { texts: ordered.flatMap((half) => half.texts), generation: ordered.at(-1)?.generation ?? 0 }
}

/** The header and the frames of one half, or null when it has no valid header (never used, or torn). */
async function readHalf (file: FileHandle, start: number, halfBytes: number): Promise<(Header & { texts: string[] }) | null> {
  const data = Buffer.alloc(halfBytes)
  await file.read(data, 0, halfBytes, start)
  if (data.readUInt32LE(0) !== MAGIC || data.readUInt32LE(8) !== crc32(data.subarray(0, 8))) return null
  const generation = data.readUInt32LE(4)
  const texts: string[] = []
  let at = HEADER_BYTES
  while (at + FRAME_HEADER_BYTES <= halfBytes) {
    const length = data.readUInt32LE(at)
    if (length === 0 || at + FRAME_HEADER_BYTES + length > halfBytes) break
    const payload = data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length)
    // A torn frame or one left from this half's previous use: the current use ends here.
    if (data.readUInt32LE(at + 4) !== crc32(payload, generation)) break
    for (const text of payload.toString('utf8').split('\n')) texts.push(text)
    at += FRAME_HEADER_BYTES + length
  }
  return { generation, texts }
}

/** Writes zeros (not a hole, not fallocate's unwritten extents): later writes then change no block allocation, so
 * O_DSYNC has no metadata to wait for. */
async function zeroFill (file: FileHandle, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(ZERO_CHUNK)
  for (let at = from; at < to;) {
    const { bytesWritten } = await file.write(zeros, 0, Math.min(ZERO_CHUNK, to - at), at)
    if (bytesWritten === 0) throw new Error('the file system took no more bytes while the journal was made')
    at += bytesWritten
  }
}

/** The system errors that are a resource of the host running out, not a fault of the journal. */
const EXHAUSTED: Record<string, string> = { EMFILE: 'file descriptors', ENFILE: 'file descriptors', ENOSPC: 'disk space', EDQUOT: 'disk space' }

function journalError (path: string, err: unknown): AuditError {
  if (err instanceof AuditError) return err
  const exhausted = EXHAUSTED[(err as NodeJS.ErrnoException | null)?.code ?? '']
  if (exhausted !== undefined) return new AuditError('PORTCULLIS_AUDIT_RESOURCES', [dirname(path), `${basename(path)}: ${messageOf(err)}`, exhausted], { cause: err })
  return new AuditError('PORTCULLIS_AUDIT_JOURNAL', [path, messageOf(err)], { cause: err })
}

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
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { AuditError, messageOf } from './errors.js'

export const JOURNAL_FILE = 'journal'
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

  private constructor (path: string, file: FileHandle, halfBytes: number, generation: number, makeDurable: MakeDurable) {
    this.path = path
    this.#file = file
    this.#halfBytes = halfBytes
    this.#generation = generation
    this.#makeDurable = makeDurable
  }

  /**
   * Reads the journal in `dir` (made, zero-filled, when missing) and answers what it holds. Call `begin` once those
   * records are durable in LevelDB (a flush, not only a synced write): from then on the journal is written over.
   */
  static async read (dir: string, halfBytes = DEFAULT_HALF_BYTES): Promise<{ contents: JournalContents, begin: (makeDurable: MakeDurable) => Promise<AuditJournal> }> {
    const path = join(dir, JOURNAL_FILE)
    let file: FileHandle
    try {
      // O_DSYNC: a write returns once its bytes are on disk, in one call instead of write then fdatasync.
      file = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o600)
    } catch (err) {
      throw journalError(path, err)
    }
    try {
      const size = (await file.stat()).size
      if (size < 2 * halfBytes) await zeroFill(file, size, 2 * halfBytes)
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

  /** Starts LevelDB making everything it was given durable, and has the next switch wait for that (after the
   * database was opened again, the flush started with the old one means nothing). */
  restart (makeDurable: MakeDurable): void {
    this.#makeDurable = makeDurable
    this.#otherHalfDurable = makeDurable()
    this.#otherHalfDurable.catch(() => {})
  }

  /** Whether a batch of `bytes` payload bytes can go into the journal at all (a half holds it). */
  fits (bytes: number): boolean {
    return HEADER_BYTES + FRAME_HEADER_BYTES + bytes <= this.#halfBytes
  }

  /** Appends one batch; resolves once it is on disk, with where it was written (for retract()). The payload must
   * fit (see fits()). */
  async append (payload: Buffer): Promise<number> {
    const end = (this.#half + 1) * this.#halfBytes
    if (this.#offset + FRAME_HEADER_BYTES + payload.length > end) await this.#switchHalf()
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
    frame.writeUInt32LE(payload.length, 0)
    frame.writeUInt32LE(crc32(payload, this.#generation), 4)
    payload.copy(frame, FRAME_HEADER_BYTES)
    const at = this.#offset
    this.#offset += frame.length
    try {
      await this.#file.write(frame, 0, frame.length, at)
    } catch (err) {
      // A frame half written would end the reading there: the next batch is written over it.
      this.#offset = at
      throw journalError(this.path, err)
    }
    return at
  }

  /** Takes back the last batch appended, written at `at`: reading stops before it, and the next batch goes there. */
  async retract (at: number): Promise<void> {
    await this.#file.write(Buffer.alloc(FRAME_HEADER_BYTES), 0, FRAME_HEADER_BYTES, at)
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
    await this.#otherHalfDurable
    this.#otherHalfDurable = leaving
    await this.#begin(1 - this.#half)
  }

  async #begin (half: number): Promise<void> {
    this.#generation = (this.#generation + 1) >>> 0
    this.#half = half
    const header = Buffer.alloc(HEADER_BYTES)
    header.writeUInt32LE(MAGIC, 0)
    header.writeUInt32LE(this.#generation, 4)
    header.writeUInt32LE(crc32(header.subarray(0, 8)), 8)
    const start = half * this.#halfBytes
    await this.#file.write(header, 0, HEADER_BYTES, start)
    this.#offset = start + HEADER_BYTES
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

async function zeroFill (file: FileHandle, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(ZERO_CHUNK)
  for (let at = from; at < to; at += ZERO_CHUNK) await file.write(zeros, 0, Math.min(ZERO_CHUNK, to - at), at)
}

function journalError (path: string, err: unknown): AuditError {
  if (err instanceof AuditError) return err
  return new AuditError('PORTCULLIS_AUDIT_JOURNAL', [path, messageOf(err)], { cause: err })
}

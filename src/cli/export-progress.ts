// Progress for long exports: one line on stderr, `exported N records (R/s)`, rewritten at most four times a second
// and cleared at the end. Only on a terminal: a redirected stderr stays free of it.

import type { ExportFormat } from '../audit/export.js'

const REDRAW_MS = 250

/** What progress needs of a stream (process.stderr, or a fake in tests). */
export interface ProgressStream {
  isTTY?: boolean
  write: (text: string) => unknown
}

export class ExportProgress {
  readonly enabled: boolean
  readonly #stream: ProgressStream
  readonly #now: () => number
  readonly #started: number
  #drawnAt = -Infinity
  #drawn = false

  constructor (stream: ProgressStream = process.stderr, now: () => number = () => performance.now()) {
    this.#stream = stream
    this.#now = now
    this.enabled = stream.isTTY === true
    this.#started = now()
  }

  /** The records written so far; redraws the line when the last redraw is old enough. */
  update (records: number): void {
    if (!this.enabled) return
    const now = this.#now()
    if (now - this.#drawnAt < REDRAW_MS) return
    this.#drawnAt = now
    const seconds = (now - this.#started) / 1000
    const rate = seconds > 0 ? Math.round(records / seconds) : 0
    this.#stream.write(`\r\x1b[Kexported ${records} records (${rate}/s)`)
    this.#drawn = true
  }

  /** Clears the line, if one was drawn. */
  finish (): void {
    if (this.#drawn) this.#stream.write('\r\x1b[K')
    this.#drawn = false
  }
}

/**
 * Counts the records in an export as its bytes stream past (the daemon sends bytes, not records): JSON lines end
 * at each newline; a CSV row ends at a newline outside quotes (a quoted cell may hold line breaks), and the first
 * row is the header.
 */
export class ExportRecordCounter {
  readonly #csv: boolean
  #rows = 0
  #quoted = false

  constructor (format: ExportFormat) {
    this.#csv = format === 'csv'
  }

  get records (): number {
    return this.#csv ? Math.max(0, this.#rows - 1) : this.#rows
  }

  add (chunk: Uint8Array): number {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (!this.#csv) {
      for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) this.#rows++
      return this.records
    }
    let at = 0
    let quote = bytes.indexOf(QUOTE)
    while (at < bytes.length) {
      if (quote !== -1 && quote < at) quote = bytes.indexOf(QUOTE, at)
      if (this.#quoted) {
        if (quote === -1) break
        this.#quoted = false
        at = quote + 1
        continue
      }
      const newline = bytes.indexOf(NEWLINE, at)
      if (newline !== -1 && (quote === -1 || newline < quote)) {
        this.#rows++
        at = newline + 1
      } else if (quote !== -1) {
        this.#quoted = true
        at = quote + 1
      } else {
        break
      }
    }
    return this.records
  }
}

const NEWLINE = 0x0a
const QUOTE = 0x22

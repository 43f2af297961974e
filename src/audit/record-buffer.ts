// The records a chain reader (the fleet shipper, a SIEM output) was handed as they became durable and has not
// taken yet, in seq order, so that it reads the store only for a backlog. Bounded: past its cap it is emptied, and
// what was dropped is read back from the store.

import type { StoredRecord } from './query.js'

export class RecordBuffer {
  #rows: StoredRecord[] = []
  /** Index of the first row not yet taken (the array is compacted now and then, not per take). */
  #start = 0
  readonly #cap: number

  constructor (cap: number) {
    this.#cap = cap
  }

  /** On the hot path, once per durable record. */
  push (row: StoredRecord): void {
    if (this.#rows.length - this.#start >= this.#cap) {
      this.#rows = []
      this.#start = 0
    }
    this.#rows.push(row)
  }

  /** The buffered run of rows `fromSeq`, `fromSeq + 1`, … up to `toSeq`, when the buffer holds `fromSeq`; else
   * `readFrom`: the seq the buffer takes over at (Infinity: it holds nothing after `fromSeq`), so the caller reads
   * the store up to the one before. */
  take (fromSeq: number, toSeq: number): { rows: StoredRecord[] } | { readFrom: number } {
    let start = this.#start
    while (start < this.#rows.length && this.#rows[start]!.record.seq < fromSeq) start++
    this.#start = start
    if (start > 1_024 && start * 2 > this.#rows.length) {
      this.#rows = this.#rows.slice(start)
      this.#start = start = 0
    }
    const rows = this.#rows
    if (start < rows.length && rows[start]!.record.seq === fromSeq) {
      // Only a run without a hole: a record the store holds but did not hand over (none should) is read back.
      const run: StoredRecord[] = []
      for (let i = start, seq = fromSeq; i < rows.length && seq <= toSeq && rows[i]!.record.seq === seq; i++, seq++) run.push(rows[i]!)
      return { rows: run }
    }
    return { readFrom: start < rows.length ? rows[start]!.record.seq : Infinity }
  }

  clear (): void {
    this.#rows = []
    this.#start = 0
  }
}

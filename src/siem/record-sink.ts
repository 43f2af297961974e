// What a record output (record-output.ts) writes to: the sealed files or a syslog stream. A sink knows what it
// has durably written; the output feeds it the chain from there, in seq order.

import type { StoredRecord } from '../audit/query.js'

/** The last record a sink holds: its seq (0: none) and hash (null when the sink cannot tell). */
export interface SinkPosition {
  seq: number
  hash: string | null
}

export interface RecordSink {
  /** The output's name in status, records and its delivered mark (`files`, `syslog`). */
  readonly name: string
  /** Opens the sink (after a crash, recovers it) and says what it holds. `delivered`: the output's mark, for a sink
   * whose reader may have removed what it read. */
  open: (delivered: number | null) => Promise<SinkPosition>
  /** Writes the rows, in seq order, continuing its position (a row that does not follow one written is a gap the
   * output has recorded: the sink starts a new unit there). */
  write: (rows: readonly StoredRecord[]) => Promise<void>
  /** Called about once a second and after every write: hands over what is due by age. */
  tick: (now: number) => Promise<void>
  /** The last seq its reader can take, durably: what retention may count on and the delivered mark holds. */
  readonly deliveredSeq: number
  /** Forgets what is in flight after a failed write; open() is called again before the next one. */
  abandon: () => Promise<void>
  /** Ends at once a write that waits on its receiver (shutdown), for a sink whose writes can wait without end. */
  interrupt?: () => void
  /** Hands over what is left (shutdown). */
  close: () => Promise<void>
  status: () => object
}

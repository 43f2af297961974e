// Feeds a SIEM sink (record-sink.ts) the audit chain, record by record in seq order, each as the store holds it, so
// the SIEM's copy is the chain itself and can be checked against it. Like the fleet shipper it takes each record as
// it becomes durable (the store hands it over) and reads the store only for a backlog: at start, after a failed
// write, or when it fell behind and dropped its bounded buffer. Its cursor is what the sink holds (a restart
// resumes at the record after it, with no gap and no duplicate); the delivered mark it keeps in the store follows
// the sink and holds retention back. Decisions never wait on it.

import type { Logger } from 'pino'
import type { StoredRecord } from '../audit/query.js'
import { IDLE_MS, LINGER_MS, ReaderPause, RETRY_MAX_MS, RETRY_MIN_MS } from '../audit/reader-pause.js'
import { RecordBuffer } from '../audit/record-buffer.js'
import type { AuditInput } from '../audit/record.js'
import type { OutputSource } from '../audit/ship-source.js'
import { hasPortcullisCode } from '../errors.js'
import type { RecordSink, SinkPosition } from './record-sink.js'

export type OutputState = 'starting' | 'writing' | 'failing' | 'halted' | 'stopped'

export interface OutputStatus {
  name: string
  state: OutputState
  /** The last record written to the sink (perhaps not yet handed over, e.g. in the open file). */
  writtenSeq: number
  /** The last record the sink handed over durably (e.g. sealed): what the SIEM's agent can read. */
  deliveredSeq: number
  headSeq: number
  /** Records durable in the store and not yet written to the sink. */
  lag: number
  lastError: { code: string, message: string, at: string } | null
  /** Why the output stopped for good (until an operator acts), when state is halted. */
  halted: { detail: string, at: string } | null
  /** Ranges the store no longer held when the output reached them (removed by a forced expiry). */
  gaps: Array<{ fromSeq: number, toSeq: number }>
  sink: object
}

export interface RecordOutputOptions {
  sink: RecordSink
  source: OutputSource
  logger: Logger
  batchSize?: number
  /** Records kept in memory as they become durable; beyond it they are dropped and read back from the store. */
  bufferRecords?: number
}

export class RecordOutput {
  readonly #sink: RecordSink
  readonly #source: OutputSource
  readonly #logger: Logger
  readonly #batchSize: number
  readonly #buffer: RecordBuffer
  #state: OutputState = 'starting'
  #opened = false
  #written: SinkPosition = { seq: 0, hash: null }
  #markedSeq = 0
  #lastError: OutputStatus['lastError'] = null
  #halted: OutputStatus['halted'] = null
  readonly #gaps: OutputStatus['gaps'] = []
  #failingSince: number | null = null
  readonly #pause = new ReaderPause()
  #loop: Promise<void> | null = null
  #unsubscribe: (() => void) | null = null

  constructor (options: RecordOutputOptions) {
    this.#sink = options.sink
    this.#source = options.source
    this.#logger = options.logger
    this.#batchSize = options.batchSize ?? 1_000
    this.#buffer = new RecordBuffer(options.bufferRecords ?? 5 * this.#batchSize)
  }

  get name (): string {
    return this.#sink.name
  }

  /** Opens the sink (a directory that cannot be used fails the start: a configuration error, said at once) and
   * starts writing. */
  async start (): Promise<void> {
    // Subscribed before the sink is opened and the store read, so no record falls between the two.
    this.#unsubscribe = this.#source.subscribe((row) => {
      this.#buffer.push(row)
      this.#pause.wake()
    })
    await this.#holdFromTheStart()
    try {
      await this.#open()
    } catch (err) {
      this.#unsubscribe()
      await this.#sink.abandon()
      throw err
    }
    this.#loop = this.#run()
  }

  status (): OutputStatus {
    const head = this.#source.head()
    return {
      name: this.#sink.name,
      state: this.#state,
      writtenSeq: this.#written.seq,
      deliveredSeq: this.#sink.deliveredSeq,
      headSeq: head.seq,
      lag: Math.max(0, head.seq - this.#written.seq),
      lastError: this.#lastError,
      halted: this.#halted,
      gaps: [...this.#gaps],
      sink: this.#sink.status()
    }
  }

  /** Writes what is left (for up to `drainMs`: the stop record too), hands it over (seals) and stops. */
  async stop (drainMs = 3_000): Promise<void> {
    this.#unsubscribe?.()
    const deadline = Date.now() + drainMs
    while (this.#opened && this.#halted === null && this.#source.head().seq > this.#written.seq && Date.now() < deadline) {
      this.#pause.wake()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.#pause.stop()
    this.#sink.interrupt?.()
    await this.#loop
    try {
      if (this.#opened) await this.#sink.close()
      // Also after a failed write: what the sink delivered before it (a RELP receiver acknowledged) stays delivered.
      await this.#noteDelivered()
    } catch (err) {
      this.#logger.error({ err, output: this.name }, 'SIEM output: could not hand over the last records at shutdown; the next start writes them again from the store')
    }
    this.#buffer.clear()
    this.#state = 'stopped'
  }

  async #run (): Promise<void> {
    let retryMs = RETRY_MIN_MS
    while (!this.#pause.stopping) {
      try {
        if (!this.#opened) await this.#open()
        if (this.#halted !== null) {
          await this.#pause.sleep(IDLE_MS)
          continue
        }
        const written = await this.#writeBatch()
        await this.#sink.tick(Date.now())
        await this.#noteDelivered()
        await this.#recovered()
        retryMs = RETRY_MIN_MS
        if (written < this.#batchSize) {
          if (written === 0) await this.#pause.sleep(IDLE_MS)
          if (!this.#pause.stopping) await this.#pause.sleep(LINGER_MS, false)
        }
      } catch (err) {
        // A write the stop interrupted is not a failure of the output.
        if (!this.#pause.stopping) await this.#failed(err)
        // What the sink delivered before the failure (e.g. acknowledged over RELP) is noted, so a restart does not send it again.
        await this.#noteDelivered().catch((e: unknown) => this.#logger.warn({ err: e, output: this.name }, 'SIEM output: could not note its delivered mark; a restart may send those records again'))
        await this.#sink.abandon()
        this.#opened = false
        await this.#pause.sleep(retryMs, false)
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2)
      }
    }
  }

  /** Opens the sink and takes its position as the cursor; a sink ahead of the store, or holding another record at
   * its last seq than the store does, halts the output: writing on would fork the SIEM's copy. */
  async #open (): Promise<void> {
    const delivered = await this.#source.delivered(this.name)
    const position = await this.#sink.open(delivered)
    this.#opened = true
    this.#written = position
    this.#markedSeq = delivered ?? 0
    if (this.#state === 'starting') this.#state = 'writing'
    const head = this.#source.head()
    if (position.seq > head.seq) {
      await this.#halt(`the output holds records up to ${position.seq}, the store only up to ${head.seq}: the store was restored from an older copy or replaced`)
      return
    }
    if (position.seq > 0 && position.hash !== null) {
      const stored = (await this.#read(position.seq, position.seq))[0]
      if (stored !== undefined && stored.record.hash !== position.hash) {
        await this.#halt(`record ${position.seq} in the output (hash ${position.hash.slice(0, 12)}…) is not record ${position.seq} in the store (${stored.record.hash.slice(0, 12)}…): the store was rewritten`)
        return
      }
    }
    await this.#noteDelivered()
    this.#logger.info({ output: this.name, writtenSeq: position.seq, deliveredSeq: this.#sink.deliveredSeq }, 'SIEM output: writing from the record after what it holds')
  }

  async #writeBatch (): Promise<number> {
    const head = this.#source.head()
    if (head.seq <= this.#written.seq) return 0
    const fromSeq = this.#written.seq + 1
    const rows = await this.#nextRows(fromSeq, Math.min(head.seq, this.#written.seq + this.#batchSize))
    if (rows[0]?.record.seq !== fromSeq) {
      // The store no longer holds the next record: removed before the output took it (a forced expiry), or this is
      // the first start and the store's oldest records expired long ago.
      const first = rows[0]?.record.seq ?? (await this.#firstHeldFrom(fromSeq, head.seq))
      if (first === null) return 0
      if (this.#written.seq > 0) await this.#gap(fromSeq, first - 1)
      this.#written = { seq: first - 1, hash: null }
      return await this.#writeBatch()
    }
    let prevHash = this.#written.hash
    for (const { record, text } of rows) {
      if (prevHash !== null && record.prevHash !== prevHash) {
        await this.#halt(`record ${record.seq} in the store does not link to record ${record.seq - 1} as the output holds it: the store was rewritten`)
        return 0
      }
      if (text.includes('\n')) {
        await this.#halt(`record ${record.seq} is stored with a line break in it (the store was edited by hand); it cannot be one JSON line`)
        return 0
      }
      prevHash = record.hash
    }
    await this.#sink.write(rows)
    const last = rows[rows.length - 1]!.record
    this.#written = { seq: last.seq, hash: last.hash }
    return rows.length
  }

  async #nextRows (fromSeq: number, toSeq: number): Promise<StoredRecord[]> {
    const taken = this.#buffer.take(fromSeq, toSeq)
    if ('rows' in taken) return taken.rows
    return await this.#read(fromSeq, Math.min(toSeq, Math.max(fromSeq, taken.readFrom - 1)))
  }

  async #read (fromSeq: number, toSeq: number): Promise<StoredRecord[]> {
    const rows: StoredRecord[] = []
    for await (const row of this.#source.queryStored({ fromSeq, toSeq })) rows.push(row)
    return rows
  }

  async #firstHeldFrom (fromSeq: number, toSeq: number): Promise<number | null> {
    for await (const row of this.#source.queryStored({ fromSeq, toSeq })) return row.record.seq
    return null
  }

  /** A new output holds every record from its first start on, before its sink ever opens: retention counts only
   * outputs with a mark, and one whose receiver never took a record would otherwise let the records it owes go. */
  async #holdFromTheStart (): Promise<void> {
    try {
      if (await this.#source.delivered(this.name) === null) await this.#source.markDelivered(this.name, 0)
    } catch (err) {
      this.#logger.error({ err, output: this.name }, 'SIEM output: could not note its start in the store; retention may remove records it has not written')
    }
  }

  /** Notes in the store (synced) how far the sink has handed over, so retention keeps every later record. */
  async #noteDelivered (): Promise<void> {
    const delivered = this.#sink.deliveredSeq
    if (delivered <= this.#markedSeq) return
    await this.#source.markDelivered(this.name, delivered)
    this.#markedSeq = delivered
  }

  async #gap (fromSeq: number, toSeq: number): Promise<void> {
    this.#gaps.push({ fromSeq, toSeq })
    if (this.#gaps.length > 100) this.#gaps.shift()
    this.#logger.error({ output: this.name, fromSeq, toSeq }, 'SIEM output: records were removed from the store before the output took them; it goes on after them')
    await this.#record({ kind: 'system', action: 'output.gap', reason: `the ${this.name} output could not take records ${fromSeq} to ${toSeq}: they were removed from the store before it did (a forced expiry); it goes on from record ${toSeq + 1}`, fields: { output: this.name, fromSeq, toSeq } })
  }

  async #halt (detail: string): Promise<void> {
    this.#halted = { detail, at: new Date().toISOString() }
    this.#state = 'halted'
    this.#logger.error({ output: this.name, detail }, 'SIEM output: integrity alarm; the output stopped until an operator acts')
    await this.#record({ kind: 'system', action: 'output.alarm', reason: `the ${this.name} output stopped: ${detail}`, code: 'PORTCULLIS_OUTPUT_ALARM', fields: { output: this.name } })
  }

  async #failed (err: unknown): Promise<void> {
    const code = hasPortcullisCode(err) ? err.code : ((err as { code?: unknown }).code !== undefined ? String((err as { code?: unknown }).code) : 'ERROR')
    const message = err instanceof Error ? err.message : String(err)
    this.#lastError = { code, message, at: new Date().toISOString() }
    if (this.#halted === null) this.#state = 'failing'
    if (this.#failingSince !== null) return
    this.#failingSince = Date.now()
    this.#logger.error({ err, output: this.name }, 'SIEM output: cannot write; the records wait in the store and are written once it can')
    await this.#record({ kind: 'system', action: 'output.failed', reason: `the ${this.name} output cannot write: ${message}; records wait in the store`, ...(hasPortcullisCode(err) ? { code: err.code } : {}), fields: { output: this.name, writtenSeq: this.#written.seq, error: code } })
  }

  async #recovered (): Promise<void> {
    if (this.#failingSince === null) return
    const seconds = Math.round((Date.now() - this.#failingSince) / 1000)
    this.#failingSince = null
    this.#lastError = null
    this.#state = 'writing'
    this.#logger.info({ output: this.name, seconds }, 'SIEM output: writing again')
    await this.#record({ kind: 'system', action: 'output.recovered', reason: `the ${this.name} output writes again after ${seconds} s, from where it holds the chain`, fields: { output: this.name, writtenSeq: this.#written.seq, downSeconds: seconds } })
  }

  async #record (input: AuditInput): Promise<void> {
    await this.#source.append(input).catch((err: unknown) => {
      if (!hasPortcullisCode(err) || err.code !== 'PORTCULLIS_AUDIT_CLOSED') this.#logger.error({ err, action: input.action }, 'SIEM output: could not record an output event')
    })
  }
}

// The syslog output over RELP (`outputs.syslog.address: relp:HOST:PORT`): the same RFC 5424 message per record as
// syslog-sink.ts, each sent as a RELP `syslog` command (relp-session.ts), up to WINDOW of them waiting for their
// answer, across the output's batches. Delivered means acknowledged: the delivered seq (kept in the store, holding
// retention back, where a restart resumes) moves only when the receiver's `rsp 200` for that record arrives, and
// answers come in order, so every record up to it was acknowledged too. What the output has written (its cursor) may
// run up to WINDOW ahead of it. A lost session loses only the unacknowledged: the next write or tick fails, the output
// opens the sink again at the delivered seq and they are sent again (at least once; a SIEM drops copies by the seq
// and hash in the structured data).

import os from 'node:os'
import type { StoredRecord } from '../audit/query.js'
import type { SyslogOutputSettings } from '../policy/outputs.js'
import { parseOutputAddress } from '../policy/syslog-address.js'
import { RelpSession } from './relp-session.js'
import type { RecordSink, SinkPosition } from './record-sink.js'
import { RecordFrames } from './record-frames.js'

/** Commands in flight before the sink waits for answers: librelp's own default window. */
const WINDOW = 128

export interface RelpSinkStatus {
  address: string
  /** What the delivered seq means here. */
  delivery: 'acknowledged by the RELP receiver'
  connected: boolean
  connectedSince: string | null
  disconnectedSince: string | null
  /** The last seq sent on the current or last session (perhaps not acknowledged yet). */
  sentSeq: number
  /** The last seq the receiver acknowledged, with every one before it: the delivered seq. */
  acknowledgedSeq: number
  /** Sent and not yet answered. */
  inFlight: number
  /** Messages sent, and answered 200, by this run (a message sent again counts again). */
  sent: number
  acknowledged: number
  /** Sessions opened by this run. */
  sessions: number
}

class Interrupted extends Error {}

export class RelpRecordSink implements RecordSink {
  readonly name = 'syslog'
  readonly #settings: SyslogOutputSettings
  readonly #host: string
  readonly #port: number
  readonly #frames: RecordFrames
  readonly #firstTxnr: number | undefined
  #session: RelpSession | null = null
  #acknowledgedSeq = 0
  #sentSeq = 0
  #sent = 0
  #acknowledged = 0
  #sessions = 0
  #connectedSince: string | null = null
  #disconnectedSince: string | null = null
  #interrupted = false

  /** `firstTxnr`: where the first session starts numbering (tests of the wrap); later sessions start at 1. */
  constructor (settings: SyslogOutputSettings, testing: { firstTxnr?: number } = {}) {
    this.#firstTxnr = testing.firstTxnr
    const target = parseOutputAddress(settings.address)
    if (target.transport !== 'relp') throw new TypeError(`${settings.address} is not a relp: address`)
    this.#settings = settings
    this.#host = target.host
    this.#port = target.port
    this.#frames = new RecordFrames(settings.facility, settings.hostname ?? os.hostname())
  }

  get deliveredSeq (): number {
    return this.#acknowledgedSeq
  }

  /** Sends from the delivered seq on: what was sent and not acknowledged is sent again. The receiver is reached at
   * the first write, so one that is away does not refuse serve's start. */
  async open (delivered: number | null): Promise<SinkPosition> {
    this.#acknowledgedSeq = Math.max(this.#acknowledgedSeq, delivered ?? 0)
    this.#sentSeq = this.#acknowledgedSeq
    return { seq: this.#acknowledgedSeq, hash: null }
  }

  /** Resolves once every row was sent (not yet acknowledged: the window waits only when WINDOW are unanswered);
   * rejects (the output then reopens at the delivered seq) when the session fails first. */
  async write (rows: readonly StoredRecord[]): Promise<void> {
    let session = this.#live() ?? await this.#connect()
    session.cork()
    try {
      for (const row of rows) {
        if (session.txnrsLeft <= 1) {
          // Its last number, and one for close: every answer, then a new session (at txnr 1).
          session.uncork()
          await session.whenBelow(1)
          await this.#end()?.close()
          session = await this.#connect()
          session.cork()
        }
        if (session.inFlight >= WINDOW) {
          session.uncork()
          await session.whenBelow(WINDOW)
          session.cork()
        }
        session.send(Buffer.from(this.#frames.message(row), 'utf8'), row.record.seq)
        this.#sentSeq = row.record.seq
        this.#sent++
      }
    } finally {
      session.uncork()
    }
  }

  /** A session that failed with records unanswered fails the output now, so they are sent again without waiting
   * for the next record. */
  async tick (): Promise<void> {
    this.#live()
  }

  async abandon (): Promise<void> {
    this.#end()?.fail(new Interrupted('the output abandoned the session'))
  }

  /** Ends a wait for the window or the connection; the session stays for close() to wait for the last answers. */
  interrupt (): void {
    this.#interrupted = true
    this.#session?.interruptWaits(new Interrupted('the output is stopping'))
  }

  async close (): Promise<void> {
    await this.#end()?.close()
  }

  status (): RelpSinkStatus {
    return {
      address: this.#settings.address,
      delivery: 'acknowledged by the RELP receiver',
      connected: this.#session !== null && this.#session.failure === null,
      connectedSince: this.#connectedSince,
      disconnectedSince: this.#disconnectedSince,
      sentSeq: this.#sentSeq,
      acknowledgedSeq: this.#acknowledgedSeq,
      inFlight: this.#session?.inFlight ?? 0,
      sent: this.#sent,
      acknowledged: this.#acknowledged,
      sessions: this.#sessions
    }
  }

  async #connect (): Promise<RelpSession> {
    if (this.#interrupted) throw new Interrupted('the output is stopping')
    const session = new RelpSession({
      host: this.#host,
      port: this.#port,
      address: this.#settings.address,
      ...(this.#sessions === 0 && this.#firstTxnr !== undefined ? { firstTxnr: this.#firstTxnr } : {}),
      onAck: (seq) => {
        this.#acknowledgedSeq = Math.max(this.#acknowledgedSeq, seq)
        this.#acknowledged++
      }
    })
    this.#session = session
    try {
      await session.start()
    } catch (err) {
      this.#end()
      throw err
    }
    this.#sessions++
    this.#connectedSince = new Date().toISOString()
    this.#disconnectedSince = null
    return session
  }

  /** The open session, or null when there is none or it ended with everything answered (the next write opens a new
   * one); throws the failure of one that ended with records unanswered. */
  #live (): RelpSession | null {
    const failure = this.#session?.failure ?? null
    if (failure === null) return this.#session
    this.#end()
    if (this.#sentSeq > this.#acknowledgedSeq) throw failure
    return null
  }

  /** Forgets the session (the caller ends it) and notes when it went. */
  #end (): RelpSession | null {
    const session = this.#session
    this.#session = null
    if (session !== null) this.#disconnectedSince = new Date().toISOString()
    return session
  }
}

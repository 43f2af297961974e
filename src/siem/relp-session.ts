// One RELP client session over TCP (relp.ts has the frames): `open` and its offers, `syslog` commands pipelined up to
// a window, each answer matched to its command, `close`. The receiver must answer in the order the commands were
// sent (librelp's doc/relp.md), so an answer is checked against the oldest command still waiting: another txnr, an
// answer nobody asked for, a bad frame or a silence longer than ANSWER_TIMEOUT_MS ends the session with
// PORTCULLIS_RELP_PROTOCOL; an answer other than 200 with PORTCULLIS_RELP_REFUSED; a `serverclose` or a lost
// connection with PORTCULLIS_OUTPUT. What was still waiting then counts as not delivered: the caller sends it again
// on a new session. A session that failed stays failed.

import net from 'node:net'
import { PortcullisError } from '../errors.js'
import { VERSION } from '../version.js'
import { encodeRelpFrame, nextTxnr, RELP_MAX_TXNR, openOffers, parseOffers, parseRelpAnswer, RelpFrameError, RelpFrameReader, type RelpFrame } from './relp.js'

export interface RelpSessionOptions {
  host: string
  port: number
  /** The address as the policy writes it, for messages. */
  address: string
  /** Called for each command the receiver answered 200, in the order they were sent, with the tag send() got. */
  onAck: (tag: number) => void
  /** How long the receiver may leave commands unanswered before the session is given up. Default ANSWER_TIMEOUT_MS. */
  answerTimeoutMs?: number
  /** The txnr the session's first command (open) takes; 1 unless a test starts near the wrap. */
  firstTxnr?: number
}

/** How long connecting and the answer to `open` may take before the session fails (the output retries with backoff). */
const CONNECT_TIMEOUT_MS = 5_000
/** How long the receiver may leave commands unanswered before the session is given up (librelp's own default). */
const ANSWER_TIMEOUT_MS = 90_000
/** How long close() waits for the answer to `close`. */
const CLOSE_TIMEOUT_MS = 2_000

interface Waiting {
  txnr: number
  command: string
  /** The caller's tag (a record's seq); -1 for the session's own commands. */
  tag: number
  /** For open and close, which the session awaits itself. */
  answered?: (err: Error | null, body: string) => void
}

export class RelpSession {
  readonly #options: RelpSessionOptions
  readonly #socket: net.Socket
  readonly #reader = new RelpFrameReader()
  readonly #waiting: Waiting[] = []
  #txnr = 0
  #failure: Error | null = null
  /** Set by interruptWaits(): whenBelow() rejects with it; the session itself goes on (close() still works). */
  #interruption: Error | null = null
  #opened = false
  #waiters: Array<() => void> = []
  #answerTimer: NodeJS.Timeout | null = null

  /** Connects at once; start() opens the session. fail() ends it at any time, also while it starts. */
  constructor (options: RelpSessionOptions) {
    this.#options = options
    this.#txnr = (options.firstTxnr ?? 1) - 1
    const socket = net.createConnection({ host: options.host, port: options.port })
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => this.#received(chunk))
    socket.on('error', (err) => this.fail(this.#lost(err.message)))
    socket.on('close', () => this.fail(this.#lost('the receiver closed the connection')))
  }

  /** Resolves once the receiver accepted the `open` and offers `syslog`; rejects (and the session is failed) otherwise. */
  async start (): Promise<void> {
    const timer = setTimeout(() => this.fail(this.#lost(`no session within ${CONNECT_TIMEOUT_MS / 1000} s (connected and its open answered)`)), CONNECT_TIMEOUT_MS)
    try {
      await new Promise<void>((resolve, reject) => {
        this.#socket.once('connect', resolve)
        this.#waiters.push(() => { if (this.#failure !== null) reject(this.#failure) })
      })
      this.#socket.setNoDelay(true)
      const offers = parseOffers(await this.#command('open', openOffers('portcullis', VERSION)))
      if (!offers.has('relp_version')) throw this.#protocol('its answer to open has no relp_version offer')
      const commands = offers.get('commands') ?? []
      if (!commands.includes('syslog')) throw new PortcullisError('PORTCULLIS_RELP_REFUSED', this.#options.address, 'the session', `commands=${commands.join(',')} (no syslog)`)
      this.#opened = true
    } catch (err) {
      throw this.fail(err as Error)
    } finally {
      clearTimeout(timer)
    }
  }

  get inFlight (): number {
    return this.#waiting.length
  }

  /** Commands this session can still number before its txnr would wrap: librelp's server and the RELP spec disagree on
   * what follows 999,999,999, so a session ends before it gets there and the next one starts again at 1. */
  get txnrsLeft (): number {
    return RELP_MAX_TXNR - this.#txnr
  }

  get failure (): Error | null {
    return this.#failure
  }

  /** Sends one `syslog` command (its data an RFC 5424 message); onAck(tag) once the receiver answered 200. The caller
   * keeps to its window with whenBelow(). */
  send (message: Buffer, tag: number): void {
    if (this.#failure !== null) throw this.#failure
    this.#txnr = nextTxnr(this.#txnr)
    this.#waiting.push({ txnr: this.#txnr, command: 'syslog', tag })
    this.#socket.write(encodeRelpFrame(this.#txnr, 'syslog', message))
    // The silence is counted from the oldest unanswered command (or the last answer), not from the newest send.
    if (this.#waiting.length === 1) this.#armAnswerTimer()
  }

  cork (): void {
    this.#socket.cork()
  }

  uncork (): void {
    this.#socket.uncork()
  }

  /** Resolves once fewer than `count` commands wait for their answer; rejects when the session fails first, or
   * with the error interruptWaits() got. */
  async whenBelow (count: number): Promise<void> {
    await this.#until(count, true)
  }

  /** Ends every wait in whenBelow() with `err` (the output is stopping); a session not open yet is failed. */
  interruptWaits (err: Error): void {
    if (!this.#opened) {
      this.fail(err)
      return
    }
    this.#interruption = err
    this.#wake()
  }

  /** Sends `close` once every command was answered, waits a little for its answer, and ends the connection. */
  async close (): Promise<void> {
    try {
      if (this.#failure === null) {
        await Promise.race([
          (async () => {
            await this.#until(1, false)
            await this.#command('close', '')
          })(),
          new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())
        ])
      }
    } catch {
      // A receiver that fails the close loses nothing: every record was answered before it, or is sent again.
    }
    this.fail(new PortcullisError('PORTCULLIS_OUTPUT', `the RELP receiver ${this.#options.address}`, 'the session was closed'))
  }

  /** Ends the session with `err` (the first failure wins): every wait rejects, nothing more is sent. Returns it. */
  fail (err: Error): Error {
    if (this.#failure === null) {
      this.#failure = err
      if (this.#answerTimer !== null) clearTimeout(this.#answerTimer)
      this.#socket.destroy()
      for (const waiting of this.#waiting.splice(0)) waiting.answered?.(err, '')
    }
    this.#wake()
    return this.#failure
  }

  async #until (count: number, interruptible: boolean): Promise<void> {
    for (;;) {
      if (this.#failure !== null) throw this.#failure
      if (interruptible && this.#interruption !== null) throw this.#interruption
      if (this.#waiting.length < count) return
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  async #command (command: 'open' | 'close', data: string): Promise<string> {
    if (this.#failure !== null) throw this.#failure
    this.#txnr = nextTxnr(this.#txnr)
    const answer = new Promise<string>((resolve, reject) => {
      this.#waiting.push({ txnr: this.#txnr, command, tag: -1, answered: (err, body) => { if (err === null) resolve(body); else reject(err) } })
    })
    this.#socket.write(encodeRelpFrame(this.#txnr, command, data))
    if (this.#waiting.length === 1) this.#armAnswerTimer()
    return await answer
  }

  #received (chunk: Buffer): void {
    if (this.#failure !== null) return
    let frames: RelpFrame[]
    try {
      frames = this.#reader.push(chunk)
    } catch (err) {
      if (!(err instanceof RelpFrameError)) throw err
      this.fail(this.#protocol(err.message))
      return
    }
    const waiting = this.#waiting.length
    for (const frame of frames) {
      if (this.#failure !== null) return
      this.#answer(frame)
    }
    // Only an answer restarts the silence: hints or a frame trickled byte by byte must not keep a session that
    // answers nothing alive, with records waiting unacknowledged for ever.
    if (this.#waiting.length < waiting) this.#armAnswerTimer()
    this.#wake()
  }

  #answer (frame: RelpFrame): void {
    if (frame.txnr === 0) {
      // Hints: serverclose says the receiver is going; others are not known and are ignored, as the spec asks.
      if (frame.command === 'serverclose') this.fail(this.#lost('the receiver ended the session (serverclose)'))
      return
    }
    const due = this.#waiting[0]
    if (frame.command !== 'rsp') {
      this.fail(this.#protocol(`it sent a ${frame.command} command (txnr ${frame.txnr}); a server only answers`))
      return
    }
    if (due === undefined || frame.txnr !== due.txnr) {
      this.fail(this.#protocol(due === undefined ? `it answered txnr ${frame.txnr}, and no command waits for an answer` : `it answered txnr ${frame.txnr} where txnr ${due.txnr} (${due.command}) was due: answers come in the order of the commands`))
      return
    }
    let answer
    try {
      answer = parseRelpAnswer(frame.data)
    } catch (err) {
      if (!(err instanceof RelpFrameError)) throw err
      this.fail(this.#protocol(err.message))
      return
    }
    if (frame.data.length === 0 && due.command !== 'close') {
      this.fail(this.#protocol(`its answer to txnr ${frame.txnr} (${due.command}) is empty`))
      return
    }
    if (answer.status !== 200) {
      const what = due.command === 'syslog' ? `record ${due.tag}` : `the ${due.command} command`
      this.fail(new PortcullisError('PORTCULLIS_RELP_REFUSED', this.#options.address, what, `${answer.status} ${answer.text}`.trim()))
      return
    }
    this.#waiting.shift()
    if (due.answered !== undefined) due.answered(null, answer.body)
    else this.#options.onAck(due.tag)
  }

  /** While commands wait, the receiver must say something within ANSWER_TIMEOUT_MS. */
  #armAnswerTimer (): void {
    if (this.#answerTimer !== null) clearTimeout(this.#answerTimer)
    this.#answerTimer = null
    if (this.#waiting.length === 0 || this.#failure !== null) return
    const timeoutMs = this.#options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS
    this.#answerTimer = setTimeout(() => this.fail(this.#protocol(`${this.#waiting.length} command(s) had no answer for ${timeoutMs / 1000} s`)), timeoutMs)
    this.#answerTimer.unref()
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  #protocol (detail: string): PortcullisError {
    return new PortcullisError('PORTCULLIS_RELP_PROTOCOL', this.#options.address, detail)
  }

  #lost (detail: string): PortcullisError {
    return new PortcullisError('PORTCULLIS_OUTPUT', `the RELP receiver ${this.#options.address}`, detail)
  }
}

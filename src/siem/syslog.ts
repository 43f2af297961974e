// A syslog client for RFC 5424 messages over a stream: TCP (`tcp:HOST:PORT`) or a unix stream socket
// (`unix:/path`), framed by octet counting (RFC 6587). Built to carry every audit record, not only alerts:
// send() never blocks and never throws; messages wait in a bounded queue while the receiver is away (a new one
// beyond the bound is dropped and counted), and the connection is made again with backoff by itself.
//
// A unix DATAGRAM socket (the classic /dev/log of systemd-journald or rsyslog's imuxsock) cannot be written from
// Node without a native addon: connecting to one fails with EPROTOTYPE. That is reported once, as
// PORTCULLIS_SYSLOG_DATAGRAM_SOCKET, and nothing is sent: point the sink at a stream socket or a TCP listener.

import net from 'node:net'
import type { Logger } from 'pino'
import { PortcullisError } from '../errors.js'
import { frameOctetCounted } from './syslog-format.js'
import { parseSyslogAddress, type SyslogAddress } from '../policy/syslog-address.js'

export interface SyslogClientOptions {
  address: string
  logger: Logger
  /** Messages held while the receiver is away or slow; a new one beyond this is dropped. Default 10,000. */
  maxQueue?: number
  /** The longest wait between attempts to connect (the first is after 100 ms, each next twice as late). Default 30 s. */
  maxBackoffMs?: number
}

export interface SyslogStatus {
  address: string
  connected: boolean
  /** Waiting to be written. */
  queued: number
  /** Handed to the kernel: syslog has no acknowledgement, so this is as far as a sender can know. */
  sent: number
  /** Dropped because the queue was full (or the address can never work). */
  dropped: number
  lastSentAt: string | null
  lastError: string | null
  lastErrorAt: string | null
  /** Connections made after the first one. */
  reconnects: number
}

const DEFAULT_MAX_QUEUE = 10_000
const FIRST_BACKOFF_MS = 100
const DEFAULT_MAX_BACKOFF_MS = 30_000
/** Bytes handed to a socket beyond which writing waits for 'drain', so the queue (with its bound) does the holding. */
const HIGH_WATER_BYTES = 256 * 1024
/** The most bytes of frames joined into one write. */
const WRITE_BYTES = 64 * 1024

export class SyslogClient {
  readonly address: string
  readonly #target: SyslogAddress
  readonly #logger: Logger
  readonly #maxQueue: number
  readonly #maxBackoffMs: number
  readonly #queue: Buffer[] = []
  #socket: net.Socket | null = null
  #connected = false
  #connecting = false
  #backoffMs = FIRST_BACKOFF_MS
  #retryTimer: NodeJS.Timeout | null = null
  #closed = false
  /** The address can never take messages (a datagram socket): nothing more is tried. */
  #unusable = false
  #everConnected = false
  #idleWaiters: Array<() => void> = []
  readonly #status = { sent: 0, dropped: 0, lastSentAt: null as string | null, lastError: null as string | null, lastErrorAt: null as string | null, reconnects: 0 }

  constructor (options: SyslogClientOptions) {
    this.address = options.address
    this.#target = parseSyslogAddress(options.address)
    this.#logger = options.logger
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
    this.#maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS
    this.#connect()
  }

  /** Queues one RFC 5424 message (unframed) and returns at once: false when it was dropped. */
  send (message: string): boolean {
    if (this.#closed || this.#unusable || this.#queue.length >= this.#maxQueue) {
      this.#status.dropped++
      return false
    }
    this.#queue.push(frameOctetCounted(message))
    this.#flush()
    return true
  }

  status (): SyslogStatus {
    return { address: this.address, connected: this.#connected, queued: this.#queue.length, ...this.#status }
  }

  /** Resolves once the queue is empty and the socket has handed everything to the kernel, or after `timeoutMs`: true when it emptied. */
  async drained (timeoutMs: number): Promise<boolean> {
    if (this.#isIdle()) return true
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== done)
        resolve(false)
      }, timeoutMs)
      timer.unref()
      const done = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      this.#idleWaiters.push(done)
    })
  }

  /** Waits up to `timeoutMs` for what is queued to go out, then closes; what is left is counted as dropped. */
  async close (timeoutMs = 2000): Promise<void> {
    if (this.#closed) return
    if (!this.#unusable) await this.drained(timeoutMs)
    this.#closed = true
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#status.dropped += this.#queue.length
    this.#queue.length = 0
    const socket = this.#socket
    this.#socket = null
    if (socket !== null && this.#connected) await new Promise<void>((resolve) => socket.end(() => resolve()))
    socket?.destroy()
  }

  #isIdle (): boolean {
    return this.#queue.length === 0 && (this.#socket === null || this.#socket.writableLength === 0)
  }

  #connect (): void {
    if (this.#closed || this.#unusable || this.#connecting) return
    this.#connecting = true
    const socket = this.#target.transport === 'tcp'
      ? net.createConnection({ host: this.#target.host, port: this.#target.port })
      : net.createConnection({ path: this.#target.path })
    socket.setNoDelay(true)
    socket.on('connect', () => {
      this.#connecting = false
      this.#connected = true
      if (this.#everConnected) this.#status.reconnects++
      this.#everConnected = true
      this.#backoffMs = FIRST_BACKOFF_MS
      this.#logger.info({ address: this.address }, 'syslog: connected')
      this.#flush()
    })
    socket.on('drain', () => this.#flush())
    // Receivers do not talk back; whatever they send is read and discarded so the socket never stalls.
    socket.on('data', () => {})
    socket.on('error', (err: NodeJS.ErrnoException) => this.#noteError(err))
    socket.on('close', () => {
      this.#connecting = false
      this.#connected = false
      if (this.#socket === socket) this.#socket = null
      this.#scheduleReconnect()
    })
    this.#socket = socket
  }

  #noteError (err: NodeJS.ErrnoException): void {
    if (err.code === 'EPROTOTYPE' && this.#target.transport === 'unix') {
      this.#unusable = true
      const coded = new PortcullisError('PORTCULLIS_SYSLOG_DATAGRAM_SOCKET', this.#target.path)
      this.#status.lastError = `${coded.code}: ${coded.message}`
      this.#status.lastErrorAt = new Date().toISOString()
      this.#status.dropped += this.#queue.length
      this.#queue.length = 0
      this.#logger.error({ address: this.address, code: coded.code }, coded.message)
      return
    }
    const repeated = this.#status.lastError === err.message
    this.#status.lastError = err.message
    this.#status.lastErrorAt = new Date().toISOString()
    // One line per new problem, not one per retry while the receiver stays away.
    if (!repeated) this.#logger.warn({ address: this.address, err: err.message, queued: this.#queue.length }, 'syslog: cannot reach the receiver; messages wait in the queue and it is tried again')
  }

  #scheduleReconnect (): void {
    if (this.#closed || this.#unusable || this.#retryTimer !== null) return
    const wait = this.#backoffMs
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#connect()
    }, wait)
    this.#retryTimer.unref()
  }

  #flush (): void {
    const socket = this.#socket
    if (socket === null || !this.#connected) return
    while (this.#queue.length > 0 && socket.writableLength < HIGH_WATER_BYTES) {
      // Frames go out together, up to WRITE_BYTES a write: one system call for many records at a high rate.
      let bytes = 0
      let count = 0
      while (count < this.#queue.length && (count === 0 || bytes + this.#queue[count]!.length <= WRITE_BYTES)) bytes += this.#queue[count++]!.length
      const frames = this.#queue.splice(0, count)
      socket.write(count === 1 ? frames[0]! : Buffer.concat(frames, bytes), (err) => {
        if (err !== undefined && err !== null) {
          this.#status.dropped += count
          return
        }
        this.#status.sent += count
        this.#status.lastSentAt = new Date().toISOString()
        if (this.#isIdle()) this.#wakeIdle()
      })
    }
    if (this.#isIdle()) this.#wakeIdle()
  }

  #wakeIdle (): void {
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const wake of waiters) wake()
  }
}

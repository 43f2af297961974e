// The syslog output: every record as one RFC 5424 message over a stream (TCP or a unix stream socket), framed by
// octet counting. MSG is the record's stored line as it is, so the SIEM can check it against the chain; the
// structured data carries its seq and hash. Syslog has no acknowledgement, so what the sink holds is what it handed
// to the kernel (a write's callback): that is its delivered seq, kept by the output in the store (it cannot be read
// back from the receiver as the sealed files are). A restart resumes after it.
//
// Not the alerts' SyslogClient: that one queues, drops beyond its bound and flushes its queue into the next
// connection by itself, which would reorder or lose records here. This sink keeps no queue (the store is its
// backlog): a lost connection fails the write, and the output writes again from the delivered seq on a new one.

import net from 'node:net'
import os from 'node:os'
import type { StoredRecord } from '../audit/query.js'
import { PortcullisError } from '../errors.js'
import type { SyslogOutputSettings } from '../policy/outputs.js'
import { parseSyslogAddress, type SyslogAddress } from '../policy/syslog-address.js'
import type { RecordSink, SinkPosition } from './record-sink.js'
import { RecordFrames } from './record-frames.js'

export interface SyslogSinkStatus {
  address: string
  /** What the delivered seq means here: syslog has no acknowledgement (relp: addresses have one, relp-sink.ts). */
  delivery: 'handed to the kernel'
  connected: boolean
  /** When the receiver was last reached, or stopped being reachable (null: not yet). */
  connectedSince: string | null
  disconnectedSince: string | null
  /** The last seq handed to the kernel for the receiver. */
  sentSeq: number
  /** Messages handed to the kernel by this run. */
  sent: number
  /** Bytes written and not yet taken by the kernel: grows while the receiver does not read. */
  pendingBytes: number
  connects: number
}

/** How long a write waits to reach the receiver before it fails (the output then retries with backoff). */
const CONNECT_TIMEOUT_MS = 5_000
class Interrupted extends Error {}

export class SyslogRecordSink implements RecordSink {
  readonly name = 'syslog'
  readonly #settings: SyslogOutputSettings
  readonly #target: SyslogAddress
  readonly #frames: RecordFrames
  #socket: net.Socket | null = null
  #deliveredSeq = 0
  #sent = 0
  #connects = 0
  #connectedSince: string | null = null
  #disconnectedSince: string | null = null
  /** Rejects what waits on the socket: set when the output stops. */
  #interrupt: ((err: Error) => void) | null = null
  #interrupted = false

  constructor (settings: SyslogOutputSettings) {
    this.#settings = settings
    this.#target = parseSyslogAddress(settings.address)
    this.#frames = new RecordFrames(settings.facility, settings.hostname ?? os.hostname())
  }

  get deliveredSeq (): number {
    return this.#deliveredSeq
  }

  /** The receiver is reached at the first write, not here: a receiver that is away must not refuse serve's start. */
  async open (delivered: number | null): Promise<SinkPosition> {
    this.#deliveredSeq = Math.max(this.#deliveredSeq, delivered ?? 0)
    return { seq: this.#deliveredSeq, hash: null }
  }

  async write (rows: readonly StoredRecord[]): Promise<void> {
    if (rows.length === 0) return
    const socket = this.#socket ?? await this.#connect()
    const last = rows[rows.length - 1]!.record.seq
    // The batch's frames in one write: its callback runs once the kernel took all of them, and the cursor moves to
    // the batch's last record (a write cut off part way marks none of it: those records are written again).
    const taken = new Promise<void>((resolve) => {
      const more = socket.write(this.#frames.frames(rows), (err) => {
        if (err === undefined || err === null) {
          this.#deliveredSeq = Math.max(this.#deliveredSeq, last)
          this.#sent += rows.length
        }
        resolve()
      })
      // A receiver that does not read holds the output here (the store keeps the records), never a decision.
      if (!more) void this.#until(socket, 'drain').catch(() => {})
    })
    await this.#until(socket, taken)
    if (this.#deliveredSeq < last) throw this.#lost(socket, 'the connection closed before the kernel took every message')
  }

  async tick (): Promise<void> {}

  async abandon (): Promise<void> {
    this.#socket?.destroy()
    this.#socket = null
  }

  interrupt (): void {
    this.#interrupted = true
    this.#interrupt?.(new Interrupted('the output is stopping'))
  }

  async close (): Promise<void> {
    const socket = this.#socket
    this.#socket = null
    if (socket === null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { socket.destroy(); resolve() }, 2_000)
      socket.end(() => { clearTimeout(timer); resolve() })
    })
    socket.destroy()
  }

  status (): SyslogSinkStatus {
    return {
      address: this.#settings.address,
      delivery: 'handed to the kernel',
      connected: this.#socket !== null && !this.#socket.destroyed,
      connectedSince: this.#connectedSince,
      disconnectedSince: this.#disconnectedSince,
      sentSeq: this.#deliveredSeq,
      sent: this.#sent,
      pendingBytes: this.#socket?.writableLength ?? 0,
      connects: this.#connects
    }
  }

  async #connect (): Promise<net.Socket> {
    const socket = this.#target.transport === 'tcp'
      ? net.createConnection({ host: this.#target.host, port: this.#target.port })
      : net.createConnection({ path: this.#target.path })
    // Receivers do not talk back; whatever they send is read and dropped so the socket never stalls.
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.on('close', () => {
      if (this.#socket === socket) {
        this.#socket = null
        this.#disconnectedSince = new Date().toISOString()
      }
    })
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS)
    try {
      await this.#until(socket, 'connect')
    } catch (err) {
      socket.destroy()
      if ((err as NodeJS.ErrnoException).code === 'EPROTOTYPE' && this.#target.transport === 'unix') throw new PortcullisError('PORTCULLIS_SYSLOG_DATAGRAM_SOCKET', this.#target.path)
      throw err instanceof Interrupted || err instanceof PortcullisError ? err : this.#lost(socket, (err as Error).message)
    } finally {
      clearTimeout(timer)
    }
    socket.setNoDelay(true)
    this.#socket = socket
    this.#connects++
    this.#connectedSince = new Date().toISOString()
    this.#disconnectedSince = null
    return socket
  }

  /** Resolves on `event` (or once the promise does); rejects when the socket fails or closes first, or the output stops. */
  async #until (socket: net.Socket, event: 'connect' | 'drain' | Promise<void>): Promise<void> {
    if (this.#interrupted) throw new Interrupted('the output is stopping')
    await new Promise<void>((resolve, reject) => {
      let settled = false
      const done = (err?: Error): void => {
        if (settled) return
        settled = true
        if (typeof event === 'string') socket.off(event, onEvent)
        socket.off('error', onError)
        socket.off('close', onClose)
        this.#interrupt = null
        if (err === undefined) resolve()
        else reject(err)
      }
      const onEvent = (): void => done()
      // A failed connect keeps its own error (its code tells a datagram socket apart).
      const onError = (err: Error): void => done(event === 'connect' ? err : this.#lost(socket, err.message))
      const onClose = (): void => done(this.#lost(socket, 'the receiver closed the connection'))
      // A socket already closed says so by no event.
      if (socket.destroyed && event !== 'connect') {
        done(this.#lost(socket, 'the connection is closed'))
        return
      }
      if (typeof event === 'string') socket.on(event, onEvent)
      else void event.then(onEvent)
      socket.on('error', onError)
      socket.on('close', onClose)
      this.#interrupt = done
    })
  }

  #lost (socket: net.Socket, detail: string): Error {
    socket.destroy()
    return new PortcullisError('PORTCULLIS_OUTPUT', `the syslog receiver ${this.#settings.address}`, detail)
  }
}

// The session's output to the SSH client, stdout and stderr in one ordered queue with one write in flight.
//
// Why not write to `channel` and `channel.stderr` directly: both share the SSH channel's window, and ssh2 (1.17)
// keeps one pending chunk per stream but, when the client grants more window, resumes only the stdout one while
// both wait. Under a flood of output a stderr line (portcullis telling the user why the session ends) then
// starves behind stdout and is dropped when the channel closes. Writing one chunk at a time, in the order the
// session produced them, never leaves both streams waiting.

/** What ChannelOutput needs of an SSH channel (ssh2's ServerChannel is one): its two streams and its end. */
export interface OutputChannel {
  write: (data: Buffer, done: () => void) => unknown
  readonly stderr: { write: (data: Buffer, done: () => void) => unknown }
  readonly destroyed: boolean
  readonly writableEnded: boolean
  once: (event: 'close', listener: () => void) => unknown
}

/** Bytes queued before the producer is asked to pause: one default SSH window, as the channel itself would hold. */
const HIGH_WATER_BYTES = 2 * 1024 * 1024

/** The most bytes joined into one write. */
const BATCH_BYTES = 256 * 1024

type Target = 'out' | 'err'

export class ChannelOutput {
  readonly #channel: OutputChannel
  readonly #queue: Array<{ target: Target, data: Buffer }> = []
  #queuedBytes = 0
  #writing = false
  #drainWaiters: Array<() => void> = []
  #flushWaiters: Array<() => void> = []

  constructor (channel: OutputChannel) {
    this.#channel = channel
    // A write in flight when the client goes never completes; whoever waits on the queue is told it is over.
    channel.once('close', () => this.#settle())
  }

  /** Queues stdout bytes; false when the caller should pause until `onDrain`. */
  out (data: Buffer): boolean { return this.#push('out', data) }

  /** Queues stderr bytes; false when the caller should pause until `onDrain`. */
  err (data: Buffer | string): boolean { return this.#push('err', typeof data === 'string' ? Buffer.from(data) : data) }

  /** Calls `fn` once, when the queue is back under its limit. */
  onDrain (fn: () => void): void {
    if (this.#queuedBytes < HIGH_WATER_BYTES) fn()
    else this.#drainWaiters.push(fn)
  }

  /** Drops what is queued and not yet handed to the channel (output that must not reach the user any more). */
  discardQueued (): void {
    for (const item of this.#queue) this.#queuedBytes -= item.data.length
    this.#queue.length = 0
    this.#settle()
  }

  /** Resolves once everything queued is handed to the channel, the channel is gone, or `timeoutMs` passed. */
  flush (timeoutMs: number): Promise<void> {
    if (this.#idle()) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
      this.#flushWaiters.push(done)
    })
  }

  #push (target: Target, data: Buffer): boolean {
    if (this.#gone()) return true
    this.#queue.push({ target, data })
    this.#queuedBytes += data.length
    this.#next()
    return this.#queuedBytes < HIGH_WATER_BYTES
  }

  #next (): void {
    if (this.#writing) return
    if (this.#gone()) {
      this.#queue.length = 0
      this.#queuedBytes = 0
    }
    const first = this.#queue.shift()
    if (first === undefined) {
      this.#settle()
      return
    }
    // Consecutive chunks for the same stream go as one write: one callback per batch, not per chunk.
    const parts = [first.data]
    let size = first.data.length
    while (size < BATCH_BYTES && this.#queue[0]?.target === first.target) {
      const data = this.#queue.shift()!.data
      parts.push(data)
      size += data.length
    }
    this.#writing = true
    const stream = first.target === 'out' ? this.#channel : this.#channel.stderr
    stream.write(parts.length === 1 ? first.data : Buffer.concat(parts, size), () => {
      this.#writing = false
      this.#queuedBytes -= size
      this.#settle()
      this.#next()
    })
  }

  #settle (): void {
    if (this.#queuedBytes < HIGH_WATER_BYTES) for (const fn of this.#drainWaiters.splice(0)) fn()
    if (this.#idle()) for (const fn of this.#flushWaiters.splice(0)) fn()
  }

  #idle (): boolean { return (!this.#writing && this.#queue.length === 0) || this.#gone() }

  #gone (): boolean { return this.#channel.destroyed || this.#channel.writableEnded }
}

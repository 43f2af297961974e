// Group commit for a stream of bytes written durably (a session's recording, as chunks in the store or as a file):
// one write in flight, and what arrives meanwhile joins the next one, so a fast stream costs one fsync per batch, not
// one per piece. CastSink and RecordingSink each say what a durable write of a batch is; the batching is here.

export interface GroupCommitLimits {
  /** Pending bytes above this make add() answer false (pause the source) until the drain callback. */
  highWaterMark: number
  /** Write a batch once this much is pending. */
  maxBatchBytes: number
  /** Write pending bytes at most this long after they arrived. */
  flushIntervalMs: number
}

export interface GroupCommitWriter {
  /** Writes one batch durably: the pieces in order, `bytes` long in all, made of `items` pieces the caller counted. */
  write: (pieces: Buffer[], bytes: number, items: number) => Promise<void>
  /** The pending bytes fell below the high-water mark after add() answered false. */
  drained: () => void
  /** A write failed with `err`: the error to keep and report from flush(). */
  failed: (err: unknown) => Error
  /** The writes stopped for good with `err` (after failed()); nothing is written afterwards. */
  stopped: (err: Error) => void
}

export class GroupCommit {
  readonly #limits: GroupCommitLimits
  readonly #writer: GroupCommitWriter
  #pending: Buffer[] = []
  #pendingBytes = 0
  #pendingItems = 0
  #inFlight: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  /** The interval ran out (or flush asked): write what is pending as soon as nothing is in flight. */
  #due = false
  #needDrain = false
  #failure: Error | null = null

  constructor (limits: GroupCommitLimits, writer: GroupCommitWriter) {
    this.#limits = limits
    this.#writer = writer
  }

  /** The error that stopped the writes, if one did. */
  get failure (): Error | null { return this.#failure }

  /** A write is in flight. */
  get writing (): boolean { return this.#inFlight !== null }

  /** False while the source should pause (until the drain callback). */
  get accepting (): boolean { return !this.#needDrain }

  /**
   * Queues pieces (`items` of the caller's units) for the next batch; `now` writes them without waiting for the
   * interval. Answers false when the source should pause until the drain callback.
   */
  add (pieces: Buffer[], bytes: number, items: number, now = false): boolean {
    for (const piece of pieces) this.#pending.push(piece)
    this.#pendingBytes += bytes
    this.#pendingItems += items
    if (now) this.#due = true
    else if (this.#timer === null && !this.#due) this.#timer = setTimeout(() => this.#onInterval(), this.#limits.flushIntervalMs)
    if (this.#pendingBytes >= this.#limits.highWaterMark) this.#needDrain = true
    this.#kick()
    return !this.#needDrain
  }

  /** Resolves once everything given so far is durable; rejects if a write failed. */
  async flush (): Promise<void> {
    if (this.#pending.length > 0) {
      this.#due = true
      this.#kick()
    }
    while (this.#inFlight !== null) await this.#inFlight
    if (this.#failure !== null) throw this.#failure
  }

  /** Stops for good with `err`: what is pending is dropped. */
  fail (err: Error): void {
    this.#failure = err
    this.#pending = []
    this.#pendingBytes = 0
    this.#pendingItems = 0
    this.stopTimer()
  }

  stopTimer (): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
  }

  #onInterval (): void {
    this.#timer = null
    this.#due = true
    this.#kick()
  }

  /** Starts a write when one is called for and none is in flight. */
  #kick (): void {
    if (this.#inFlight !== null || this.#failure !== null || this.#pending.length === 0) return
    // A source told to pause waits for this write, so it cannot wait for the interval.
    if (!this.#due && !this.#needDrain && this.#pendingBytes < this.#limits.maxBatchBytes) return
    this.stopTimer()
    this.#due = false
    const pieces = this.#pending
    const bytes = this.#pendingBytes
    const items = this.#pendingItems
    this.#pending = []
    this.#pendingBytes = 0
    this.#pendingItems = 0
    this.#inFlight = this.#write(pieces, bytes, items)
  }

  /** Never rejects: a failure is kept and reported, and the in-flight slot is freed either way. */
  async #write (pieces: Buffer[], bytes: number, items: number): Promise<void> {
    try {
      await this.#writer.write(pieces, bytes, items)
    } catch (err) {
      const failure = this.#writer.failed(err)
      this.fail(failure)
      this.#writer.stopped(failure)
    }
    this.#inFlight = null
    this.#kick()
    if (this.#needDrain && this.#failure === null && this.#pendingBytes < this.#limits.highWaterMark) {
      this.#needDrain = false
      this.#writer.drained()
    }
  }
}

/** `value` as a whole number of at least 1, else `fallback`. */
export function positive (value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback
}

/** `value` when it is 0 or more, else `fallback`. */
export function notNegative (value: number | undefined, fallback: number): number {
  return value !== undefined && value >= 0 ? value : fallback
}

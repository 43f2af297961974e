// A client may send window-change requests as fast as it likes (20,000 in a second is easy). Each would be a Docker
// API call, judged and recorded: so at most one resize is in flight per session, at most one starts per interval,
// the latest size wins over those it overtook, a size equal to the last one sent is not sent again, and nothing is
// sent once the session is closing.

export interface TerminalSize {
  cols: number
  rows: number
}

/** The largest size a terminal can have (struct winsize holds 16-bit numbers); larger requests are ignored. */
const MAX_TERMINAL_DIMENSION = 65_535

export interface ResizeCoalescerOptions {
  /** Sends one resize (the exec resize call, its recording); its failure is the sender's to log. */
  send: (size: TerminalSize) => Promise<void>
  /** The least time between the starts of two resizes: 100 ms is at most 10 a second. */
  minIntervalMs?: number
  /** The size the terminal already has (the pty request's), so that asking for it again sends nothing. */
  initial?: TerminalSize | null
  /** Milliseconds from any fixed point; tests pass their own. */
  now?: () => number
}

export class ResizeCoalescer {
  readonly #send: (size: TerminalSize) => Promise<void>
  readonly #minIntervalMs: number
  readonly #now: () => number
  #latest: TerminalSize | null = null
  #sent: TerminalSize | null
  #lastStart = Number.NEGATIVE_INFINITY
  #inFlight: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  #closed = false

  constructor (options: ResizeCoalescerOptions) {
    this.#send = options.send
    this.#minIntervalMs = options.minIntervalMs ?? 100
    this.#sent = options.initial ?? null
    this.#now = options.now ?? (() => performance.now())
  }

  /** Asks for the terminal to be this size; sent now, later (the latest one), or not at all (same size, closed). */
  request (size: TerminalSize): void {
    if (this.#closed || !isTerminalSize(size)) return
    this.#latest = { cols: size.cols, rows: size.rows }
    this.#pump()
  }

  /** Sends nothing more; resolves once the resize in flight, if any, has been answered. */
  async close (): Promise<void> {
    this.#closed = true
    this.#latest = null
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    await this.#inFlight
  }

  #pump (): void {
    if (this.#closed || this.#inFlight !== null || this.#timer !== null || this.#latest === null) return
    if (this.#sent !== null && this.#sent.cols === this.#latest.cols && this.#sent.rows === this.#latest.rows) {
      this.#latest = null
      return
    }
    const wait = this.#lastStart + this.#minIntervalMs - this.#now()
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null
        this.#pump()
      }, wait)
      return
    }
    const size = this.#latest
    this.#latest = null
    this.#sent = size
    this.#lastStart = this.#now()
    this.#inFlight = this.#send(size).catch(() => {}).finally(() => {
      this.#inFlight = null
      this.#pump()
    })
  }
}

export function isTerminalSize (size: TerminalSize): boolean {
  return Number.isInteger(size.cols) && Number.isInteger(size.rows) &&
    size.cols >= 1 && size.rows >= 1 && size.cols <= MAX_TERMINAL_DIMENSION && size.rows <= MAX_TERMINAL_DIMENSION
}

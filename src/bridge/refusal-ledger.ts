// Turns a flood of refused SSH connections into a bounded number of records: per source block, the first refusal
// of a burst is reported at once, the rest are counted and reported once per interval while the flood goes on.
// Past `maxSources` blocks in one interval, the others share one summary (source `other`), so even a flood from
// a whole IPv6 prefix yields at most 2 × maxSources + 1 reports per interval.

/** Why the bridge closed a connection before login. */
export type RefusalReason = 'per-source' | 'full' | 'random-early-drop' | 'descriptors' | 'penalty' | 'login-grace'

export interface RefusalReport {
  /** The source block (`127.0.0.2`, `2001:db8:1:2::/64`), or `other` for the blocks past maxSources. */
  source: string
  /** Connections closed since the last report for this source. */
  count: number
  reasons: Partial<Record<RefusalReason, number>>
  /** True for the first report of a burst (the source was quiet in the previous interval). */
  burstStart: boolean
}

export const OTHER_SOURCES = 'other'

interface Tally {
  count: number
  reasons: Partial<Record<RefusalReason, number>>
}

export class RefusalLedger {
  #current = new Map<string, Tally>()
  #previous = new Set<string>()
  #timer: NodeJS.Timeout | null = null

  constructor (
    private readonly report: (report: RefusalReport) => void,
    readonly intervalMs = 60_000,
    private readonly maxSources = 64
  ) {}

  /** One connection from `source` closed for `reason`. */
  note (source: string, reason: RefusalReason): void {
    let key = source
    let tally = this.#current.get(key)
    if (tally === undefined && this.#current.size >= this.maxSources) {
      key = OTHER_SOURCES
      tally = this.#current.get(key)
    }
    if (tally === undefined) {
      tally = { count: 0, reasons: {} }
      this.#current.set(key, tally)
      this.#startTimer()
      if (key !== OTHER_SOURCES && !this.#previous.has(key)) {
        this.report({ source: key, count: 1, reasons: { [reason]: 1 }, burstStart: true })
        return
      }
    }
    tally.count++
    tally.reasons[reason] = (tally.reasons[reason] ?? 0) + 1
  }

  /** Reports what was counted and starts a new interval (the timer calls it; so does shutdown). */
  flush (): void {
    for (const [source, tally] of this.#current) {
      if (tally.count > 0) this.report({ source, count: tally.count, reasons: tally.reasons, burstStart: false })
    }
    this.#previous = new Set(this.#current.keys())
    this.#current = new Map()
    if (this.#previous.size === 0) this.#stopTimer()
  }

  /** Reports what is left and stops the timer. */
  close (): void {
    this.flush()
    this.#previous.clear()
    this.#stopTimer()
  }

  #startTimer (): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => this.flush(), this.intervalMs)
    this.#timer.unref()
  }

  #stopTimer (): void {
    if (this.#timer === null) return
    clearInterval(this.#timer)
    this.#timer = null
  }
}

// Writes refusals through a RefusalLimiter (refusal-limiter.ts): a refusal it lets through is appended whole, the
// rest are counted and written as one summary at the window's end, and at stop. A counted refusal costs no write
// and no wait, so a flood is answered as fast as it comes and amplifies nothing.

import type { Logger } from 'pino'
import { systemClock, type Clock } from '../core/clock.js'
import type { AuditInput } from './record.js'
import { RefusalLimiter, type Refusal, type RefusalLimits, type RefusalSummary } from './refusal-limiter.js'

export interface RefusalRecordsOptions {
  audit: { append: (input: AuditInput) => Promise<unknown> }
  logger: Logger
  /** The record of a window's counted refusals (its `fields` should hold the summary). */
  summary: (summary: RefusalSummary) => AuditInput
  clock?: Clock
  limits?: Partial<RefusalLimits>
}

export class RefusalRecords {
  readonly #options: RefusalRecordsOptions
  readonly #limiter: RefusalLimiter
  #timer: NodeJS.Timeout | null = null
  #closed = false
  /** Counts of summaries the store refused, carried into the next. */
  #unwritten: RefusalSummary | null = null

  constructor (options: RefusalRecordsOptions) {
    this.#options = options
    this.#limiter = new RefusalLimiter(options.clock ?? systemClock, options.limits)
  }

  /**
   * One refusal. Resolves once its own record is written when it gets one (a failure to write is logged: the
   * request is refused either way); at once when it is counted for the summary.
   */
  async refuse (refusal: Refusal, record: () => AuditInput): Promise<void> {
    if (this.#closed) {
      await this.#append(record(), 'could not record a refusal')
      return
    }
    const verdict = this.#limiter.note(refusal)
    if (verdict.closed !== null) {
      // The window ended before its timer ran: the timer belonged to it.
      this.#disarm()
      this.#writeSummary(verdict.closed)
    }
    if (!verdict.record) {
      this.#arm()
      return
    }
    await this.#append(record(), 'could not record a refusal')
  }

  /** Writes what is counted so far; later refusals are each recorded whole. At stop, before the store closes. */
  async close (): Promise<void> {
    this.#closed = true
    this.#disarm()
    const summary = this.#limiter.flush()
    if (summary !== null || this.#unwritten !== null) await this.#appendSummary(summary ?? this.#unwritten!)
  }

  /** A timer for the end of the window that counts: its summary goes out even if no refusal follows. */
  #arm (): void {
    const due = this.#limiter.summaryDueAt
    if (this.#timer !== null || due === null) return
    const clock = this.#options.clock ?? systemClock
    this.#timer = setTimeout(() => {
      this.#timer = null
      const summary = this.#limiter.takeDue()
      if (summary !== null) this.#writeSummary(summary)
      // Counted again since (a window that goes on): its own summary is due later.
      this.#arm()
    }, Math.max(0, due - clock.now()))
    // A stopping serve does not wait for it: close() writes what is left.
    this.#timer.unref()
  }

  #disarm (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  #writeSummary (summary: RefusalSummary): void {
    void this.#appendSummary(summary)
  }

  /** A summary the store refused is not dropped: its counts go into the next one (the log has them too). */
  async #appendSummary (summary: RefusalSummary): Promise<void> {
    const whole = this.#unwritten === null ? summary : mergeSummaries(this.#unwritten, summary)
    this.#unwritten = null
    try {
      await this.#options.audit.append(this.#options.summary(whole))
    } catch (err) {
      this.#unwritten = this.#unwritten === null ? whole : mergeSummaries(whole, this.#unwritten)
      this.#options.logger.error({ err, summary: whole }, 'could not record the summary of refusals; its counts go into the next one')
    }
  }

  async #append (input: AuditInput, failure: string): Promise<void> {
    try {
      await this.#options.audit.append(input)
    } catch (err) {
      // The log keeps what the trail could not.
      this.#options.logger.error({ err, record: { action: input.action, code: input.code, fields: input.fields } }, failure)
    }
  }
}

/** Two summaries as one: counts added, names joined (a name past the bound is counted as unnamed), the span of both. */
function mergeSummaries (a: RefusalSummary, b: RefusalSummary): RefusalSummary {
  const bound = Math.max(a.users.length, b.users.length, a.peers.length, b.peers.length, 20)
  const userCounts = addCounts(a.userCounts, b.userCounts, bound)
  const peerCounts = addCounts(a.peerCounts, b.peerCounts, bound)
  return {
    refused: a.refused + b.refused,
    codes: addCounts(a.codes, b.codes, Infinity).kept,
    users: Object.keys(userCounts.kept),
    peers: Object.keys(peerCounts.kept),
    userCounts: userCounts.kept,
    peerCounts: peerCounts.kept,
    unnamed: a.unnamed + b.unnamed + userCounts.dropped + peerCounts.dropped,
    first: a.first < b.first ? a.first : b.first,
    last: a.last > b.last ? a.last : b.last,
    windowStart: a.windowStart < b.windowStart ? a.windowStart : b.windowStart,
    windowMs: a.windowMs
  }
}

/** The two counts added, at most `bound` names kept; `dropped`: the refusals of the names left out. */
function addCounts (a: Record<string, number>, b: Record<string, number>, bound: number): { kept: Record<string, number>, dropped: number } {
  const kept: Record<string, number> = { ...a }
  let dropped = 0
  for (const [name, n] of Object.entries(b)) {
    if (name in kept || Object.keys(kept).length < bound) kept[name] = (kept[name] ?? 0) + n
    else dropped += n
  }
  return { kept, dropped }
}

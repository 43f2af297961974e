// While the audit store cannot be written, every call is denied. Logging each one would flood the logs with the
// same line at the rate of the Docker API; the first is logged at once with its error, then at most one line per
// interval, counting the calls denied since the line before. The store's own alert (and, once it recovers, its
// audit.write-recovered record with the total) says when the outage began and ended.

import type { Logger } from 'pino'

const UNRECORDED_LOG_INTERVAL_MS = 10_000

export class UnrecordedCallsLog {
  #since = 0
  #loggedAt = Number.NEGATIVE_INFINITY

  constructor (
    private readonly logger: Logger,
    private readonly intervalMs = UNRECORDED_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now
  ) {}

  /** One call denied because its record could not be written. */
  denied (err: unknown): void {
    this.#since++
    const now = this.now()
    if (now - this.#loggedAt < this.intervalMs) return
    this.logger.error({ err, deniedCalls: this.#since, everyMs: this.intervalMs },
      'could not record calls, so they were denied (fail closed); this line comes at most once per interval, with the calls denied since the last one')
    this.#since = 0
    this.#loggedAt = now
  }
}

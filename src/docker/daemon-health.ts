// Whether the Docker daemon answers portcullis's look-ups, logged once when that changes (with how many look-ups
// failed meanwhile) instead of once per refused call: with dockerd down, a stack per call filled the log by
// megabytes a minute and hid everything else.

import type { Logger } from 'pino'

export class DaemonHealth {
  private failing: { since: number, failures: number } | null = null

  constructor (private readonly logger: Logger) {}

  get down (): boolean {
    return this.failing !== null
  }

  /** A look-up got no usable answer (no connection, a timeout, a server error). */
  failed (reason: string): void {
    if (this.failing !== null) {
      this.failing.failures++
      return
    }
    this.failing = { since: Date.now(), failures: 1 }
    this.logger.error({ reason }, 'the Docker daemon does not answer portcullis\'s look-ups; calls that need one are refused until it does (logged once; the count follows when it answers again)')
  }

  /** The daemon answered a look-up. */
  answered (): void {
    if (this.failing === null) return
    const { since, failures } = this.failing
    this.failing = null
    this.logger.warn({ failures, downMs: Date.now() - since }, 'the Docker daemon answers portcullis\'s look-ups again')
  }
}

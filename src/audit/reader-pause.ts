// The pause a chain reader (the fleet shipper, a SIEM output) takes between batches: it ends after its time, or at
// once when a record becomes durable (wake) or the reader stops. A pause that is not wakeable (a linger to fill the
// next batch, a back-off before a retry) ends early only when the reader stops.

/** After a failed batch the reader waits RETRY_MIN_MS, doubling up to RETRY_MAX_MS while it keeps failing. */
export const RETRY_MIN_MS = 500
export const RETRY_MAX_MS = 10_000
/** A batch that did not fill waits this long for more records: fewer, fuller batches. */
export const LINGER_MS = 50
/** How long an idle reader waits for a record (it looks at its timers then). */
export const IDLE_MS = 1_000

export class ReaderPause {
  #wake: (() => void) | null = null
  #stopping = false

  get stopping (): boolean {
    return this.#stopping
  }

  async sleep (ms: number, wakeable = true): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = wakeable ? done : () => { if (this.#stopping) done() }
    })
    this.#wake = null
  }

  /** A record became durable (or a drain wants the next batch now). */
  wake (): void {
    this.#wake?.()
  }

  stop (): void {
    this.#stopping = true
    this.#wake?.()
  }
}

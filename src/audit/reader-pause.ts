// The pause a chain reader (the fleet shipper, a SIEM output) takes between batches: it ends after its time, or at
// once when a record becomes durable (wake) or the reader stops. A pause that is not wakeable (a linger to fill the
// next batch, a back-off before a retry) ends early only when the reader stops.

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

// Time that moves only when the test moves it: `advance` runs the deadlines (`at`) it passes, in order. It stands
// in for the system clock wherever code takes a Clock (src/core/clock.ts), or the elevation service's timed one.
import type { Clock } from '../../src/elevation/clock.js'

export class ManualClock implements Clock {
  #timers: Array<{ at: number, fn: () => void }> = []

  constructor (public time = Date.parse('2026-05-01T12:00:00Z')) {}

  now = (): number => this.time

  at = (at: number, fn: () => void): (() => void) => {
    const timer = { at, fn }
    this.#timers.push(timer)
    return () => { this.#timers = this.#timers.filter((t) => t !== timer) }
  }

  advance (ms: number): void {
    this.time += ms
    const due = this.#timers.filter((t) => t.at <= this.time).sort((a, b) => a.at - b.at)
    this.#timers = this.#timers.filter((t) => t.at > this.time)
    for (const timer of due) timer.fn()
  }

  /** Deadlines not yet reached. */
  get pending (): number {
    return this.#timers.length
  }
}

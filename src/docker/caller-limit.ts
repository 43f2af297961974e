// At most `max` pieces of work in flight per caller; a caller's further work waits its turn, in order, while
// other callers' work is not held up by it (one create naming thousands of objects stalls only its sender).

interface Slot {
  running: number
  waiting: Array<() => void>
}

export class CallerLimit {
  private readonly slots = new Map<string, Slot>()

  constructor (private readonly max: number) {}

  async run<T> (caller: string, work: () => Promise<T>): Promise<T> {
    let slot = this.slots.get(caller)
    if (slot === undefined) {
      slot = { running: 0, waiting: [] }
      this.slots.set(caller, slot)
    }
    if (slot.running < this.max) slot.running++
    else await new Promise<void>((resolve) => slot.waiting.push(resolve))
    try {
      return await work()
    } finally {
      const next = slot.waiting.shift()
      // The finished work's place goes straight to the next in line; the count only drops when no one waits.
      if (next !== undefined) next()
      else if (--slot.running === 0) this.slots.delete(caller)
    }
  }

  /** Work in flight for `caller` (for tests and status). */
  inFlight (caller: string): number {
    return this.slots.get(caller)?.running ?? 0
  }
}

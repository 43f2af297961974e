// Time for the elevation service: the real one, or a fake one in tests. Deadlines are absolute (ms since the
// epoch), so a timer that fires late or a process that restarts still ends things at the right moment.

import type { Clock as SystemTime } from '../core/clock.js'

/** The core's clock, plus deadlines. */
export interface Clock extends SystemTime {
  /** Calls `fn` once `at` has passed; returns the cancel function. */
  at: (at: number, fn: () => void) => () => void
}

/** Node's setTimeout holds at most ~24.8 days; longer waits are made of several. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1

export const systemClock: Clock = {
  now: () => Date.now(),
  at (at, fn) {
    let timer: NodeJS.Timeout
    const arm = (): void => {
      const wait = at - Date.now()
      if (wait <= 0) {
        fn()
        return
      }
      // Unref'd: pending deadlines must not keep a stopping process alive.
      timer = setTimeout(arm, Math.min(wait, MAX_TIMEOUT_MS)).unref()
    }
    // Never call back synchronously, so callers can finish what they were doing first.
    timer = setTimeout(arm, Math.max(0, Math.min(at - Date.now(), MAX_TIMEOUT_MS))).unref()
    return () => clearTimeout(timer)
  }
}

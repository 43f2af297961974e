// Time as the code that decides and expires things reads it: a grant's end, a token's expiry, a key's
// expiry-time=, when a checkpoint is due. Taken as a seam so tests move time instead of sleeping or faking timers
// (test/fakes/clock.ts); serve runs on systemClock.

export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
}

export const systemClock: Clock = { now: () => Date.now() }

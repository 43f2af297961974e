// Waiting on an event instead of sleeping for it: poll a condition until it holds, with a deadline that fails the
// test with what was awaited. A fixed sleep stays only where the time itself is under test (a product timer, or
// "nothing happens for N ms"), with a comment saying so.
import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  /** Fail after this long. Default 15 s. */
  timeoutMs?: number
  /** Pause between two looks. Default 50 ms. */
  intervalMs?: number
  /** Appended to the timeout error (e.g. a log tail), computed only when the wait fails. */
  detail?: () => string | Promise<string>
}

/** Resolves once `condition` holds; throws `${what}: not within N ms` past the deadline. */
export async function waitUntil (what: string, condition: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  await waitFor(what, async () => ((await condition()) ? true : undefined), options)
}

/** Resolves with the first value `find` returns that is not undefined; throws past the deadline. */
export async function waitFor<T> (what: string, find: () => T | undefined | Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 15_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await find()
    if (found !== undefined) return found
    if (Date.now() >= deadline) {
      const detail = options.detail === undefined ? '' : `\n${await options.detail()}`
      throw new Error(`${what}: not within ${timeoutMs} ms${detail}`)
    }
    await sleep(options.intervalMs ?? 50)
  }
}

// The daemon's own verify while it runs, every audit.verifyInterval: the chain from the newest signed checkpoint
// that still matches its record to the head (the start verification's check, src/audit/start-verify.ts), so it
// reads only what came in since the last checkpoint. Each run that had new records to check is recorded as
// `audit.verify`; what it finds goes to the caller (the alerts).

import type { Logger } from 'pino'
import type { AuditPublicKey } from './signing-key.js'
import { verifyAtStart, type StartVerification } from './start-verify.js'
import type { AuditStore } from './store.js'
import { messageOf } from './errors.js'

export interface PeriodicVerifyOptions {
  store: AuditStore
  keys: readonly AuditPublicKey[] | undefined
  /** Read before each run: a reload applies from the next one. */
  intervalMs: () => number
  logger: Logger
  onResult: (result: StartVerification) => void
}

export class PeriodicVerify {
  readonly #options: PeriodicVerifyOptions
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> = Promise.resolve()
  /** The head the last run checked up to: a run with nothing new is skipped. */
  #checkedTo = -1
  #closed = false

  constructor (options: PeriodicVerifyOptions) {
    this.#options = options
  }

  start (): void {
    this.#schedule()
  }

  /** Verifies now (tests; the timer calls it too). */
  async runNow (): Promise<StartVerification | null> {
    let result: StartVerification | null = null
    const run = this.#running.then(async () => { result = await this.#verify() })
    this.#running = run
    await run
    return result
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    await this.#running
  }

  #schedule (): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => { void this.runNow().finally(() => this.#schedule()) }, this.#options.intervalMs())
    this.#timer.unref()
  }

  async #verify (): Promise<StartVerification | null> {
    const { store, keys, logger } = this.#options
    const head = store.head().seq
    if (this.#closed || store.failure !== null || head === this.#checkedTo) return null
    let result: StartVerification
    try {
      // One at a time with expiry, which removes records from the start of the range a check may walk.
      result = await store.exclusive(async () => await verifyAtStart(store, keys))
    } catch (err) {
      // A full disk or a spent descriptor limit: the host's state, which the write-failure and disk alerts cover.
      logger.warn({ err }, `the periodic audit verify could not run: ${messageOf(err)}`)
      return null
    }
    const { ok, from, to, records, damage, firstBad } = result
    if (!ok) logger.error({ damage, firstBad }, 'the periodic audit verify found the trail damaged')
    await store.append({
      kind: 'system',
      action: 'audit.verify',
      reason: ok ? `records ${from} to ${to} verify (from the newest good checkpoint to the head)` : `the audit trail is damaged: ${damage[0] ?? ''}`,
      fields: { periodic: true, ok, from, to, records, ...(firstBad !== undefined ? { firstBad } : {}), ...(damage.length > 0 ? { damage } : {}) }
    }).catch((err: unknown) => logger.warn({ err }, 'could not record the periodic audit verify'))
    // Its own record is not news for the next run.
    this.#checkedTo = Math.max(head, store.head().seq)
    this.#options.onResult(result)
    return result
  }
}

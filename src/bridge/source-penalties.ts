// Sources whose connections sit out the login grace time are shut out for a while, as sshd's PerSourcePenalties
// do (`grace-exceeded`): without it, an attacker with enough addresses holds every pre-login place for the grace
// time, lets them expire, and takes them again at once, so honest users never get in. Each connection of a source
// that did not log in within the grace time adds PENALTY_PER_EXPIRY_MS; the source is refused while at least
// REFUSE_FROM_MS of its penalty is left, so one slow honest client is not shut out. Pure: the caller owns the clock.

const PENALTY_PER_EXPIRY_MS = 10_000
const REFUSE_FROM_MS = 15_000
const MAX_PENALTY_MS = 600_000
/** Sources tracked at once; past that, new sources are not penalized (sshd's `overflow:permissive`). */
const MAX_PENALIZED_SOURCES = 65_536

export class SourcePenalties {
  /** Source block → when its penalty ends (ms). */
  readonly #until = new Map<string, number>()

  constructor (private readonly now: () => number = Date.now) {}

  /** A connection from `source` did not log in within the grace time. */
  graceExpired (source: string): void {
    const now = this.now()
    const current = this.#until.get(source)
    if (current === undefined && this.#until.size >= MAX_PENALIZED_SOURCES) this.#prune(now)
    if (current === undefined && this.#until.size >= MAX_PENALIZED_SOURCES) return
    const from = Math.max(current ?? now, now)
    this.#until.set(source, Math.min(from + PENALTY_PER_EXPIRY_MS, now + MAX_PENALTY_MS))
  }

  /** How long `source` is still shut out for, in ms; 0 when it may connect. */
  refusedFor (source: string): number {
    const until = this.#until.get(source)
    if (until === undefined) return 0
    const left = until - this.now()
    if (left <= 0) this.#until.delete(source)
    return left >= REFUSE_FROM_MS ? left : 0
  }

  #prune (now: number): void {
    for (const [source, until] of this.#until) if (until <= now) this.#until.delete(source)
  }
}

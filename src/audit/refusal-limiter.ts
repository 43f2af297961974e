// Refusals are recorded, but a flood of them must not flood the trail: anyone who can reach a port could otherwise
// write records at line rate, the store would grow without end, the fleet shipper and the SIEM outputs would carry
// it, and the real records would drown. Within a window, the first refusals of each key (reason code and who was
// claimed, or the peer) are recorded whole, up to a total; the rest are counted, and the window's count becomes one
// summary. Nothing is dropped: a refusal is either its own record or counted in a summary. Pure: no I/O, no timers
// (refusal-records.ts writes and schedules); memory is bounded whatever the keys an attacker sends.

import type { Clock } from '../core/clock.js'

export interface RefusalLimits {
  /** How long a window lasts; its summary is due at its end. */
  windowMs: number
  /** Refusals of one key recorded whole in a window. */
  perKey: number
  /** Refusals recorded whole in a window, all keys together (an attacker varies the claimed user or the peer). Counted
   * apart for refusals that name a user and those that name none, so a flood without a token (from many loopback
   * addresses) cannot crowd out the whole record of a known user's refusal. */
  perWindow: number
  /** Distinct users, peers and codes a summary names; the rest are counted without a name. */
  maxNamed: number
  /** Counted refusals are written as a summary at most this long after the first of them (or the window's end, if
   * sooner): what a crash can take from the trail is at most this long's worth. */
  holdMs: number
  /** ... or once this many are counted. */
  holdCount: number
}

const DEFAULT_REFUSAL_LIMITS: RefusalLimits = { windowMs: 60_000, perKey: 3, perWindow: 30, maxNamed: 20, holdMs: 10_000, holdCount: 1_000 }

export interface Refusal {
  /** The reason's code, e.g. PORTCULLIS_AUDIT_UNAUTHENTICATED. */
  code: string
  /** The user the request claimed (or a token named), when it named one. */
  user?: string | null
  /** Where it came from (an address), for requests that named nobody. */
  peer?: string | null
}

/** What a window counted without recording each. */
export interface RefusalSummary {
  /** Refusals counted (each one not recorded on its own). */
  refused: number
  /** By code; codes past maxNamed are counted under `other`. */
  codes: Record<string, number>
  /** Users claimed, at most maxNamed. */
  users: string[]
  /** Peers (of requests that named no user), at most maxNamed. */
  peers: string[]
  /** How many of the counted refusals each named user and peer made: who flooded, and who only slipped. */
  userCounts: Record<string, number>
  peerCounts: Record<string, number>
  /** Counted refusals whose user or peer is not among those named (or that named none). */
  unnamed: number
  /** When the first and the last counted refusal came (ISO 8601). */
  first: string
  last: string
  /** The window they fall in (ISO 8601 start, its length). */
  windowStart: string
  windowMs: number
}

/** What `note` says to do with one refusal; `closed` is the summary of a window that ended before it, if one is due. */
export interface RefusalVerdict {
  record: boolean
  closed: RefusalSummary | null
}

export class RefusalLimiter {
  readonly #clock: Clock
  readonly #limits: RefusalLimits
  #windowStart: number | null = null
  /** Recorded whole in this window, by key: holds at most twice perWindow keys. */
  readonly #recorded = new Map<string, number>()
  /** Recorded whole in this window: of refusals that named a user, and of those that named none. */
  readonly #recordedTotal = { user: 0, peer: 0 }
  #counted: Counted | null = null

  constructor (clock: Clock, limits: Partial<RefusalLimits> = {}) {
    this.#clock = clock
    this.#limits = { ...DEFAULT_REFUSAL_LIMITS, ...limits }
  }

  get windowMs (): number {
    return this.#limits.windowMs
  }

  /** When the counted refusals' summary is due (the window's end, or holdMs after the first); null when none are counted. */
  get summaryDueAt (): number | null {
    if (this.#counted === null || this.#windowStart === null) return null
    return Math.min(this.#windowStart + this.#limits.windowMs, this.#counted.first + this.#limits.holdMs)
  }

  /** The summary that is due by now (see summaryDueAt), or null. A window that ended is closed with it. */
  takeDue (): RefusalSummary | null {
    const now = this.#clock.now()
    if (this.#windowStart !== null && now >= this.#windowStart + this.#limits.windowMs) return this.#close()
    const due = this.summaryDueAt
    return due !== null && now >= due ? this.#summarize() : null
  }

  /** One refusal: record it whole, or count it. O(1) work and memory whatever the key. */
  note (refusal: Refusal): RefusalVerdict {
    const now = this.#clock.now()
    let closed: RefusalSummary | null = null
    if (this.#windowStart !== null && now >= this.#windowStart + this.#limits.windowMs) closed = this.#close()
    this.#windowStart ??= now
    const kind = refusal.user != null ? 'user' : 'peer'
    const key = `${refusal.code}\u0000${kind === 'user' ? `u:${refusal.user}` : `p:${refusal.peer ?? ''}`}`
    const ofKey = this.#recorded.get(key) ?? 0
    if (ofKey < this.#limits.perKey && this.#recordedTotal[kind] < this.#limits.perWindow) {
      this.#recorded.set(key, ofKey + 1)
      this.#recordedTotal[kind]++
      return { record: true, closed }
    }
    this.#count(refusal, now)
    // A flood is summarised as it goes, not only at the window's end: a crash takes at most holdCount of it.
    if (closed === null && this.#counted!.refused >= this.#limits.holdCount) closed = this.#summarize()
    return { record: false, closed }
  }

  /** Ends the window now: its summary, or null when it counted nothing. At a window's end, and at stop. */
  flush (): RefusalSummary | null {
    return this.#windowStart === null ? null : this.#close()
  }

  #count (refusal: Refusal, now: number): void {
    const counted = this.#counted ??= { refused: 0, codes: new Map(), users: new Map(), peers: new Map(), unnamed: 0, first: now, last: now }
    counted.refused++
    counted.last = now
    const code = counted.codes.has(refusal.code) || counted.codes.size < this.#limits.maxNamed ? refusal.code : 'other'
    counted.codes.set(code, (counted.codes.get(code) ?? 0) + 1)
    const names = refusal.user != null ? counted.users : counted.peers
    const name = refusal.user ?? refusal.peer
    if (name != null && (names.has(name) || names.size < this.#limits.maxNamed)) names.set(name, (names.get(name) ?? 0) + 1)
    else counted.unnamed++
  }

  /** Ends the window: the summary of what it still counts, and a fresh budget of whole records. */
  #close (): RefusalSummary | null {
    const summary = this.#summarize()
    this.#windowStart = null
    this.#recorded.clear()
    this.#recordedTotal.user = 0
    this.#recordedTotal.peer = 0
    return summary
  }

  /** The summary of what is counted so far, which starts counting again; the window and its budget go on. */
  #summarize (): RefusalSummary | null {
    const counted = this.#counted
    const start = this.#windowStart!
    this.#counted = null
    if (counted === null) return null
    return {
      refused: counted.refused,
      codes: Object.fromEntries(counted.codes),
      users: [...counted.users.keys()],
      peers: [...counted.peers.keys()],
      userCounts: Object.fromEntries(counted.users),
      peerCounts: Object.fromEntries(counted.peers),
      unnamed: counted.unnamed,
      first: new Date(counted.first).toISOString(),
      last: new Date(counted.last).toISOString(),
      windowStart: new Date(start).toISOString(),
      windowMs: this.#limits.windowMs
    }
  }
}

interface Counted {
  refused: number
  codes: Map<string, number>
  users: Map<string, number>
  peers: Map<string, number>
  unnamed: number
  first: number
  last: number
}

// The auditors' reads in progress on the API (not root's, on the admin socket): so that one auditor cannot hold the
// daemon's disk and CPU with many bundles or streams at once, and so that a read whose reader lost the right to read
// (taken out of audit.auditors by a reload, or a token that ran out) ends then, not whenever the reader lets go.

import type { Response } from 'express'
import { PortcullisError } from '../errors.js'

export interface AuditReadLimits {
  /** Reads one auditor may have open at once (follows, exports, bundles…), whatever tokens they use. */
  perAuditor: number
  /** Bundles one auditor may have in the making at once. */
  bundlesPerAuditor: number
  /** Bundles all auditors together may have in the making at once. */
  bundles: number
}

const DEFAULT_AUDIT_READ_LIMITS: AuditReadLimits = { perAuditor: 4, bundlesPerAuditor: 1, bundles: 2 }

/** Why an open read was ended by the daemon (its audit.read.end says so in fields.endedBy). */
export type EndedBy = 'auditor-removed' | 'token-expired' | 'token-invalid'

/** Who holds an open read, as the standing check sees them. */
interface Holder {
  user: string
  tokenId: string | null
  /** Whether the token the read was opened with would still be taken. */
  tokenStillGood?: () => boolean
}

/** Null while the holder may still read; otherwise why not. */
export type ReaderStanding = (read: Holder) => EndedBy | null

export interface OpenAuditRead extends Readonly<Holder> {
  readonly route: string
  /** Set when the daemon ended the read. */
  endedBy: EndedBy | null
}

interface Entry extends OpenAuditRead {
  res: Response
  /** Released once both the handler has returned and the response is closed (a bundle goes on being built after
   * its client left; a follow goes on streaming after its handler returned). */
  holds: number
  cancelExpiry: (() => void) | null
}

/** Retry-After for a read refused as one too many: a bundle or an export of a large range takes about this long. */
const RETRY_AFTER_SECONDS = 30
/** setTimeout's longest wait; a token lives at most tokens.maxLifetime, but its expiry is the token's word. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1

export class OpenAuditReads {
  readonly #limits: AuditReadLimits
  readonly #standing: ReaderStanding
  readonly #open = new Set<Entry>()

  constructor (standing: ReaderStanding, limits: Partial<AuditReadLimits> = {}) {
    this.#standing = standing
    this.#limits = { ...DEFAULT_AUDIT_READ_LIMITS, ...limits }
  }

  /**
   * Takes a place for a read, or says why there is none (PORTCULLIS_AUDIT_READS_BUSY). The place is held until
   * `release` has been called and `res` has closed. `expiresAt` (ms since the epoch): the token's end, when the read
   * is ended if still open.
   */
  admit (reader: Holder & { expiresAt?: number | null }, route: string, res: Response): { ok: true, read: OpenAuditRead, release: () => void } | { ok: false, error: PortcullisError, detail: string } {
    const mine = [...this.#open].filter((read) => read.user === reader.user)
    const busy = mine.length >= this.#limits.perAuditor
      ? `${reader.user} already has ${mine.length} audit reads open (${describe(mine)}), the most one auditor may have at once`
      : route !== 'bundle'
        ? null
        : mine.filter((read) => read.route === 'bundle').length >= this.#limits.bundlesPerAuditor
          ? `${reader.user} already has a bundle in the making (the most one auditor may have at once is ${this.#limits.bundlesPerAuditor})`
          : this.#bundles() >= this.#limits.bundles
            ? `${this.#bundles()} bundles are in the making for auditors, the most at once`
            : null
    if (busy !== null) {
      const error = new PortcullisError('PORTCULLIS_AUDIT_READS_BUSY', busy)
      error.retryAfterSeconds = RETRY_AFTER_SECONDS
      return { ok: false, error, detail: busy }
    }
    const entry: Entry = { user: reader.user, tokenId: reader.tokenId, ...(reader.tokenStillGood !== undefined ? { tokenStillGood: reader.tokenStillGood } : {}), route, endedBy: null, res, holds: 2, cancelExpiry: null }
    this.#open.add(entry)
    const letGo = (): void => {
      if (--entry.holds > 0) return
      entry.cancelExpiry?.()
      this.#open.delete(entry)
    }
    let released = false
    // A client that left before its read was admitted: its close has been and gone.
    if (res.destroyed) letGo()
    else res.once('close', letGo)
    if (reader.expiresAt != null) {
      const expiresAt = reader.expiresAt
      // A timer waits at most MAX_TIMEOUT_MS (about 24.8 days), a token may live longer: it waits again for the rest.
      const wait = (): void => {
        const timer = setTimeout(() => {
          if (Date.now() >= expiresAt) this.#end(entry, 'token-expired')
          else wait()
        }, Math.min(MAX_TIMEOUT_MS, Math.max(0, expiresAt - Date.now())))
        timer.unref()
        entry.cancelExpiry = () => clearTimeout(timer)
      }
      wait()
    }
    return {
      ok: true,
      read: entry,
      release: () => {
        if (released) return
        released = true
        letGo()
      }
    }
  }

  /** Ends every open read whose reader may no longer read (after a policy reload). How many it ended. */
  recheck (): number {
    let ended = 0
    for (const entry of this.#open) {
      if (this.recheckOne(entry)) ended++
    }
    return ended
  }

  /** Ends `read` if its reader may no longer read; true when it did. For a read admitted just before a reload. */
  recheckOne (read: OpenAuditRead): boolean {
    const entry = read as Entry
    if (entry.endedBy !== null || !this.#open.has(entry)) return false
    const endedBy = this.#standing(entry)
    if (endedBy === null) return false
    this.#end(entry, endedBy)
    return true
  }

  get size (): number {
    return this.#open.size
  }

  #end (entry: Entry, endedBy: EndedBy): void {
    if (entry.endedBy !== null) return
    entry.endedBy = endedBy
    // Its audit.read.end (written on close) says it was cut off, and why.
    entry.res.destroy()
  }

  #bundles (): number {
    let count = 0
    for (const read of this.#open) if (read.route === 'bundle') count++
    return count
  }
}

function describe (reads: OpenAuditRead[]): string {
  const routes = new Map<string, number>()
  for (const read of reads) routes.set(read.route, (routes.get(read.route) ?? 0) + 1)
  return [...routes].map(([route, n]) => `${n} ${route}`).join(', ')
}

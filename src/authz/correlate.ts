// The daemon sends AuthZRes with no reference to its AuthZReq. Pair them by what both carry (method, URI,
// caller), oldest first; the pairing is a convenience for reviewers, so an unmatched response is still recorded.

import { createHash } from 'node:crypto'
import { header, TOKEN_HEADER } from '../identity/resolve.js'
import { cacheKey } from '../identity/tokens.js'
import type { AuthZRequest } from '../core/types.js'

const MAX_PENDING = 10_000
const MAX_AGE_MS = 10 * 60_000

export class ResponseCorrelator {
  /** By method, URI, user and the token's tail; each entry holds its whole caller (see callerOf) to match on. */
  private readonly pending = new Map<string, PendingCall[]>()
  private size = 0

  remember (req: AuthZRequest, seq: number): void {
    if (this.size >= MAX_PENDING) this.prune()
    const token = tokenOf(req)
    const key = keyOf(req, token)
    const entry = { seq, at: Date.now(), caller: callerOf(token) }
    const queue = this.pending.get(key)
    if (queue === undefined) this.pending.set(key, [entry])
    else queue.push(entry)
    this.size++
  }

  take (req: AuthZRequest): number | null {
    const token = tokenOf(req)
    const key = keyOf(req, token)
    const queue = this.pending.get(key)
    if (queue === undefined) return null
    const caller = callerOf(token)
    const at = queue.findIndex((entry) => entry.caller === caller)
    if (at === -1) return null
    const first = queue[at]!
    if (at === 0) queue.shift()
    else queue.splice(at, 1)
    this.size--
    if (queue.length === 0) this.pending.delete(key)
    return first.seq
  }

  /** Drop what is too old to be answered any more (hijacked streams never get an AuthZRes). */
  private prune (): void {
    const cutoff = Date.now() - MAX_AGE_MS
    for (const [key, queue] of this.pending) {
      const kept = queue.filter((entry) => entry.at >= cutoff)
      this.size -= queue.length - kept.length
      if (kept.length === 0) this.pending.delete(key)
      else this.pending.set(key, kept)
    }
    if (this.size >= MAX_PENDING) {
      this.pending.clear()
      this.size = 0
    }
  }
}

interface PendingCall {
  seq: number
  at: number
  caller: string
}

function tokenOf (req: AuthZRequest): string {
  return header(req.RequestHeaders ?? {}, TOKEN_HEADER) ?? ''
}

/**
 * The map key: the token's tail, not the whole token, which would cost a hash of all its characters on each
 * AuthZReq and AuthZRes (each brings a new copy of it). Long keys (a caller's long URIs) are kept as their sha256,
 * so pending calls stay small.
 */
function keyOf (req: AuthZRequest, token: string): string {
  const key = `${req.RequestMethod ?? ''} ${req.RequestUri ?? ''} ${req.User ?? ''} ${cacheKey(token)}`
  return key.length <= 2048 ? key : sha256(key)
}

/** The whole token an entry must match (its sha256 when long, as for keys). */
function callerOf (token: string): string {
  return token.length <= 2048 ? token : sha256(token)
}

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('base64')
}

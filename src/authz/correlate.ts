// The daemon sends AuthZRes with no reference to its AuthZReq. Pair them by what both carry (method, URI,
// caller), oldest first; the pairing is a convenience for reviewers, so an unmatched response is still recorded.

import { createHash } from 'node:crypto'
import { header, TOKEN_HEADER } from '../identity/resolve.js'
import type { AuthZRequest } from './types.js'

const MAX_PENDING = 10_000
const MAX_AGE_MS = 10 * 60_000

export class ResponseCorrelator {
  private readonly pending = new Map<string, Array<{ seq: number, at: number }>>()
  private size = 0

  remember (req: AuthZRequest, seq: number): void {
    if (this.size >= MAX_PENDING) this.prune()
    const key = keyOf(req)
    const queue = this.pending.get(key)
    if (queue === undefined) this.pending.set(key, [{ seq, at: Date.now() }])
    else queue.push({ seq, at: Date.now() })
    this.size++
  }

  take (req: AuthZRequest): number | null {
    const key = keyOf(req)
    const queue = this.pending.get(key)
    const first = queue?.shift()
    if (first === undefined) return null
    this.size--
    if (queue!.length === 0) this.pending.delete(key)
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

/** Long keys (a caller's long URIs or headers) are kept as their sha256, so pending calls stay small. */
function keyOf (req: AuthZRequest): string {
  const key = `${req.RequestMethod ?? ''} ${req.RequestUri ?? ''} ${req.User ?? ''} ${header(req.RequestHeaders ?? {}, TOKEN_HEADER) ?? ''}`
  return key.length <= 2048 ? key : createHash('sha256').update(key).digest('base64')
}

// The SSH bridge's start-up limits as the policy writes them (`bridge.maxStartups`, `bridge.perSourceNetBlockSize`),
// read the way sshd reads MaxStartups and PerSourceNetBlockSize; src/bridge/startup-limits.ts enforces them.

/** `start:rate:full`: from `start` unauthenticated connections on, refuse with `rate`% probability, rising
 * linearly to 100% at `full`. */
export interface MaxStartups {
  readonly start: number
  readonly rate: number
  readonly full: number
}

export interface StartupLimits {
  readonly maxStartups: MaxStartups
  /** Unauthenticated connections allowed from one source block at once. */
  readonly perSource: number
  /** Leading bits of an address that make its source block (sshd's PerSourceNetBlockSize). */
  readonly netBlock: { readonly v4: number, readonly v6: number }
}

/** `10:30:100` or `10` (start = full = 10, as sshd reads it); null when the text is not of that shape. */
export function parseMaxStartups (text: string): MaxStartups | null {
  const match = /^(\d+)(?::(\d+):(\d+))?$/.exec(text)
  if (match === null) return null
  const start = Number(match[1])
  return match[2] === undefined
    ? { start, rate: 100, full: start }
    : { start, rate: Number(match[2]), full: Number(match[3]) }
}

/** What is wrong with a MaxStartups value, or null when it can be used. */
export function maxStartupsProblem (text: string): string | null {
  const parsed = parseMaxStartups(text)
  if (parsed === null) return 'must be "start:rate:full" (e.g. "10:30:100") or a single number'
  if (parsed.full < 1) return 'full must be at least 1, or nobody could ever log in'
  if (parsed.start > parsed.full) return `start (${parsed.start}) must not be above full (${parsed.full})`
  if (parsed.rate < 1 || parsed.rate > 100) return `rate (${parsed.rate}) must be a percentage from 1 to 100`
  return null
}

/** `32:64` or `32` (IPv6 then 128, as sshd reads it); null when the text is not of that shape or out of range. */
export function parseNetBlockSize (text: string): { v4: number, v6: number } | null {
  const match = /^(\d+)(?::(\d+))?$/.exec(text)
  if (match === null) return null
  const v4 = Number(match[1])
  const v6 = match[2] === undefined ? 128 : Number(match[2])
  if (v4 > 32 || v6 > 128) return null
  return { v4, v6 }
}

// Durations as people write them (`90`, `30s`, `15m`, `8h`, `2d`, `4w`) and as portcullis prints them back. One
// reader and two printers for the whole code base: the policy, token lifetimes, elevation TTLs, the audit CLI's
// relative times and the bridge's limits all read and print the same way.

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const
type Unit = keyof typeof UNIT_MS

/** `N` or `N` and a unit: s, m, h, d (and w where `weeks` is allowed). A bare number is seconds. */
const DURATION = /^(\d+)([smhdw]?)$/

/** The same grammar without weeks, as the policy schema's `pattern` for every duration setting. */
export const POLICY_DURATION_PATTERN = '^[0-9]+[smhd]?$'

/**
 * `text` in milliseconds, or null when it is not a duration. Weeks (`4w`) only with `{ weeks: true }` (the
 * audit CLI's relative times); the policy schema has no weeks.
 */
export function parseDuration (text: string, options: { weeks?: boolean } = {}): number | null {
  const match = DURATION.exec(text.trim())
  if (match === null || (match[2] === 'w' && options.weeks !== true)) return null
  return Number(match[1]) * UNIT_MS[(match[2] || 's') as Unit]
}

/** A policy duration in milliseconds (the schema has already checked its shape; anything else is 0). */
export function durationMs (text: string): number {
  return parseDuration(text) ?? 0
}

/** A configured duration as the policy would write it, in the largest unit that is exact (`1d`, `8h`, `90m`,
 * `45s`), so that a hint can be pasted back as an option. */
export function durationText (ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  }
  return `${Math.ceil(ms / 1000)}s`
}

/** A measured time for people, rounded to what a table needs: 850ms, 12s, 3m05s, 2h03m. */
export function formatElapsed (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`
}

// How report.html writes times and durations. Durations are written when the page is made; times are written in
// UTC there and turned into the viewer's local time by the page's own script (formatLocalTime is inlined into it,
// so it must stay self-contained: no imports, no other names from this file).

const UNITS: ReadonlyArray<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]]

/** A span for people, in its two largest units: `850 ms`, `12 s`, `2 min 5 s`, `3 h 4 min`, `2 d 1 h`. */
export function humanDuration (ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-'
  if (ms < 1000) return `${Math.round(ms)} ms`
  let rest = Math.round(ms / 1000) * 1000
  const parts: string[] = []
  for (const [unit, size] of UNITS) {
    if (parts.length === 0 && rest < size) continue
    const n = Math.floor(rest / size)
    rest -= n * size
    if (n > 0) parts.push(`${n} ${unit}`)
    else if (parts.length > 0) break
    if (parts.length === 2) break
  }
  return parts.join(' ')
}

/** An ISO time as the page shows it before its script runs, and to readers without one: `2026-12-06 10:02:33 UTC`. */
export function utcText (iso: string): string {
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return iso
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + ' UTC'
}

/**
 * `ms` in `timeZone` (the viewer's, when undefined) as `2026-12-06 11:02:33 CET`: the zone as `locale` abbreviates
 * it (`GMT+1` where the locale has no abbreviation for it). Runs in the page.
 */
export function formatLocalTime (ms: number, timeZone?: string, locale?: string): string {
  const options: Intl.DateTimeFormatOptions = {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short'
  }
  if (timeZone !== undefined) options.timeZone = timeZone
  const part: Record<string, string> = {}
  for (const p of new Intl.DateTimeFormat(locale ?? 'en-US', options).formatToParts(new Date(ms))) part[p.type] = p.value
  let zone = part.timeZoneName ?? ''
  if (locale === undefined) {
    // The viewer's own language knows the viewer's zone's abbreviation best (en-US writes GMT+1 for CET).
    try {
      const own = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short', ...(timeZone !== undefined ? { timeZone } : {}) })
        .formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')
      if (own !== undefined && /^[A-Za-z]{2,5}$/.test(own.value)) zone = own.value
    } catch (err) {}
  }
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}:${part.second} ${zone}`
}

// The pure part of report.html's own script: which records rows a filter keeps, which of them a page shows, and how
// a recording made without a pty is shown. Each function is inlined into the page with toString(), so each must
// stay self-contained (no imports, no other names from this file); Node tests run the same functions.

/** What the page reads from one records row (its data- attributes and its text). */
export interface RowFacts {
  user: string
  decision: string
  action: string
  kind: string
  /** ms since the epoch. */
  time: number
  /** One of portcullis's own look-ups, or a ping. */
  own: boolean
  /** The row's text, lower case, for the free-text filter. */
  text: string
}

/** The filter form's values; an empty string means any. */
export interface RowFilter {
  user: string
  decision: string
  action: string
  kind: string
  text: string
  /** ms since the epoch, inclusive; null: no bound. */
  from: number | null
  to: number | null
  showOwn: boolean
}

export function rowMatches (row: RowFacts, filter: RowFilter): boolean {
  if (row.own && !filter.showOwn) return false
  if (filter.user !== '' && row.user !== filter.user) return false
  if (filter.decision !== '' && row.decision !== filter.decision) return false
  if (filter.kind !== '' && row.kind !== filter.kind) return false
  // An action filter ending in `.` or `*` takes the family (`container.`, `container.*`).
  if (filter.action !== '') {
    const family = /[.*]$/.test(filter.action) ? filter.action.replace(/\*$/, '') : null
    if (family !== null ? !row.action.startsWith(family) : row.action !== filter.action) return false
  }
  if (filter.from !== null && row.time < filter.from) return false
  if (filter.to !== null && row.time > filter.to) return false
  if (filter.text !== '') {
    for (const word of filter.text.toLowerCase().split(/\s+/)) if (word !== '' && !row.text.includes(word)) return false
  }
  return true
}

/** Rows `start` (inclusive) to `end` (exclusive) of `total` matching rows make page `page` (0-based, clamped). */
export function pageSlice (total: number, page: number, size: number): { page: number, pages: number, start: number, end: number } {
  const pages = Math.max(1, Math.ceil(total / size))
  const clamped = Math.min(Math.max(0, Math.floor(page)), pages - 1)
  return { page: clamped, pages, start: clamped * size, end: Math.min(total, (clamped + 1) * size) }
}

/**
 * A recording made without a pty, for the player: its program wrote bare `\n`, which a terminal (and the player's
 * emulator) takes as "down one line" without going back to column 0, so lines would step right like a staircase.
 * Output events get `\r\n`, as a pty's line discipline would have written; the header, input and resizes are kept.
 */
export function displayCast (text: string): string {
  const lines = text.split('\n')
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line === '') continue
    let event: unknown
    try {
      event = JSON.parse(line)
    } catch (err) {
      continue
    }
    if (!Array.isArray(event) || event[1] !== 'o' || typeof event[2] !== 'string') continue
    event[2] = event[2].replace(/\r?\n/g, '\r\n')
    lines[i] = JSON.stringify(event)
  }
  return lines.join('\n')
}

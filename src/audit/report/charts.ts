// The report's charts, drawn as inline SVG (no chart library, nothing fetched): allow and deny stacked, with the
// exact counts in each bar's tooltip (<title>) so a reviewer can read numbers, not just shapes.

import type { AllowDeny } from './collect.js'
import { escapeHtml } from './html.js'

export interface ChartRow extends AllowDeny {
  label: string
}

const ALLOW_COLOR = '#3a8f4b'
const DENY_COLOR = '#c23b22'

/**
 * Decisions over time, in buckets sized to the range: hours up to three days, days up to half a year, months
 * beyond. Empty buckets are kept, so gaps in activity show as gaps.
 */
export function timeBuckets (byHour: ReadonlyMap<string, AllowDeny>, firstTime: string, lastTime: string): { unit: 'hour' | 'day' | 'month', rows: ChartRow[] } {
  const first = Date.parse(firstTime.slice(0, 13) + ':00:00Z')
  const last = Date.parse(lastTime.slice(0, 13) + ':00:00Z')
  const hours = Math.max(0, Math.round((last - first) / 3_600_000))
  const unit = hours <= 72 ? 'hour' : hours <= 24 * 183 ? 'day' : 'month'
  const keyLength = unit === 'hour' ? 13 : unit === 'day' ? 10 : 7
  const rows = new Map<string, ChartRow>()
  // Every bucket from first to last, so the axis is even.
  for (let t = first; t <= last; t += 3_600_000) {
    const key = new Date(t).toISOString().slice(0, keyLength)
    if (!rows.has(key)) rows.set(key, { label: unit === 'hour' ? key.replace('T', ' ') + ':00' : key, allow: 0, deny: 0 })
  }
  for (const [hour, counts] of byHour) {
    const row = rows.get(hour.slice(0, keyLength))
    if (row === undefined) continue
    row.allow += counts.allow
    row.deny += counts.deny
  }
  return { unit, rows: [...rows.values()] }
}

/** The `limit` rows with the most decisions, most first, then the rest summed into one `others` row. */
export function topRows (map: ReadonlyMap<string, AllowDeny>, limit: number): ChartRow[] {
  const sorted = [...map].map(([label, counts]) => ({ label, ...counts }))
    .sort((a, b) => (b.allow + b.deny) - (a.allow + a.deny) || (a.label < b.label ? -1 : 1))
  if (sorted.length <= limit) return sorted
  const rest = sorted.slice(limit)
  return [...sorted.slice(0, limit), {
    label: `${rest.length} others`,
    allow: rest.reduce((sum, row) => sum + row.allow, 0),
    deny: rest.reduce((sum, row) => sum + row.deny, 0)
  }]
}

/** Vertical stacked bars, one per time bucket. */
export function timeChart (rows: ChartRow[], title: string): string {
  const width = 900
  const height = 220
  const left = 48
  const bottom = 40
  const top = 10
  const plotWidth = width - left - 10
  const plotHeight = height - top - bottom
  const max = niceMax(Math.max(4, ...rows.map((row) => row.allow + row.deny)))
  const step = plotWidth / Math.max(1, rows.length)
  const barWidth = Math.min(40, Math.max(1, step * 0.8))
  const scale = (value: number): number => value / max * plotHeight
  const parts: string[] = [svgOpen(width, height, title), axis(left, top, plotWidth, plotHeight, max)]
  // At most ~12 labels on the axis, whatever the number of bars.
  const labelEvery = Math.max(1, Math.ceil(rows.length / 12))
  rows.forEach((row, i) => {
    const x = left + i * step + (step - barWidth) / 2
    const allowHeight = scale(row.allow)
    const denyHeight = scale(row.deny)
    const base = top + plotHeight
    parts.push(`<g><title>${escapeHtml(`${row.label}: ${row.allow} allowed, ${row.deny} denied`)}</title>` +
      `<rect x="${fixed(x)}" y="${fixed(base - allowHeight)}" width="${fixed(barWidth)}" height="${fixed(allowHeight)}" fill="${ALLOW_COLOR}"/>` +
      `<rect x="${fixed(x)}" y="${fixed(base - allowHeight - denyHeight)}" width="${fixed(barWidth)}" height="${fixed(denyHeight)}" fill="${DENY_COLOR}"/></g>`)
    if (i % labelEvery === 0) {
      parts.push(`<text x="${fixed(x + barWidth / 2)}" y="${height - bottom + 14}" font-size="10" text-anchor="middle">${escapeHtml(row.label)}</text>`)
    }
  })
  parts.push(legend(left, height - 12), '</svg>')
  return parts.join('')
}

/** Horizontal stacked bars, one per row, with the counts written beside each bar. */
export function barChart (rows: ChartRow[], title: string): string {
  const rowHeight = 20
  const labelWidth = 220
  const width = 900
  const top = 6
  const height = top + rows.length * rowHeight + 30
  const plotWidth = width - labelWidth - 120
  const max = Math.max(1, ...rows.map((row) => row.allow + row.deny))
  const scale = (value: number): number => value / max * plotWidth
  const parts: string[] = [svgOpen(width, height, title)]
  rows.forEach((row, i) => {
    const y = top + i * rowHeight
    const allowWidth = scale(row.allow)
    const denyWidth = scale(row.deny)
    parts.push(`<g><title>${escapeHtml(`${row.label}: ${row.allow} allowed, ${row.deny} denied`)}</title>` +
      `<text x="${labelWidth - 6}" y="${y + 14}" font-size="12" text-anchor="end">${escapeHtml(truncate(row.label, 34))}</text>` +
      `<rect x="${labelWidth}" y="${y + 3}" width="${fixed(allowWidth)}" height="${rowHeight - 6}" fill="${ALLOW_COLOR}"/>` +
      `<rect x="${fixed(labelWidth + allowWidth)}" y="${y + 3}" width="${fixed(denyWidth)}" height="${rowHeight - 6}" fill="${DENY_COLOR}"/>` +
      `<text x="${fixed(labelWidth + allowWidth + denyWidth + 6)}" y="${y + 14}" font-size="11">${row.allow} / ${row.deny}</text></g>`)
  })
  parts.push(legend(labelWidth, height - 10), '</svg>')
  return parts.join('')
}

function svgOpen (width: number, height: number, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>`
}

function axis (left: number, top: number, plotWidth: number, plotHeight: number, max: number): string {
  const parts: string[] = []
  for (let i = 0; i <= 4; i++) {
    const value = max * i / 4
    const y = top + plotHeight - plotHeight * i / 4
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${fixed(y)}" y2="${fixed(y)}" stroke="#ddd"/>` +
      `<text x="${left - 4}" y="${fixed(y + 4)}" font-size="10" text-anchor="end">${Number.isInteger(value) ? value : value.toFixed(1)}</text>`)
  }
  return parts.join('')
}

function legend (x: number, y: number): string {
  return `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${ALLOW_COLOR}"/><text x="${x + 14}" y="${y}" font-size="11">allowed</text>` +
    `<rect x="${x + 80}" y="${y - 9}" width="10" height="10" fill="${DENY_COLOR}"/><text x="${x + 94}" y="${y}" font-size="11">denied</text>`
}

/** A round number at or above `value`, for the top of the axis. */
function niceMax (value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value))
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * magnitude >= value) return factor * magnitude
  return 10 * magnitude
}

function fixed (value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1)
}

function truncate (text: string, length: number): string {
  return text.length <= length ? text : text.slice(0, length - 1) + '…'
}

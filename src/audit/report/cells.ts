// Table cells of the report, one treatment per sort of value, so no cell breaks a word in two:
// - words and codes (Seq, ROLE_DENIES, container.create) never wrap;
// - long values (IDs, URIs, resources, commands) stay on one line, cut with an ellipsis, the whole value in the
//   cell's title and shown in full (wrapping anywhere) when the cell is clicked;
// - prose (reasons) wraps between words only;
// - times are <time> elements the page's script writes in the viewer's zone.

import { escapeHtml } from './html.js'
import { utcText } from './format.js'

/** A value of one word: a seq, a code, an action, a decision, a user name. */
export function wordCell (value: string): string {
  return `<td class="word">${escapeHtml(value)}</td>`
}

/** A value that may be long and has no spaces worth wrapping at. */
export function longCell (value: string): string {
  if (value.length <= 24) return `<td class="word">${escapeHtml(value)}</td>`
  return `<td class="long"><div class="clip" title="${escapeHtml(value)}" tabindex="0">${escapeHtml(value)}</div></td>`
}

/** Sentences: wrapped between words only. A browser also breaks at punctuation inside a word (`"<why>"`,
 * `a.b`), so such words (up to a line's length) are held together; a longer one may break after `/`, `?` or `&`. */
export function proseCell (value: string): string {
  return `<td class="prose">${value.split(/(\s+)/).map(proseWord).join('')}</td>`
}

function proseWord (word: string): string {
  if (!/[^\p{L}\p{N}\s]/u.test(word.slice(0, -1))) return escapeHtml(word)
  if (word.length <= 60) return `<span class="nw">${escapeHtml(word)}</span>`
  return word.split(/(?<=[/?&])/).map((part) => `<span class="nw">${escapeHtml(part)}</span>`).join('<wbr>')
}

/** A moment; `-` when unknown. */
export function timeCell (iso: string | null, fallback = '-'): string {
  return `<td class="word">${iso === null ? escapeHtml(fallback) : timeElement(iso)}</td>`
}

export function timeElement (iso: string): string {
  return `<time datetime="${escapeHtml(iso)}" title="${escapeHtml(iso)}">${escapeHtml(utcText(iso))}</time>`
}

/** Already-built HTML (a button, a link). */
export function htmlCell (html: string, className = 'word'): string {
  return `<td class="${className}">${html}</td>`
}

/** A table with a header row; `rows` are rows of cells built above. */
export function table (headings: string[], rows: string[][], className: string, rowAttributes?: (index: number) => string): string {
  if (rows.length === 0) return '<p>None.</p>'
  return `<div class="table-wrap"><table class="${className}"><thead><tr>${headings.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>\n` +
    rows.map((row, i) => `<tr${rowAttributes?.(i) ?? ''}>${row.join('')}</tr>`).join('\n') + '</tbody></table></div>'
}

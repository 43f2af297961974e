// The report's records table: every record of the range but responses (each decision row carries the status its
// response had), with a filter form and pages run by the page's own script. portcullis's own look-ups and pings
// are rows too, hidden until asked for. Filtering hides rows with one class and paging with another, so printing
// shows every row the filter keeps.

import type { AuditRecord } from '../record.js'
import { isHousekeeping, type ReportCollector } from './collect.js'
import { longCell, proseCell, table, timeCell, wordCell } from './cells.js'
import { escapeHtml } from './html.js'

/** Rows a page shows unless the reader picks another size. */
const RECORDS_PAGE_SIZE = 100

export function recordsSection (c: ReportCollector): string {
  const rows = c.tableRows
  const shown = rows.length
  const own = rows.filter(isHousekeeping).length
  const folded = c.foldedResponses > 0 ? ` The ${c.foldedResponses} responses are folded into the decision they answer (its Response column).` : ''
  const note = shown + c.foldedResponses < c.records
    ? `<p class="note">The first ${shown} records of ${c.records} (not counting responses); all of them are in <a href="records.csv">records.csv</a> and <a href="records.jsonl">records.jsonl</a>.${folded}</p>`
    : `<p class="note">All records; also in <a href="records.csv">records.csv</a> and <a href="records.jsonl">records.jsonl</a>.${folded}</p>`
  return `<section id="records"><h2>Records (${c.records})</h2>${note}` +
    filterForm(rows, own) +
    table(['Seq', 'Time', 'Kind', 'User', 'Action', 'Project', 'Resource', 'Decision', 'Response', 'Code', 'Reason'],
      rows.map((r) => recordCells(r, c.responses)), 'records', (i) => rowAttributes(rows[i]!)) +
    '<nav class="pager" id="record-pager" aria-label="Pages of records" hidden>' +
    '<button type="button" data-page="prev">Previous page</button> <span id="record-page"></span> <button type="button" data-page="next">Next page</button></nav>' +
    '</section>\n'
}

function recordCells (r: AuditRecord, responses: ReadonlyMap<number, number | null>): string[] {
  return [
    wordCell(String(r.seq)), timeCell(r.time), wordCell(r.kind), longCell(r.user ?? '-'), wordCell(r.action ?? '-'), longCell(r.project ?? '-'),
    longCell(r.resource ?? '-'), wordCell(r.decision ?? '-'), wordCell(responseText(r, responses)), wordCell(r.code ?? '-'), proseCell(r.reason ?? '')
  ]
}

function responseText (r: AuditRecord, responses: ReadonlyMap<number, number | null>): string {
  if (r.kind === 'response') return r.status !== undefined ? `${r.status} (to ${r.reqSeq ?? '?'})` : '-'
  if (!responses.has(r.seq)) return ''
  return String(responses.get(r.seq) ?? '-')
}

function rowAttributes (r: AuditRecord): string {
  const t = Date.parse(r.time)
  return ` data-user="${escapeHtml(r.user ?? '')}" data-decision="${escapeHtml(r.decision ?? 'none')}" data-action="${escapeHtml(r.action ?? '')}"` +
    ` data-kind="${escapeHtml(r.kind)}" data-t="${Number.isNaN(t) ? 0 : t}"${isHousekeeping(r) ? ' data-own="1" class="own"' : ''}` +
    (r.decision === 'deny' ? ' data-deny="1"' : '')
}

/** The form the page's script reads; hidden until the script runs (without it, every row shows). */
function filterForm (rows: readonly AuditRecord[], own: number): string {
  const users = distinct(rows.map((r) => r.user ?? ''))
  const actions = distinct(rows.map((r) => r.action ?? ''))
  const kinds = distinct(rows.map((r) => r.kind))
  const options = (values: string[]): string => values.filter((v) => v !== '').map((v) => `<option value="${escapeHtml(v)}">${escapeHtml(v)}</option>`).join('')
  return '<form id="record-filter" class="filters" role="search" aria-label="Filter the records" hidden>' +
    `<label>User <select name="user"><option value="">any</option>${options(users)}</select></label>` +
    '<label>Decision <select name="decision"><option value="">any</option><option value="allow">allow</option><option value="deny">deny</option><option value="none">none (not a decision)</option></select></label>' +
    `<label>Kind <select name="kind"><option value="">any</option>${options(kinds)}</select></label>` +
    '<label>Action <input name="action" list="record-actions" size="18" placeholder="container.create, or container."></label>' +
    `<datalist id="record-actions">${options(actions)}</datalist>` +
    '<label>Text <input type="search" name="text" size="16" placeholder="any words"></label>' +
    '<label>From <input type="datetime-local" name="from" step="1"></label>' +
    '<label>To <input type="datetime-local" name="to" step="1"></label>' +
    `<label><input type="checkbox" name="own"> portcullis's own look-ups and pings (${own})</label>` +
    `<label>Rows a page <select name="size"><option value="50">50</option><option value="${RECORDS_PAGE_SIZE}" selected>${RECORDS_PAGE_SIZE}</option><option value="500">500</option></select></label>` +
    '<button type="reset">Clear</button>' +
    '</form><p class="note" id="record-count" aria-live="polite"></p>'
}

function distinct (values: string[]): string[] {
  return [...new Set(values)].sort()
}

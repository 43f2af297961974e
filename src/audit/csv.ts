// Audit records as CSV for spreadsheets: RFC 4180 quoting, one row per record, columns in a fixed order.
//
// Record values come from whoever called Docker (user names, container names, URIs, labels), so a cell must
// never be taken for a formula when the file is opened: cells that start with = + - @ TAB or CR (after any
// spaces) get a leading single quote, as OWASP advises for CSV injection. The CSV is for reading; the JSON
// lines export is the one whose lines verify against their hashes.

import type { AuditRecord } from './record.js'

export const CSV_COLUMNS = [
  'seq', 'time', 'kind', 'user', 'authMethod', 'action', 'project', 'role', 'resource', 'method', 'uri', 'decision',
  'code', 'reason', 'session', 'status', 'reqSeq', 'fields', 'prevHash', 'hash'
] as const

/** The header row, CRLF-terminated like every row. */
export const CSV_HEADER = CSV_COLUMNS.join(',') + '\r\n'

/** One record as a CSV row, CRLF-terminated. */
export function csvRow (record: AuditRecord): string {
  const session = record.fields?.session
  return csvCell(record.seq) + ',' +
    csvCell(record.time) + ',' +
    csvCell(record.kind) + ',' +
    csvCell(record.user) + ',' +
    csvCell(record.authMethod) + ',' +
    csvCell(record.action) + ',' +
    csvCell(record.project) + ',' +
    csvCell(record.role) + ',' +
    csvCell(record.resource) + ',' +
    csvCell(record.method) + ',' +
    csvCell(record.uri) + ',' +
    csvCell(record.decision) + ',' +
    csvCell(record.code) + ',' +
    csvCell(record.reason) + ',' +
    csvCell(typeof session === 'string' ? session : null) + ',' +
    csvCell(record.status) + ',' +
    csvCell(record.reqSeq) + ',' +
    csvCell(record.fields !== undefined ? JSON.stringify(record.fields) : null) + ',' +
    csvCell(record.prevHash) + ',' +
    csvCell(record.hash) + '\r\n'
}

const FORMULA_START = /^ *[=+\-@\t\r]/
const NEEDS_QUOTES = /[",\r\n]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** One cell: empty for null/undefined, formula-neutralized, lone surrogates replaced with U+FFFD (they cannot be
 * written as UTF-8), quoted when it holds a quote, comma or line break. */
export function csvCell (value: string | number | null | undefined): string {
  if (value === null || value === undefined) return ''
  let text = typeof value === 'string' ? value : String(value)
  if (FORMULA_START.test(text)) text = "'" + text
  text = text.replace(LONE_SURROGATE, '\uFFFD')
  return NEEDS_QUOTES.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text
}

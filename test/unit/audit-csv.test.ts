import { describe, expect, it } from 'vitest'
import { CSV_COLUMNS, CSV_HEADER, csvCell, csvRow } from '../../src/audit/csv.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { ExportRecordCounter } from '../../src/cli/export-progress.js'

/** An RFC 4180 reader, to check what a spreadsheet would see. */
function parseCsv (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++ } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') {
      expect(cell, 'a quote may only open a cell').toBe('')
      quoted = true
    } else if (c === ',') {
      row.push(cell)
      cell = ''
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
      i++
    } else {
      expect(c, 'a bare CR or LF outside quotes').not.toMatch(/[\r\n]/)
      cell += c
    }
  }
  expect(quoted).toBe(false)
  expect(row.length === 0 && cell === '').toBe(true)
  return rows
}

const record = (overrides: Partial<AuditRecord> = {}): AuditRecord => ({
  seq: 7,
  time: '2026-03-01T10:00:00.000Z',
  kind: 'decision',
  user: 'alice',
  authMethod: 'jwt',
  tokenId: 'tok-1',
  action: 'container.create',
  project: 'payments',
  resource: 'container pay-1 (6bb21ffec17d)',
  method: 'POST',
  uri: '/v1.41/containers/create?name=pay-1',
  decision: 'allow',
  reason: 'role developer allows container.create',
  code: 'OK',
  role: 'developer',
  fields: { image: 'busybox', session: 's-0123456789abcdef' },
  prevHash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
  ...overrides
})

describe('CSV export', () => {
  it('has a fixed header and one CRLF-terminated row per record, in column order', () => {
    expect(CSV_HEADER).toBe('seq,time,kind,user,authMethod,action,project,role,resource,method,uri,decision,code,reason,session,status,reqSeq,fields,prevHash,hash\r\n')
    const [header, row] = parseCsv(CSV_HEADER + csvRow(record()))
    expect(header).toEqual([...CSV_COLUMNS])
    expect(Object.fromEntries(CSV_COLUMNS.map((column, i) => [column, row![i]]))).toEqual({
      seq: '7', time: '2026-03-01T10:00:00.000Z', kind: 'decision', user: 'alice', authMethod: 'jwt', action: 'container.create',
      project: 'payments', role: 'developer', resource: 'container pay-1 (6bb21ffec17d)', method: 'POST',
      uri: '/v1.41/containers/create?name=pay-1', decision: 'allow', code: 'OK', reason: 'role developer allows container.create',
      session: 's-0123456789abcdef', status: '', reqSeq: '', fields: '{"image":"busybox","session":"s-0123456789abcdef"}',
      prevHash: 'a'.repeat(64), hash: 'b'.repeat(64)
    })
  })

  it('leaves missing values empty and writes numbers as they are', () => {
    const response = record({ kind: 'response', user: null, action: null, project: null, resource: null, decision: null, reason: null, reqSeq: 6, status: 204 })
    delete response.code
    delete response.role
    delete response.fields
    const [row] = parseCsv(csvRow(response))
    expect(row![CSV_COLUMNS.indexOf('status')]).toBe('204')
    expect(row![CSV_COLUMNS.indexOf('reqSeq')]).toBe('6')
    for (const column of ['user', 'action', 'project', 'role', 'code', 'session', 'fields'] as const) expect(row![CSV_COLUMNS.indexOf(column)], column).toBe('')
  })

  it('cannot be made to run a formula: = + - @ TAB CR at the start (after spaces) get a quote first', () => {
    const hostile = ["=cmd|' /C calc'!A0", '+1+1', '-2+3', '@SUM(A1:A9)', '\t=1', '\r=1', '  =HYPERLINK("http://x")', ' \t1']
    for (const value of hostile) {
      const [row] = parseCsv(csvRow(record({ user: value, resource: value, uri: value })))
      for (const column of ['user', 'resource', 'uri'] as const) {
        expect(row![CSV_COLUMNS.indexOf(column)], JSON.stringify(value)).toBe("'" + value)
      }
    }
    // In the middle of a value they are harmless and kept as they are.
    expect(csvCell('a=b')).toBe('a=b')
    expect(csvCell('x-1')).toBe('x-1')
    expect(csvCell('')).toBe('')
  })

  it('quotes quotes, commas and line breaks, so a value stays one cell', () => {
    const values = ['say "hi"', 'a,b', 'line1\nline2', 'line1\r\nline2', '"', ',', '\n', '"=1"']
    for (const value of values) {
      const rows = parseCsv(csvRow(record({ reason: value })))
      expect(rows).toHaveLength(1)
      expect(rows[0]).toHaveLength(CSV_COLUMNS.length)
      expect(rows[0]![CSV_COLUMNS.indexOf('reason')], JSON.stringify(value)).toBe(value)
    }
    expect(csvCell('say "hi"')).toBe('"say ""hi"""')
  })

  it('replaces lone surrogates (they have no UTF-8 form) and keeps real pairs', () => {
    expect(csvCell('a\uD800b')).toBe('a\uFFFDb')
    expect(csvCell('a\uDC00b')).toBe('a\uFFFDb')
    expect(csvCell('\uDC00\uD800')).toBe('\uFFFD\uFFFD')
    expect(csvCell('end\uD83D')).toBe('end\uFFFD')
    expect(csvCell('ok \uD83D\uDE00')).toBe('ok \uD83D\uDE00')
    const row = csvRow(record({ user: 'x\uD800', fields: { note: 'y\uDFFF' } }))
    expect(Buffer.from(row, 'utf8').toString('utf8')).toBe(row) // survives UTF-8 unchanged
    // JSON.stringify already escapes lone surrogates in fields.
    expect(parseCsv(row)[0]![CSV_COLUMNS.indexOf('fields')]).toBe('{"note":"y\\udfff"}')
  })

  it('puts fields as compact JSON, quoted, so hostile text inside it stays inert', () => {
    const [row] = parseCsv(csvRow(record({ fields: { cmd: ["=cmd|' /C calc'!A0"], env: ['A=1,2'], text: 'x\ny' } })))
    const fields = row![CSV_COLUMNS.indexOf('fields')]!
    expect(fields.startsWith('{')).toBe(true)
    expect(JSON.parse(fields)).toEqual({ cmd: ["=cmd|' /C calc'!A0"], env: ['A=1,2'], text: 'x\ny' })
  })
})

describe('ExportRecordCounter', () => {
  const rows = [record(), record({ reason: 'two\r\nlines, "quoted"' }), record({ fields: { a: '"\n"' } }), record({ user: '=1' })]
  const csv = CSV_HEADER + rows.map(csvRow).join('')
  const jsonl = rows.map((r) => JSON.stringify(r) + '\n').join('')

  it('counts CSV rows, not line breaks inside quoted cells, however the bytes are cut', () => {
    const bytes = Buffer.from(csv)
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const counter = new ExportRecordCounter('csv')
      counter.add(bytes.subarray(0, cut))
      expect(counter.add(bytes.subarray(cut)), `cut at ${cut}`).toBe(4)
    }
    const oneByOne = new ExportRecordCounter('csv')
    for (const byte of bytes) oneByOne.add(Uint8Array.of(byte))
    expect(oneByOne.records).toBe(4)
  })

  it('counts JSON lines', () => {
    const counter = new ExportRecordCounter('jsonl')
    const bytes = Buffer.from(jsonl)
    counter.add(bytes.subarray(0, 100))
    expect(counter.add(bytes.subarray(100))).toBe(4)
  })
})

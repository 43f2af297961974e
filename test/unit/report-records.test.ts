// The report's records table: responses folded into the decision they answer, portcullis's own look-ups and pings
// marked and kept out of the charts, the elevation story told per request, and the page's filter and pages.
import { describe, expect, it } from 'vitest'
import { ReportCollector } from '../../src/audit/report/collect.js'
import { displayCast, pageSlice, rowMatches, type RowFacts, type RowFilter } from '../../src/audit/report/page-logic.js'
import { PAGE_SCRIPT } from '../../src/audit/report/page-script.js'
import { recordsSection } from '../../src/audit/report/records-section.js'
import type { AuditRecord } from '../../src/audit/record.js'

let seq = 0
const record = (fields: Partial<AuditRecord>): AuditRecord => ({
  seq: ++seq, time: `2026-12-06T10:00:${String(seq % 60).padStart(2, '0')}.000Z`, kind: 'decision', user: null, authMethod: null, action: null, project: null,
  resource: null, method: null, uri: null, decision: null, reason: null, prevHash: '0'.repeat(64), hash: '0'.repeat(64), ...fields
})

describe('folding and setting apart', () => {
  it('a response becomes the status of the decision it answers, not a row of its own', () => {
    const c = new ReportCollector()
    const call = record({ user: 'alice', authMethod: 'jwt', action: 'container.list', decision: 'allow' })
    c.add(call)
    c.add(record({ kind: 'response', reqSeq: call.seq, status: 200, user: 'alice' }))
    const denied = record({ user: 'bob', authMethod: 'jwt', action: 'container.stop', decision: 'deny', code: 'ROLE_DENIES' })
    c.add(denied)
    expect(c.tableRows.map((r) => r.seq)).toEqual([call.seq, denied.seq])
    expect(c.responses.get(call.seq)).toBe(200)
    expect(c.foldedResponses).toBe(1)
    expect(c.records).toBe(3)
  })

  it('a response whose decision is before the range stays a row', () => {
    const c = new ReportCollector()
    c.add(record({ kind: 'response', reqSeq: 1, status: 204 }))
    expect(c.tableRows).toHaveLength(1)
    expect(c.foldedResponses).toBe(0)
  })

  it('own look-ups and pings are counted apart and left out of the charts\' series', () => {
    const c = new ReportCollector()
    c.add(record({ user: 'portcullis', authMethod: 'internal', action: 'container.inspect', decision: 'allow' }))
    c.add(record({ user: null, action: 'system.ping', decision: 'allow' }))
    c.add(record({ user: 'alice', authMethod: 'jwt', action: 'system.ping', decision: 'allow' }))
    c.add(record({ user: 'alice', authMethod: 'jwt', action: 'container.list', decision: 'allow' }))
    expect(c.ownLookups).toBe(1)
    expect(c.pings).toBe(2)
    expect(c.decisions.allow).toBe(4)
    expect([...c.byUser.keys()]).toEqual(['alice'])
    expect([...c.byAction.keys()]).toEqual(['container.list'])
    expect([...c.byHour.values()].reduce((n, v) => n + v.allow, 0)).toBe(1)
    expect(c.tableRows).toHaveLength(4)
  })

  it('an elevation request is told with its reason, approver, decision time, grant and end', () => {
    const c = new ReportCollector()
    const base = { kind: 'elevation' as const, user: 'alice', project: 'payments', role: 'operator' }
    const fields = { request: 'r-000000000001', role: 'operator', project: 'payments', heldRole: 'developer', ttlMs: 3_600_000, reason: 'INC-1: restart', decidedBy: null, autoApproved: false }
    c.add(record({ ...base, action: 'elevation.request', fields: { ...fields, by: 'alice' } }))
    const approve = record({ ...base, action: 'elevation.approve', fields: { ...fields, grant: 'g-000000000001', grantExpiresAt: '2026-12-06T11:00:00.000Z', decidedBy: 'ops', decisionReason: 'ok by lead', by: 'ops' } })
    c.add(approve)
    c.add(record({ ...base, action: 'elevation.revoke', fields: { ...fields, grant: 'g-000000000001', decidedBy: 'ops', by: 'carol' } }))
    c.add(record({ kind: 'elevation', user: 'bob', action: 'elevation.rate-limited', fields: { by: 'bob' } }))
    expect([...c.elevations.values()]).toEqual([expect.objectContaining({
      request: 'r-000000000001', user: 'alice', reason: 'INC-1: restart', heldRole: 'developer', role: 'operator', outcome: 'approved',
      decidedBy: 'ops', decidedAt: approve.time, decisionReason: 'ok by lead', grant: 'g-000000000001', ttlMs: 3_600_000,
      grantExpiresAt: '2026-12-06T11:00:00.000Z', endedHow: 'revoked', revokedBy: 'carol'
    })])
  })

  it('a session says whether it had a pty', () => {
    const c = new ReportCollector()
    c.add(record({ kind: 'session', action: 'session.start', user: 'alice', fields: { session: 's-00000000000000b1', tty: false, command: ['ls'] } }))
    expect(c.sessions.get('s-00000000000000b1')?.tty).toBe(false)
  })
})

const row = (facts: Partial<RowFacts>): RowFacts => ({ user: 'alice', decision: 'allow', action: 'container.list', kind: 'decision', time: 1000, own: false, text: 'alice container.list allow', ...facts })
const ANY: RowFilter = { user: '', decision: '', action: '', kind: '', text: '', from: null, to: null, showOwn: false }

describe('the page\'s filter', () => {
  it('an empty filter keeps every row but own look-ups and pings, until they are asked for', () => {
    expect(rowMatches(row({}), ANY)).toBe(true)
    expect(rowMatches(row({ own: true }), ANY)).toBe(false)
    expect(rowMatches(row({ own: true }), { ...ANY, showOwn: true })).toBe(true)
  })

  it('each field narrows exactly', () => {
    expect(rowMatches(row({}), { ...ANY, user: 'bob' })).toBe(false)
    expect(rowMatches(row({ user: 'bob' }), { ...ANY, user: 'bob' })).toBe(true)
    expect(rowMatches(row({}), { ...ANY, decision: 'deny' })).toBe(false)
    expect(rowMatches(row({ decision: 'none', kind: 'system' }), { ...ANY, decision: 'none', kind: 'system' })).toBe(true)
    expect(rowMatches(row({}), { ...ANY, kind: 'session' })).toBe(false)
  })

  it('an action is exact, or a family when it ends in . or *', () => {
    expect(rowMatches(row({}), { ...ANY, action: 'container.lis' })).toBe(false)
    expect(rowMatches(row({}), { ...ANY, action: 'container.' })).toBe(true)
    expect(rowMatches(row({}), { ...ANY, action: 'container.*' })).toBe(true)
    expect(rowMatches(row({}), { ...ANY, action: 'image.*' })).toBe(false)
  })

  it('free text needs every word, in any case; times are inclusive bounds', () => {
    expect(rowMatches(row({}), { ...ANY, text: 'ALICE allow' })).toBe(true)
    expect(rowMatches(row({}), { ...ANY, text: 'alice deny' })).toBe(false)
    expect(rowMatches(row({ time: 1000 }), { ...ANY, from: 1000, to: 1000 })).toBe(true)
    expect(rowMatches(row({ time: 999 }), { ...ANY, from: 1000 })).toBe(false)
    expect(rowMatches(row({ time: 1001 }), { ...ANY, to: 1000 })).toBe(false)
  })
})

describe('the page\'s pages', () => {
  it('slices rows into pages and clamps the page asked for', () => {
    expect(pageSlice(250, 0, 100)).toEqual({ page: 0, pages: 3, start: 0, end: 100 })
    expect(pageSlice(250, 2, 100)).toEqual({ page: 2, pages: 3, start: 200, end: 250 })
    expect(pageSlice(250, 7, 100)).toEqual({ page: 2, pages: 3, start: 200, end: 250 })
    expect(pageSlice(250, -1, 100)).toEqual({ page: 0, pages: 3, start: 0, end: 100 })
    expect(pageSlice(0, 0, 100)).toEqual({ page: 0, pages: 1, start: 0, end: 0 })
  })
})

describe('a recording without a pty, for the player', () => {
  const header = JSON.stringify({ version: 2, width: 80, height: 24, env: { TERM: '' } })
  it('output lines end in CR LF, so each starts at column 0; input and the header are kept', () => {
    const cast = [header, JSON.stringify([0.1, 'o', 'one\ntwo\r\nthree\n']), JSON.stringify([0.2, 'i', 'x\n']), ''].join('\n')
    const shown = displayCast(cast).split('\n')
    expect(shown[0]).toBe(header)
    expect(JSON.parse(shown[1]!)).toEqual([0.1, 'o', 'one\r\ntwo\r\nthree\r\n'])
    expect(JSON.parse(shown[2]!)).toEqual([0.2, 'i', 'x\n'])
    expect(shown[3]).toBe('')
  })

  it('a line that is not an event is left as it is', () => {
    expect(displayCast(`${header}\nnot json\n`)).toBe(`${header}\nnot json\n`)
  })
})

describe('the page script', () => {
  it('carries the functions the tests run, self-contained, and parses', () => {
    for (const name of ['function formatLocalTime', 'function rowMatches', 'function pageSlice', 'function displayCast']) expect(PAGE_SCRIPT).toContain(name)
    expect(PAGE_SCRIPT).not.toMatch(/\bimport\b|\brequire\(/)
    expect(() => new Function(PAGE_SCRIPT)).not.toThrow()
  })
})

describe('the records table\'s markup', () => {
  it('values from callers stay text in cells, titles and data- attributes', () => {
    const hostile = '"><script>alert(1)</script><x a="'
    const c = new ReportCollector()
    c.add(record({ user: hostile, authMethod: 'jwt', action: hostile, project: hostile, resource: hostile.repeat(2), decision: 'deny', reason: hostile, code: 'ROLE_DENIES' }))
    const html = recordsSection(c)
    expect(html).not.toContain('<script')
    expect(html).not.toContain('<x ')
    expect(html).toContain('data-user="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;x a=&quot;"')
    expect(html).toContain(`title="${'&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;x a=&quot;'.repeat(2)}"`)
  })

  it('a decision row carries its response\'s status; own look-ups are marked for the page to hide', () => {
    const c = new ReportCollector()
    const call = record({ user: 'alice', authMethod: 'jwt', action: 'container.list', decision: 'allow' })
    c.add(call)
    c.add(record({ kind: 'response', reqSeq: call.seq, status: 200 }))
    c.add(record({ user: 'portcullis', authMethod: 'internal', action: 'container.inspect', decision: 'allow' }))
    const html = recordsSection(c)
    expect(html.match(/<tr data-/g)).toHaveLength(2)
    expect(html).toMatch(/data-action="container\.list"[^>]*>.*<td class="word">200<\/td>/)
    expect(html).toMatch(/data-action="container\.inspect"[^>]*data-own="1"/)
    expect(html).toContain("portcullis's own look-ups and pings (1)")
  })
})

// Human output shows every control and format character as its escape, so a string a user chose cannot drive
// the reader's terminal or forge a line; JSON output stays the same JSON.
import { describe, expect, it } from 'vitest'
import { terminalSafeJson, visible, visibleLines } from '../../src/audit/terminal-text.js'
import { formatRecord, formatSessionTable } from '../../src/cli/audit-format.js'
import { formatRequestTable } from '../../src/cli/request.js'
import type { AuditRecord } from '../../src/audit/record.js'
import type { SessionSummary } from '../../src/audit/sessions.js'
import type { RequestView } from '../../src/elevation/routes.js'

const OSC52 = '\x1b]52;c;ZWNobyBwd25lZA==\x07'
const TITLE = '\x1b]0;root@prod\x07'
const FORGED = 'x\n42 2026-01-01T00:00:00.000Z ALLOW admin container.exec [payments]'
/** Every sort of character a terminal acts on or reorders. */
/** Anything a terminal acts on, other than the line feeds that end our own lines. */
const ACTIVE = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u
const HOSTILE = `a${OSC52}${TITLE}\r\u0007\u007f\u009b6n\u202eevil\u2066\u200f\u2028\ufeffz`

const record = (fields: Partial<AuditRecord>): AuditRecord => ({
  seq: 7, time: '2026-05-01T10:00:00.000Z', kind: 'session', user: null, authMethod: 'ssh', action: 'session.denied', project: null,
  resource: null, method: null, uri: null, decision: 'deny', reason: null, prevHash: '0'.repeat(64), hash: '1'.repeat(64), ...fields
})

describe('visible()', () => {
  it('shows C0, DEL, C1, bidi and format characters and line separators as escapes', () => {
    const shown = visible(HOSTILE)
    expect(shown).not.toMatch(ACTIVE)
    expect(shown).toBe('a\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x1b]0;root@prod\\x07\\x0d\\x07\\x7f\\x9b6n\\u202eevil\\u2066\\u200f\\u2028\\ufeffz')
  })

  it('leaves ordinary text, accents and emoji alone', () => {
    expect(visible('alice+web-1 ünïcödé ✓ 日本')).toBe('alice+web-1 ünïcödé ✓ 日本')
  })

  it('visibleLines keeps only the newlines', () => {
    expect(visibleLines('one\ntwo\x1b[2J\tthree')).toBe('one\ntwo\\x1b[2J\\x09three')
  })
})

describe('terminalSafeJson()', () => {
  it('escapes what JSON.stringify leaves raw (DEL, C1, U+2028/2029, bidi, tags beyond the BMP) and parses back to the same value', () => {
    const value = { user: HOSTILE, tag: 'flag\u{e0067}' }
    const json = terminalSafeJson(JSON.stringify(value))
    expect(json).not.toMatch(ACTIVE)
    expect(JSON.parse(json)).toEqual(value)
  })
})

describe('audit tail lines', () => {
  it('an unauthenticated SSH login name with OSC 52, a title and a newline stays on one visible line', () => {
    const line = formatRecord(record({ user: HOSTILE + FORGED, reason: `SSH login as "${FORGED}" failed`, fields: { session: 's-1' } }))
    expect(line.split('\n')).toHaveLength(1)
    expect(line).not.toMatch(ACTIVE)
    expect(line).toContain('\\x1b]52;c;')
    expect(line).toContain('x\\x0a42 2026-01-01T00:00:00.000Z ALLOW admin')
  })

  it('every kind of record escapes its strings: decisions, system, elevation, responses', () => {
    for (const kind of ['decision', 'system', 'elevation', 'response'] as const) {
      const line = formatRecord(record({ kind, user: FORGED, uri: `/v1.41/containers/${TITLE}/json`, reason: OSC52, action: 'container.inspect', fields: { request: FORGED, role: TITLE } }))
      expect(line, kind).not.toMatch(ACTIVE)
    }
  })
})

describe('tables', () => {
  it('audit sessions: user, container and command are escaped, and columns line up on what is shown', () => {
    const session = {
      session: 's-00000000000000a1', startedAt: '2026-05-01T10:00:00.000Z', user: `mallory${TITLE}`, project: 'payments', container: `web\u202e1`,
      containerId: null, command: ['printf', OSC52], tty: true, client: null, startSeq: 1, state: 'ended', durationMs: 1500, exitCode: 0, signal: null, endedBy: 'exit'
    } satisfies SessionSummary
    const table = formatSessionTable([session])
    expect(table.split('\n').filter((l) => l !== '')).toHaveLength(2)
    expect(table).not.toMatch(ACTIVE)
    expect(table).toContain('mallory\\x1b]0;root@prod\\x07')
  })

  it('request list: the requester\'s name and reason are escaped', () => {
    const request = {
      id: 'r-0123456789ab', user: `eve${OSC52}`, project: 'payments', role: 'operator', heldRole: null, ttlMs: 3_600_000,
      reason: `need it${FORGED}`, state: 'pending', createdAt: 0, pendingUntil: 3_600_000, active: false
    } as RequestView
    const table = formatRequestTable([request])
    expect(table.split('\n').filter((l) => l !== '')).toHaveLength(2)
    expect(table).not.toMatch(ACTIVE)
  })
})

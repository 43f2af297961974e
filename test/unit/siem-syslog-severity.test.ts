// The syslog output's severity for a record (documented in docs/siem.md): an alert record carries its alert's, a
// denial is notice, everything else info; a record cannot raise its own severity by a field unless it is an alert.
import { describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import { recordSeverity } from '../../src/siem/record-frames.js'

const record = (fields: Partial<AuditRecord>): AuditRecord => ({ seq: 1, time: '2026-12-06T00:00:00.000Z', kind: 'decision', user: 'alice', authMethod: null, action: 'container.list', project: null, resource: null, method: 'GET', uri: '/containers/json', decision: 'allow', reason: null, prevHash: '0'.repeat(64), hash: '1'.repeat(64), ...fields })

describe('syslog output severity', () => {
  it('allow is info, deny is notice, a system record is info', () => {
    expect(recordSeverity(record({}))).toBe('info')
    expect(recordSeverity(record({ decision: 'deny' }))).toBe('notice')
    expect(recordSeverity(record({ kind: 'system', action: 'portcullis.start', decision: null }))).toBe('info')
  })

  it('an alert record carries its alert\'s severity; a severity field elsewhere does not count', () => {
    expect(recordSeverity(record({ kind: 'system', action: 'alert.audit-write-failed', decision: null, fields: { severity: 'crit' } }))).toBe('crit')
    expect(recordSeverity(record({ kind: 'system', action: 'alert.disk-low', decision: null, fields: { severity: 'shouting' } }))).toBe('info')
    expect(recordSeverity(record({ fields: { severity: 'emerg' } }))).toBe('info')
  })
})

// Which records `audit tail` shows: --user, --decision and --action narrow it; the plugin's own look-ups, the
// bridge's housekeeping and system.ping are hidden (and counted) unless --all; the query string carries the filter
// to the daemon and back unchanged.
import { describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import { tailFilterFromQuery, tailFilterToParams, tailMatcher, type TailFilter } from '../../src/audit/tail-filter.js'

function record (fields: Partial<AuditRecord>): AuditRecord {
  return { seq: 1, time: '2026-12-06T10:00:00.000Z', kind: 'decision', user: 'alice', authMethod: 'jwt', action: 'container.create', project: 'payments', resource: null, method: 'POST', uri: '/v1.41/containers/create', decision: 'allow', reason: 'ok', prevHash: '0'.repeat(64), hash: '1'.repeat(64), ...fields }
}

const lookup = record({ user: 'portcullis', authMethod: 'internal', action: 'container.inspect', method: 'GET' })
const housekeeping = record({ user: 'portcullis', authMethod: 'bridge-housekeeping', action: 'container.list' })
const ping = record({ action: 'system.ping', method: 'HEAD', uri: '/_ping' })
const denied = record({ user: 'mallory', decision: 'deny', action: 'container.list' })
const allowed = record({})

describe('audit tail filters', () => {
  it('hides own look-ups, bridge housekeeping and pings by default, and shows them with all', () => {
    const hiding = tailMatcher({ all: false })
    expect([lookup, housekeeping, ping].map(hiding)).toEqual(['hidden', 'hidden', 'hidden'])
    expect([denied, allowed].map(hiding)).toEqual(['show', 'show'])
    expect([lookup, housekeeping, ping].map(tailMatcher({ all: true }))).toEqual(['show', 'show', 'show'])
  })

  it('narrows by user, decision and action glob; what a filter excludes is not counted as hidden', () => {
    expect([denied, allowed].map(tailMatcher({ all: false, decision: 'deny' }))).toEqual(['show', 'filtered'])
    expect([denied, allowed].map(tailMatcher({ all: false, user: 'alice' }))).toEqual(['filtered', 'show'])
    expect([denied, allowed, record({ action: null, kind: 'system' })].map(tailMatcher({ all: false, action: 'container.c*' }))).toEqual(['filtered', 'show', 'filtered'])
    expect(tailMatcher({ all: false, decision: 'deny' })(lookup)).toBe('filtered')
  })

  it('travels as a query string and back unchanged', () => {
    const filter: TailFilter = { user: 'alice', decision: 'deny', action: 'image.*', all: false }
    expect(tailFilterFromQuery(Object.fromEntries(tailFilterToParams(filter)))).toEqual(filter)
  })

  it('shows everything to a reader that does not ask to hide (other API clients), and refuses an unknown decision', () => {
    expect(tailFilterFromQuery({ n: '20' })).toEqual({ all: true })
    expect(tailFilterFromQuery({ decision: 'maybe' })).toBe('decision takes allow or deny')
  })
})

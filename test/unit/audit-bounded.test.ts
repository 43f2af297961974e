import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { boundDecision, MAX_RECORDED_ITEMS } from '../../src/audit/bounded.js'
import { MAX_RECORDED_TEXT } from '../../src/request/limits.js'

describe('boundDecision', () => {
  it('leaves small records as they are', () => {
    const fields = { cmd: ['true'] }
    expect(boundDecision('/_ping', 'ok', fields)).toEqual({ uri: '/_ping', reason: 'ok', fields })
  })

  it('keeps a prefix of a long URI and says what was cut', () => {
    const uri = '/_ping?' + 'a'.repeat(60_000)
    const out = boundDecision(uri, 'ok', null)
    expect(out.uri!.length).toBeLessThanOrEqual(MAX_RECORDED_TEXT + 1)
    expect(uri.startsWith(out.uri!.slice(0, -1))).toBe(true)
    expect(out.fields).toEqual({ cut: [{ at: 'uri', length: uri.length, sha256: createHash('sha256').update(uri).digest('hex') }] })
  })

  it('bounds long strings and lists inside fields', () => {
    const out = boundDecision('/x', 'r', { cmd: ['x'.repeat(5000)], refs: Array.from({ length: 1000 }, (_, i) => i) })
    const fields = out.fields as { cmd: string[], refs: number[], cut: Array<{ at: string }> }
    expect(fields.cmd[0]!.length).toBe(MAX_RECORDED_TEXT + 1)
    expect(fields.refs).toHaveLength(MAX_RECORDED_ITEMS)
    expect(fields.cut.map((c) => c.at)).toEqual(['fields.cmd.0', 'fields.refs'])
  })
})

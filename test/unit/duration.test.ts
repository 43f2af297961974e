// One reader and two printers of durations for the whole code base (issue 13, item 9): the policy, token
// lifetimes, elevation TTLs, the audit CLI's relative times and the bridge's limits read and print alike.
import { describe, expect, it } from 'vitest'
import { durationMs, durationText, formatElapsed, parseDuration, POLICY_DURATION_PATTERN } from '../../src/core/duration.js'
import { POLICY_SCHEMA } from '../../src/policy/schema.js'

describe('parseDuration', () => {
  it('reads s, m, h and d; a bare number is seconds; spaces around it are ignored', () => {
    expect(['90', '30s', '15m', '8h', '2d', ' 8h '].map((text) => parseDuration(text))).toEqual([90_000, 30_000, 900_000, 28_800_000, 172_800_000, 28_800_000])
  })

  it('reads weeks only where they are allowed (the audit CLI), not in the policy', () => {
    expect(parseDuration('4w')).toBeNull()
    expect(parseDuration('4w', { weeks: true })).toBe(4 * 604_800_000)
  })

  it('answers null for anything else, never a guess', () => {
    for (const text of ['8 hours', '1.5h', '-5m', 'h', '', '8H', '1e3']) expect(parseDuration(text), text).toBeNull()
  })

  it('the policy schema accepts exactly what parseDuration reads without weeks, in every duration setting', () => {
    const pattern = new RegExp(POLICY_DURATION_PATTERN)
    for (const text of ['90', '30s', '15m', '8h', '2d', '4w', '8 hours', '1.5h', '-5m', 'h', '', '8H', '1e3']) {
      expect(pattern.test(text), text).toBe(parseDuration(text) !== null)
    }
    // Every duration setting of the schema (the only patterns that name the units) uses that one pattern.
    const found = new Map<string, unknown>()
    const walk = (node: unknown, key: string): void => {
      if (node === null || typeof node !== 'object') return
      const { pattern } = node as { pattern?: unknown }
      if (typeof pattern === 'string' && pattern.includes('smhd')) found.set(key, pattern)
      for (const [child, value] of Object.entries(node)) walk(value, child)
    }
    walk(POLICY_SCHEMA, '$')
    expect([...found.keys()].sort()).toEqual(['checkpointInterval', 'diskCheckInterval', 'idleTimeout', 'keepFor', 'loginGraceTime', 'maxAge', 'maxLifetime', 'maxSession', 'maxTtl', 'reminderInterval', 'requestTtl', 'retention', 'timeout', 'verifyInterval'])
    for (const [key, pattern] of found) expect(pattern, key).toBe(POLICY_DURATION_PATTERN)
  })

  it('durationMs (the policy, whose schema checked the shape) reads anything else as 0', () => {
    expect(durationMs('15m')).toBe(900_000)
    expect(durationMs('soon')).toBe(0)
  })
})

describe('durationText and formatElapsed', () => {
  it('durationText writes a configured duration in its largest exact unit, as it can be pasted back', () => {
    expect([86_400_000, 8 * 3_600_000, 90 * 60_000, 45_000, 1500].map(durationText)).toEqual(['1d', '8h', '90m', '45s', '2s'])
    for (const ms of [86_400_000, 8 * 3_600_000, 90 * 60_000, 45_000]) expect(parseDuration(durationText(ms))).toBe(ms)
  })

  it('formatElapsed rounds a measured time for a table', () => {
    expect([850, 12_000, 185_000, 7_380_000].map(formatElapsed)).toEqual(['850ms', '12s', '3m05s', '2h03m'])
  })
})

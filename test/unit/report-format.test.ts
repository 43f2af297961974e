// How report.html writes times and durations: durations in words, times in the viewer's zone with the zone named.
import { describe, expect, it } from 'vitest'
import { formatLocalTime, humanDuration, utcText } from '../../src/audit/report/format.js'

const AT = Date.parse('2026-12-06T10:02:33.123Z')

describe('durations read as people say them', () => {
  it('in the two largest units, no milliseconds past a second', () => {
    expect(humanDuration(850)).toBe('850 ms')
    expect(humanDuration(12_000)).toBe('12 s')
    expect(humanDuration(125_000)).toBe('2 min 5 s')
    expect(humanDuration(3_600_000)).toBe('1 h')
    expect(humanDuration(3 * 3_600_000 + 4 * 60_000 + 5000)).toBe('3 h 4 min')
    expect(humanDuration(86_400_000 + 3_600_000)).toBe('1 d 1 h')
  })

  it('a zero unit in the middle ends the text rather than showing as 0', () => {
    expect(humanDuration(86_400_000 + 60_000)).toBe('1 d')
    expect(humanDuration(3_600_000 + 5000)).toBe('1 h')
  })

  it('nothing sensible is a dash', () => {
    expect(humanDuration(-1)).toBe('-')
    expect(humanDuration(Number.NaN)).toBe('-')
  })
})

describe('times show the zone they are in', () => {
  it('local time with seconds and the zone, no milliseconds', () => {
    expect(formatLocalTime(AT, 'Europe/Berlin', 'en-GB')).toBe('2026-12-06 11:02:33 CET')
    expect(formatLocalTime(AT, 'America/New_York', 'en-US')).toBe('2026-12-06 05:02:33 EST')
    expect(formatLocalTime(AT, 'Asia/Shanghai', 'en-US')).toBe('2026-12-06 18:02:33 GMT+8')
    expect(formatLocalTime(AT, 'UTC', 'en-US')).toBe('2026-12-06 10:02:33 UTC')
  })

  it('midnight is 00, not 24', () => {
    expect(formatLocalTime(Date.parse('2026-12-06T00:00:05Z'), 'UTC', 'en-US')).toBe('2026-12-06 00:00:05 UTC')
  })

  it('the text before the page script runs is UTC and says so', () => {
    expect(utcText('2026-12-06T10:02:33.123Z')).toBe('2026-12-06 10:02:33 UTC')
    expect(utcText('not a time')).toBe('not a time')
  })

  it('runs on its own once inlined into the page (no names from outside it)', () => {
    const inlined = new Function(`${formatLocalTime.toString()}; return formatLocalTime`)() as typeof formatLocalTime
    expect(inlined(AT, 'UTC', 'en-US')).toBe('2026-12-06 10:02:33 UTC')
    expect(inlined(AT, 'Europe/Berlin')).toMatch(/^2026-12-06 11:02:33 \S+$/)
  })
})

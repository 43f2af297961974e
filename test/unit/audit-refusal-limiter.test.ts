// A flood of refusals is not a flood of records: within a window the first refusals of each key are recorded whole
// (up to a total), the rest counted into one summary, and every refusal is one or the other.
import { describe, expect, it } from 'vitest'
import { RefusalLimiter, type Refusal, type RefusalSummary } from '../../src/audit/refusal-limiter.js'
import { ManualClock } from '../fakes/clock.js'

// Summaries only at the window's end here (the hold is tested on its own below).
const LIMITS = { windowMs: 60_000, perKey: 3, perWindow: 30, maxNamed: 20, holdMs: 60_000, holdCount: 1_000_000 }

/** Notes every refusal, and returns how many were recorded whole and the summaries closed (the last by flush). */
function run (limiter: RefusalLimiter, refusals: Refusal[], clock?: ManualClock, stepMs = 0): { recorded: number, summaries: RefusalSummary[] } {
  let recorded = 0
  const summaries: RefusalSummary[] = []
  for (const refusal of refusals) {
    const verdict = limiter.note(refusal)
    if (verdict.record) recorded++
    if (verdict.closed !== null) summaries.push(verdict.closed)
    clock?.advance(stepMs)
  }
  const last = limiter.flush()
  if (last !== null) summaries.push(last)
  return { recorded, summaries }
}

const counted = (summaries: RefusalSummary[]): number => summaries.reduce((sum, s) => sum + s.refused, 0)

describe('the refusal limiter', () => {
  it('records the first refusals of a key whole and counts the rest into one summary; the two add up', () => {
    const limiter = new RefusalLimiter(new ManualClock(), LIMITS)
    const { recorded, summaries } = run(limiter, Array.from({ length: 500 }, () => ({ code: 'PORTCULLIS_AUDIT_UNAUTHENTICATED', peer: '127.0.0.1' })))
    expect(recorded).toBe(3)
    expect(summaries).toHaveLength(1)
    expect(summaries[0]).toMatchObject({ refused: 497, codes: { PORTCULLIS_AUDIT_UNAUTHENTICATED: 497 }, peers: ['127.0.0.1'], users: [], unnamed: 0 })
  })

  it('keys by code and claimed user: each gets its first refusals recorded', () => {
    const limiter = new RefusalLimiter(new ManualClock(), LIMITS)
    const refusals: Refusal[] = []
    for (let i = 0; i < 5; i++) refusals.push({ code: 'PORTCULLIS_AUDIT_NOT_AUDITOR', user: 'bob' }, { code: 'PORTCULLIS_AUDIT_READS_BUSY', user: 'bob' }, { code: 'PORTCULLIS_AUDIT_NOT_AUDITOR', user: 'eve' })
    const { recorded, summaries } = run(limiter, refusals)
    expect(recorded).toBe(9)
    expect(summaries[0]).toMatchObject({ refused: 6, users: ['bob', 'eve'], codes: { PORTCULLIS_AUDIT_NOT_AUDITOR: 4, PORTCULLIS_AUDIT_READS_BUSY: 2 } })
  })

  it('an attacker who varies the claimed user gets at most perWindow records a window, and the summary names at most maxNamed', () => {
    const limiter = new RefusalLimiter(new ManualClock(), LIMITS)
    const { recorded, summaries } = run(limiter, Array.from({ length: 10_000 }, (_, i) => ({ code: 'PORTCULLIS_AUDIT_NOT_AUDITOR', user: `u${i}` })))
    expect(recorded).toBe(30)
    expect(summaries).toHaveLength(1)
    expect(summaries[0]!.refused).toBe(9970)
    expect(summaries[0]!.users).toHaveLength(20)
    expect(summaries[0]!.unnamed).toBe(9950)
  })

  it('a flood that names no user, from many addresses, does not crowd out the whole record of a known user\'s refusal', () => {
    const limiter = new RefusalLimiter(new ManualClock(), LIMITS)
    let recorded = 0
    for (let i = 0; i < 1000; i++) if (limiter.note({ code: 'PORTCULLIS_AUDIT_UNAUTHENTICATED', peer: `127.0.${i >> 8}.${i & 255}` }).record) recorded++
    expect(recorded).toBe(30)
    // Same window: the anonymous budget is spent, the known users' is not.
    expect(limiter.note({ code: 'PORTCULLIS_AUDIT_NOT_AUDITOR', user: 'bob' }).record).toBe(true)
    expect(limiter.note({ code: 'PORTCULLIS_AUDIT_UNAUTHENTICATED', peer: '127.9.9.9' }).record).toBe(false)
  })

  it('a window that ends closes with the next refusal, and the next window records whole again', () => {
    const clock = new ManualClock()
    const limiter = new RefusalLimiter(clock, LIMITS)
    // 10 refusals a second for 3 minutes: three windows.
    const { recorded, summaries } = run(limiter, Array.from({ length: 1800 }, () => ({ code: 'PORTCULLIS_AUDIT_UNAUTHENTICATED', peer: '127.0.0.1' })), clock, 100)
    expect(summaries).toHaveLength(3)
    expect(recorded).toBe(9)
    expect(recorded + counted(summaries)).toBe(1800)
    for (const summary of summaries) expect(Date.parse(summary.last) - Date.parse(summary.first)).toBeLessThan(60_000)
  })

  it('a summary is due at the end of the window that counted, and nothing is due while nothing is counted', () => {
    const clock = new ManualClock()
    const limiter = new RefusalLimiter(clock, LIMITS)
    expect(limiter.summaryDueAt).toBeNull()
    for (let i = 0; i < 3; i++) limiter.note({ code: 'X', peer: 'p' })
    expect(limiter.summaryDueAt).toBeNull()
    expect(limiter.flush()).toBeNull()
    limiter.note({ code: 'X', peer: 'p' })
    clock.advance(1000)
    for (let i = 0; i < 3; i++) limiter.note({ code: 'X', peer: 'p' })
    expect(limiter.summaryDueAt).toBe(clock.now() - 1000 + 60_000)
    expect(limiter.flush()).toMatchObject({ refused: 1, first: new Date(clock.now()).toISOString() })
    expect(limiter.summaryDueAt).toBeNull()
  })

  it('codes past maxNamed are counted under other, so memory stays bounded whatever the codes', () => {
    const limiter = new RefusalLimiter(new ManualClock(), { ...LIMITS, perKey: 0, maxNamed: 2 })
    const { summaries } = run(limiter, ['A', 'B', 'C', 'D', 'A'].map((code) => ({ code })))
    expect(summaries[0]).toMatchObject({ refused: 5, codes: { A: 2, B: 1, other: 2 }, unnamed: 5 })
  })

  describe('counted refusals are not held long: what a crash can take is bounded', () => {
    it('a summary is due holdMs after the first counted refusal, and the window (and its budget of whole records) goes on', () => {
      const clock = new ManualClock()
      const limiter = new RefusalLimiter(clock, { ...LIMITS, holdMs: 10_000 })
      for (let i = 0; i < 5; i++) limiter.note({ code: 'X', peer: 'p' })
      expect(limiter.summaryDueAt).toBe(clock.now() + 10_000)
      clock.advance(9_999)
      expect(limiter.takeDue()).toBeNull()
      clock.advance(1)
      expect(limiter.takeDue()).toMatchObject({ refused: 2 })
      expect(limiter.summaryDueAt).toBeNull()
      // Same window: that key's whole records are still spent.
      expect(limiter.note({ code: 'X', peer: 'p' }).record).toBe(false)
      expect(limiter.summaryDueAt).toBe(clock.now() + 10_000)
    })

    it('a flood is summarised every holdCount refusals, and the summaries add up to every refusal counted', () => {
      const limiter = new RefusalLimiter(new ManualClock(), { ...LIMITS, holdCount: 1_000 })
      const { recorded, summaries } = run(limiter, Array.from({ length: 10_000 }, () => ({ code: 'X', peer: 'p' })))
      expect(recorded).toBe(3)
      expect(summaries.slice(0, -1).map((s) => s.refused)).toEqual(Array(9).fill(1_000))
      expect(recorded + summaries.reduce((sum, s) => sum + s.refused, 0)).toBe(10_000)
    })
  })

  it('a summary says how many each named user and peer made: who flooded, and who only slipped', () => {
    const limiter = new RefusalLimiter(new ManualClock(), { ...LIMITS, perKey: 0 })
    const refusals = [
      ...Array.from({ length: 480 }, () => ({ code: 'X', user: 'alice' })),
      { code: 'X', user: 'mallory' }, { code: 'X', user: 'mallory' },
      ...Array.from({ length: 7 }, () => ({ code: 'X', peer: '127.0.0.9' }))
    ]
    const { summaries } = run(limiter, refusals)
    expect(summaries[0]).toMatchObject({ refused: 489, userCounts: { alice: 480, mallory: 2 }, peerCounts: { '127.0.0.9': 7 }, users: ['alice', 'mallory'] })
  })
})


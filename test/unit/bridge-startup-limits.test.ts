// The SSH bridge's pre-login bounds, as pure rules: sshd's MaxStartups random early drop, per-source limits over
// source blocks, the descriptor reserve, and the refusal ledger that keeps a flood from becoming a flood of records.
import { readFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DescriptorBudget, descriptorReserve, parseOpenFilesLimit } from '../../src/bridge/descriptors.js'
import { RefusalLedger, type RefusalReport } from '../../src/bridge/refusal-ledger.js'
import { SourcePenalties } from '../../src/bridge/source-penalties.js'
import { maxStartupsProblem, parseMaxStartups, parseNetBlockSize, type StartupLimits } from '../../src/policy/startup-limits.js'
import { shouldDropStartup, sourceBlock, StartupLimiter } from '../../src/bridge/startup-limits.js'
import { compilePolicy, PolicyValidationError } from '../../src/policy/compile.js'

const example = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const limits = (over: Partial<StartupLimits> = {}): StartupLimits => ({
  maxStartups: { start: 10, rate: 30, full: 100 },
  perSource: 10,
  netBlock: { v4: 32, v6: 64 },
  ...over
})

describe('MaxStartups, as sshd reads it', () => {
  it('reads start:rate:full, and a single number N as N:100:N', () => {
    expect(parseMaxStartups('10:30:100')).toEqual({ start: 10, rate: 30, full: 100 })
    expect(parseMaxStartups('20')).toEqual({ start: 20, rate: 100, full: 20 })
    expect(parseMaxStartups('10:30')).toBeNull()
  })

  it('calls a value that could lock everyone out or never drop a problem', () => {
    expect(maxStartupsProblem('10:30:100')).toBeNull()
    expect(maxStartupsProblem('0')).toMatch(/full must be at least 1/)
    expect(maxStartupsProblem('50:30:10')).toMatch(/start \(50\) must not be above full \(10\)/)
    expect(maxStartupsProblem('10:0:100')).toMatch(/rate \(0\) must be a percentage from 1 to 100/)
    expect(maxStartupsProblem('10:101:100')).toMatch(/rate/)
  })

  it('never drops below start, always drops at full, and between them with a probability rising from rate% to 100%', () => {
    const m = { start: 10, rate: 30, full: 110 }
    expect(shouldDropStartup(9, m, () => 0)).toBe(false)
    expect(shouldDropStartup(110, m, () => 0.9999)).toBe(true)
    // At start: 30%.
    expect(shouldDropStartup(10, m, () => 0.29)).toBe(true)
    expect(shouldDropStartup(10, m, () => 0.30)).toBe(false)
    // Half way: 65%.
    expect(shouldDropStartup(60, m, () => 0.64)).toBe(true)
    expect(shouldDropStartup(60, m, () => 0.66)).toBe(false)
  })
})

describe('source blocks (PerSourceNetBlockSize)', () => {
  it('keeps an IPv4 address as it is at /32 and masks it below', () => {
    expect(sourceBlock('127.0.0.2', { v4: 32, v6: 64 })).toBe('127.0.0.2')
    expect(sourceBlock('10.1.2.3', { v4: 16, v6: 64 })).toBe('10.1.0.0/16')
    expect(sourceBlock('10.1.2.3', { v4: 0, v6: 64 })).toBe('0.0.0.0/0')
  })

  it('counts an IPv4-mapped IPv6 address as the IPv4 address, so a dual-stack listener gives no second share', () => {
    expect(sourceBlock('::ffff:127.0.0.2', { v4: 32, v6: 64 })).toBe('127.0.0.2')
  })

  it('leaves a link-local client\'s zone ID out of its block, so fe80:: addresses still share a /64', () => {
    const block = { v4: 32, v6: 64 }
    expect(sourceBlock('fe80::1%eth0', block)).toBe('fe80::/64')
    expect(sourceBlock('fe80::2%eth0', block)).toBe('fe80::/64')
  })

  it('groups IPv6 addresses by /64 by default: one host owns a whole /64', () => {
    const block = { v4: 32, v6: 64 }
    expect(sourceBlock('2001:db8:1:2::5', block)).toBe('2001:db8:1:2::/64')
    expect(sourceBlock('2001:db8:1:2:ffff:1:2:3', block)).toBe('2001:db8:1:2::/64')
    expect(sourceBlock('2001:db8::1', { v4: 32, v6: 128 })).toBe('2001:db8::1')
  })

  it('reads v4:v6 and v4 alone (v6 then 128), and refuses widths past the address', () => {
    expect(parseNetBlockSize('24:48')).toEqual({ v4: 24, v6: 48 })
    expect(parseNetBlockSize('32')).toEqual({ v4: 32, v6: 128 })
    expect(parseNetBlockSize('33:64')).toBeNull()
    expect(parseNetBlockSize('32:129')).toBeNull()
  })
})

describe('StartupLimiter', () => {
  it('refuses past perSource from one source while another source still gets in', () => {
    const limiter = new StartupLimiter(() => 0.99)
    for (let i = 0; i < 10; i++) expect(limiter.admit('127.0.0.2', limits())).toHaveProperty('ticket')
    expect(limiter.admit('127.0.0.2', limits())).toEqual({ refused: 'per-source', source: '127.0.0.2' })
    expect(limiter.admit('127.0.0.1', limits())).toHaveProperty('ticket')
  })

  it('refuses everyone at full, and frees a place when a ticket is released (once, however often it is called)', () => {
    const limiter = new StartupLimiter(() => 0.99)
    const tight = limits({ maxStartups: { start: 3, rate: 100, full: 3 }, perSource: 100 })
    const tickets = [1, 2, 3].map((i) => limiter.admit(`10.0.0.${i}`, tight))
    expect(limiter.admit('10.0.0.9', tight)).toEqual({ refused: 'full', source: '10.0.0.9' })
    const first = tickets[0] as { ticket: { release(): void } }
    first.ticket.release()
    first.ticket.release()
    expect(limiter.unauthenticated).toBe(2)
    expect(limiter.admit('10.0.0.9', tight)).toHaveProperty('ticket')
    expect(limiter.admit('10.0.0.10', tight)).toEqual({ refused: 'full', source: '10.0.0.10' })
  })

  it('drops at random between start and full', () => {
    let roll = 0.99
    const limiter = new StartupLimiter(() => roll)
    const some = limits({ maxStartups: { start: 2, rate: 50, full: 10 }, perSource: 100 })
    limiter.admit('10.0.0.1', some)
    limiter.admit('10.0.0.2', some)
    expect(limiter.admit('10.0.0.3', some)).toHaveProperty('ticket')
    roll = 0
    expect(limiter.admit('10.0.0.4', some)).toEqual({ refused: 'random-early-drop', source: '10.0.0.4' })
  })

  it('counts a whole IPv6 /64 as one source', () => {
    const limiter = new StartupLimiter(() => 0.99)
    const two = limits({ perSource: 2 })
    limiter.admit('2001:db8:0:1::1', two)
    limiter.admit('2001:db8:0:1::2', two)
    expect(limiter.admit('2001:db8:0:1::3', two)).toEqual({ refused: 'per-source', source: '2001:db8:0:1::/64' })
    expect(limiter.admit('2001:db8:0:2::1', two)).toHaveProperty('ticket')
  })
})

describe('SourcePenalties (sshd\'s PerSourcePenalties, grace-exceeded)', () => {
  it('lets a source in after one connection sat out the grace time: one slow honest client is not shut out', () => {
    const now = 0
    const penalties = new SourcePenalties(() => now)
    penalties.graceExpired('10.0.0.1')
    expect(penalties.refusedFor('10.0.0.1')).toBe(0)
  })

  it('shuts a source out while 15 s or more of its penalty (10 s per expired connection) is left', () => {
    let now = 0
    const penalties = new SourcePenalties(() => now)
    for (let i = 0; i < 10; i++) penalties.graceExpired('127.0.0.5')
    expect(penalties.refusedFor('127.0.0.5')).toBe(100_000)
    expect(penalties.refusedFor('127.0.0.6')).toBe(0)
    now = 85_000
    expect(penalties.refusedFor('127.0.0.5')).toBe(15_000)
    now = 85_001
    expect(penalties.refusedFor('127.0.0.5')).toBe(0)
  })

  it('adds up to 10 minutes at most', () => {
    const penalties = new SourcePenalties(() => 0)
    for (let i = 0; i < 1000; i++) penalties.graceExpired('127.0.0.5')
    expect(penalties.refusedFor('127.0.0.5')).toBe(600_000)
  })
})

describe('descriptor reserve', () => {
  it('reads the soft limit on open files from /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units     \n' +
      'Max open files            2048                 4096                 files     \n'
    expect(parseOpenFilesLimit(text)).toBe(2048)
    expect(parseOpenFilesLimit('Max open files            unlimited            unlimited            files\n')).toBe(Infinity)
    expect(parseOpenFilesLimit('')).toBe(Infinity)
    expect(parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'))).toBeGreaterThan(0)
  })

  it('keeps a quarter of the limit, and never fewer than 64 descriptors', () => {
    expect(descriptorReserve(2048)).toBe(512)
    expect(descriptorReserve(100)).toBe(64)
  })

  it('refuses once one more descriptor would reach into the reserve, counting what it handed out since the last look', () => {
    let now = 0
    const source = { open: 100, limit: 256 }
    const budget = new DescriptorBudget({ limit: () => source.limit, open: () => source.open }, () => now)
    // 256 - 64 = 192 descriptors for everything; 100 open, so 92 more.
    for (let i = 0; i < 92; i++) expect(budget.take()).toBe(true)
    expect(budget.take()).toBe(false)
    // Later, connections have closed: a fresh count.
    now += 1000
    source.open = 50
    expect(budget.take()).toBe(true)
  })

  it('refuses nothing where the limit cannot be known', () => {
    const budget = new DescriptorBudget({ limit: () => Infinity, open: () => 0 })
    expect(budget.take()).toBe(true)
  })
})

describe('RefusalLedger', () => {
  let reports: RefusalReport[]
  let ledger: RefusalLedger
  beforeEach(() => {
    vi.useFakeTimers()
    reports = []
    ledger = new RefusalLedger((r) => reports.push(r), 60_000, 3)
  })
  afterEach(() => {
    ledger.close()
    vi.useRealTimers()
  })

  it('reports the first refusal of a burst at once and the rest once per interval, with their count and reasons', () => {
    for (let i = 0; i < 500; i++) ledger.note('127.0.0.2', i % 2 === 0 ? 'per-source' : 'login-grace')
    expect(reports).toEqual([{ source: '127.0.0.2', count: 1, reasons: { 'per-source': 1 }, burstStart: true }])
    vi.advanceTimersByTime(60_000)
    expect(reports[1]).toEqual({ source: '127.0.0.2', count: 499, reasons: { 'per-source': 249, 'login-grace': 250 }, burstStart: false })
    // The flood goes on: one report per interval, no new burst start.
    for (let i = 0; i < 300; i++) ledger.note('127.0.0.2', 'per-source')
    vi.advanceTimersByTime(60_000)
    expect(reports).toHaveLength(3)
    expect(reports[2]).toMatchObject({ count: 300, burstStart: false })
  })

  it('starts a new burst after a quiet interval, and stops its timer when all is quiet', () => {
    ledger.note('127.0.0.2', 'full')
    vi.advanceTimersByTime(120_000)
    expect(vi.getTimerCount()).toBe(0)
    ledger.note('127.0.0.2', 'full')
    expect(reports.map((r) => r.burstStart)).toEqual([true, true])
  })

  it('puts the sources past maxSources under `other`, so a spray of addresses stays a bounded number of reports', () => {
    for (let i = 0; i < 1000; i++) ledger.note(`10.0.${i >> 8}.${i & 255}`, 'per-source')
    vi.advanceTimersByTime(60_000)
    expect(reports.filter((r) => r.source !== 'other')).toHaveLength(3)
    expect(reports.find((r) => r.source === 'other')).toMatchObject({ count: 997 })
    expect(reports.length).toBeLessThanOrEqual(2 * 3 + 1)
  })

  it('reports what it counted when it is closed', () => {
    ledger.note('127.0.0.2', 'descriptors')
    ledger.note('127.0.0.2', 'descriptors')
    ledger.close()
    expect(reports.at(-1)).toMatchObject({ source: '127.0.0.2', count: 1, reasons: { descriptors: 1 } })
  })
})

describe('the bridge section of the policy', () => {
  const withBridge = (bridge: object): unknown => ({ ...example, bridge })

  it('has sshd-like defaults: 20:30:100 (start twice the per-source bound), 10 per source, /32 and /64 blocks, 30 s to log in', () => {
    const { bridge } = compilePolicy(withBridge({}))
    expect(bridge.startups).toEqual({ maxStartups: { start: 20, rate: 30, full: 100 }, perSource: 10, netBlock: { v4: 32, v6: 64 } })
    expect(bridge.loginGraceMs).toBe(30_000)
  })

  it('takes other values', () => {
    const { bridge } = compilePolicy(withBridge({ maxStartups: '5:50:20', perSourceMaxStartups: 3, perSourceNetBlockSize: '24:48', loginGraceTime: '5s' }))
    expect(bridge.startups).toEqual({ maxStartups: { start: 5, rate: 50, full: 20 }, perSource: 3, netBlock: { v4: 24, v6: 48 } })
    expect(bridge.loginGraceMs).toBe(5000)
  })

  it('refuses values that could not work, each named by its JSON path, all at once', () => {
    const problems = (bridge: object): string[] => {
      try {
        compilePolicy(withBridge(bridge))
        return []
      } catch (err) {
        expect(err).toBeInstanceOf(PolicyValidationError)
        return (err as PolicyValidationError).problems.map((p) => `${p.path}: ${p.message}`)
      }
    }
    expect(problems({ maxStartups: '100:30:10', loginGraceTime: '0s', perSourceNetBlockSize: '40:64' })).toEqual([
      '$.bridge.loginGraceTime: must be longer than 0',
      '$.bridge.maxStartups: start (100) must not be above full (10)',
      '$.bridge.perSourceNetBlockSize: must be "v4bits:v6bits" with at most 32 and 128 bits, e.g. "32:64"'
    ])
    expect(problems({ maxStartups: 'lots' })).toHaveLength(1)
    expect(problems({ perSourceMaxStartups: 0 })).toHaveLength(1)
  })
})

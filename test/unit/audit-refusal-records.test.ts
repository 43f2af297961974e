// Refusals written through the limiter: the whole ones appended before the caller answers, the counted ones
// costing no write, and their summary written when the window ends (with no later refusal to close it) or at close.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { AuditInput } from '../../src/audit/record.js'
import { RefusalRecords } from '../../src/audit/refusal-records.js'
import { MemoryAuditLog } from '../fakes/audit-log.js'
import { waitUntil } from '../helpers/wait.js'

const refusal = { code: 'PORTCULLIS_AUDIT_UNAUTHENTICATED', peer: '127.0.0.1' }
const whole = (): AuditInput => ({ kind: 'system', action: 'test.refused', code: refusal.code })

function records (windowMs: number, holdMs = windowMs): { audit: MemoryAuditLog, refusals: RefusalRecords } {
  const audit = new MemoryAuditLog()
  const refusals = new RefusalRecords({
    audit,
    logger: pino({ enabled: false }),
    limits: { windowMs, perKey: 1, holdMs },
    summary: (summary) => ({ kind: 'system', action: 'test.refused.summary', fields: { ...summary } })
  })
  return { audit, refusals }
}

describe('refusal records', () => {
  it('a counted refusal writes nothing; the window\'s summary is written when it ends, with no refusal after it', async () => {
    const { audit, refusals } = records(200)
    for (let i = 0; i < 10; i++) await refusals.refuse(refusal, whole)
    expect(audit.records.map((r) => r.action)).toEqual(['test.refused'])
    await waitUntil('the summary', () => audit.records.length === 2)
    expect(audit.records[1]).toMatchObject({ action: 'test.refused.summary', fields: { refused: 9, peers: ['127.0.0.1'] } })
    await refusals.close()
    expect(audit.records).toHaveLength(2)
  })

  it('close writes what is counted so far, and later refusals are recorded whole', async () => {
    const { audit, refusals } = records(3_600_000)
    for (let i = 0; i < 5; i++) await refusals.refuse(refusal, whole)
    await refusals.close()
    expect(audit.records.map((r) => [r.action, r.fields?.refused])).toEqual([['test.refused', undefined], ['test.refused.summary', 4]])
    await refusals.refuse(refusal, whole)
    expect(audit.records.at(-1)!.action).toBe('test.refused')
  })

  it('a store that refuses the record does not fail the refusal (the log keeps it)', async () => {
    const { audit, refusals } = records(3_600_000)
    audit.failWith(new Error('disk full'))
    await expect(refusals.refuse(refusal, whole)).resolves.toBeUndefined()
    await refusals.close()
  })

  it('a summary the store refused is carried into the next one: the counts still add up to every refusal', async () => {
    const { audit, refusals } = records(3_600_000, 100)
    for (let i = 0; i < 4; i++) await refusals.refuse(refusal, whole)
    audit.failWith(new Error('disk full'))
    // The first summary (3 counted) is refused by the store: nothing of it is in the trail yet.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(audit.records.map((r) => r.action)).toEqual(['test.refused'])
    audit.failure = null
    for (let i = 0; i < 2; i++) await refusals.refuse(refusal, whole)
    await refusals.close()
    expect(audit.records.map((r) => [r.action, r.fields?.refused])).toEqual([['test.refused', undefined], ['test.refused.summary', 5]])
  })
})

// A condition alerts once when it begins, again only every reminderInterval while it lasts, and once when it ends;
// an event alerts each time. Every alert is a record; one raised while the store refuses records is recorded once
// it takes them again, and says so.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Alerts } from '../../src/alerts/alerts.js'
import { compileAlerts } from '../../src/policy/alerts.js'
import { MemoryAuditLog } from '../fakes/audit-log.js'
import { waitUntil } from '../helpers/wait.js'

function setup (): { alerts: Alerts, audit: MemoryAuditLog, clock: { now: number } } {
  const audit = new MemoryAuditLog()
  const clock = { now: Date.parse('2026-12-06T10:00:00Z') }
  const settings = compileAlerts({ reminderInterval: '10m' })
  const alerts = new Alerts({ audit, settings: () => settings, logger: pino({ level: 'silent' }), host: 'h1', now: () => clock.now })
  return { alerts, audit, clock }
}

const states = (audit: MemoryAuditLog): string[] => audit.records.map((r) => `${r.action ?? ''}:${String(r.fields?.state)}`)

describe('alert de-duplication', () => {
  it('a condition raised again and again while it lasts is one alert', async () => {
    const { alerts, audit } = setup()
    for (let i = 0; i < 50; i++) alerts.raise('disk-low', `${100 - i} MiB free`)
    await waitUntil('the alert recorded', () => audit.records.length === 1)
    expect(states(audit)).toEqual(['alert.disk-low:raised'])
    expect(audit.records[0]).toMatchObject({ kind: 'system', reason: expect.stringContaining('100 MiB free'), fields: { alert: 'disk-low', severity: 'warning', sinks: [] } })
    expect(alerts.status().active).toEqual([expect.objectContaining({ kind: 'disk-low', detail: '51 MiB free' })])
  })

  it('reminds at most every reminderInterval while the condition lasts, with its latest detail', async () => {
    const { alerts, audit, clock } = setup()
    alerts.raise('checkpoint-failed', 'first')
    clock.now += 9 * 60_000
    alerts.raise('checkpoint-failed', 'still')
    alerts.tick()
    clock.now += 60_000
    alerts.tick()
    alerts.tick()
    await waitUntil('two records', () => audit.records.length === 2)
    expect(states(audit)).toEqual(['alert.checkpoint-failed:raised', 'alert.checkpoint-failed:reminder'])
    expect(audit.records[1]!.reason).toContain('still')
    expect(audit.records[1]!.fields?.since).toBe('2026-12-06T10:00:00.000Z')
  })

  it('alerts once when the condition ends, and not for a condition that was never raised', async () => {
    const { alerts, audit, clock } = setup()
    alerts.resolve('policy-reload-failed', 'never raised')
    alerts.raise('policy-reload-failed', 'bad JSON')
    clock.now += 5000
    alerts.resolve('policy-reload-failed', 'reloaded')
    alerts.resolve('policy-reload-failed', 'reloaded again')
    await waitUntil('two records', () => audit.records.length === 2)
    expect(states(audit)).toEqual(['alert.policy-reload-failed:raised', 'alert.policy-reload-failed:resolved'])
    expect(audit.records[1]!.fields).toMatchObject({ severity: 'info', lastedMs: 5000 })
    // It can begin again.
    alerts.raise('policy-reload-failed', 'bad again')
    await waitUntil('three records', () => audit.records.length === 3)
  })

  it('an event alerts every time', async () => {
    const { alerts, audit } = setup()
    alerts.raise('fleet-alarm', 'fork at 10')
    alerts.raise('fleet-alarm', 'gap at 12')
    await waitUntil('two records', () => audit.records.length === 2)
    expect(states(audit)).toEqual(['alert.fleet-alarm:raised', 'alert.fleet-alarm:raised'])
  })

  it('an alert raised while the store refuses records is recorded once it takes them again, saying so', async () => {
    const { alerts, audit } = setup()
    audit.failWith(new Error('No space left on device'))
    alerts.raise('audit-write-failed', 'ENOSPC', { code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
    alerts.tick()
    expect(audit.records).toHaveLength(0)
    expect(alerts.status().unrecorded).toBe(1)
    audit.failure = null
    alerts.resolve('audit-write-failed', 'writes work again')
    alerts.tick()
    await waitUntil('both recorded', () => audit.records.length === 2)
    expect(states(audit)).toEqual(['alert.audit-write-failed:raised', 'alert.audit-write-failed:resolved'])
    expect(audit.records[0]).toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED', reason: expect.stringMatching(/while the audit store refused records; recorded once it took them again/), fields: { recordedLate: true } })
    expect(audit.records[1]!.fields?.recordedLate).toBe(true) // behind the held-back one, in order
    expect(alerts.status().unrecorded).toBe(0)
  })
})

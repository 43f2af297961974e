// The sinks follow the policy: a reload that adds a webhook gets the next alert there, one that removes it stops
// it; a hook that keeps failing is counted in the status after its retries, and nothing is held up.
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Alerts } from '../../src/alerts/alerts.js'
import { compileAlerts, type AlertSettings } from '../../src/policy/alerts.js'
import { MemoryAuditLog } from '../fakes/audit-log.js'
import { waitFor, waitUntil } from '../helpers/wait.js'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js'

const receivers: WebhookReceiver[] = []
afterEach(async () => { for (const r of receivers.splice(0)) await r.close() })

async function receiver (): Promise<WebhookReceiver> {
  const made = await startWebhookReceiver()
  receivers.push(made)
  return made
}

describe('alert sinks', () => {
  it('follow a reload: added sinks get the next alert, removed ones no more', async () => {
    const hook = await receiver()
    let settings: AlertSettings = compileAlerts({})
    const alerts = new Alerts({ audit: new MemoryAuditLog(), settings: () => settings, logger: pino({ level: 'silent' }), host: 'h1' })
    alerts.raise('fleet-alarm', 'before the hook')
    settings = compileAlerts({ webhook: { url: hook.url, retries: 0 } })
    alerts.raise('fleet-alarm', 'with the hook')
    const body = await waitFor('the alert on the hook', () => hook.bodies[0] as { event: string, alert: { detail: string, host: string, severity: string } } | undefined)
    expect(body).toMatchObject({ event: 'alert.fleet-alarm', alert: { detail: 'with the hook', host: 'h1', severity: 'crit' } })
    settings = compileAlerts({})
    alerts.raise('fleet-alarm', 'after the hook')
    alerts.tick()
    await alerts.close(1000)
    expect(hook.bodies).toHaveLength(1)
  })

  it('a hook that keeps failing is counted after its tries, with what went wrong', async () => {
    const hook = await receiver()
    hook.failWith = 500
    const settings = compileAlerts({ webhook: { url: hook.url, retries: 1 } })
    const alerts = new Alerts({ audit: new MemoryAuditLog(), settings: () => settings, logger: pino({ level: 'silent' }), host: 'h1' })
    alerts.raise('disk-low', 'low')
    expect(alerts.status().sinks[0]).toMatchObject({ sink: 'webhook', pending: 1, delivered: 0, failed: 0 })
    await waitUntil('the delivery given up', () => alerts.status().sinks[0]!.sink === 'webhook' && (alerts.status().sinks[0] as { failed: number }).failed === 1, { timeoutMs: 10_000 })
    expect(alerts.status().sinks[0]).toMatchObject({ pending: 0, lastFailure: 'HTTP 500 (after 2 tries)' })
    await alerts.close(100)
  })
})

// Where alerts go: the policy's webhook (through the elevation webhook's sender, with its retries) and syslog
// receiver (RFC 5424 over a stream). A sink never blocks the one raising the alert; each keeps counts for status.

import type { Logger } from 'pino'
import { Webhook } from '../elevation/webhook.js'
import type { AlertSettings } from '../policy/alerts.js'
import { formatSyslog, type Facility } from '../siem/syslog-format.js'
import { SyslogClient, type SyslogStatus } from '../siem/syslog.js'
import type { Alert } from './kinds.js'

interface WebhookSinkStatus {
  sink: 'webhook'
  url: string
  delivered: number
  failed: number
  /** Deliveries still trying. */
  pending: number
  lastDeliveredAt: string | null
  lastFailure: string | null
  lastFailureAt: string | null
}

export type SinkStatus = WebhookSinkStatus | ({ sink: 'syslog' } & SyslogStatus)

export interface AlertSink {
  readonly name: string
  deliver: (alert: Alert) => void
  status: () => SinkStatus
  /** Waits up to `timeoutMs` for what was handed over to go out, then stops. */
  close: (timeoutMs: number) => Promise<void>
}

/** The sinks the settings name (none when they name none). */
export function sinksFor (settings: AlertSettings, logger: Logger): AlertSink[] {
  const sinks: AlertSink[] = []
  if (settings.webhook !== null) sinks.push(new WebhookSink(settings.webhook, logger))
  if (settings.syslog !== null) sinks.push(new SyslogSink(settings.syslog, logger))
  return sinks
}

class WebhookSink implements AlertSink {
  readonly name = 'webhook'
  readonly #url: string
  readonly #webhook: Webhook
  readonly #status: WebhookSinkStatus

  constructor (settings: NonNullable<AlertSettings['webhook']>, logger: Logger) {
    this.#url = settings.url
    this.#webhook = new Webhook({ logger, name: 'alert webhook', retryDelaysMs: settings.retryDelaysMs, timeoutMs: settings.timeoutMs })
    this.#status = { sink: 'webhook', url: settings.url, delivered: 0, failed: 0, pending: 0, lastDeliveredAt: null, lastFailure: null, lastFailureAt: null }
  }

  deliver (alert: Alert): void {
    this.#status.pending++
    this.#webhook.send(this.#url, { event: `alert.${alert.kind}`, time: alert.time, alert }, (outcome) => {
      this.#status.pending--
      const now = new Date().toISOString()
      if (outcome.ok) {
        this.#status.delivered++
        this.#status.lastDeliveredAt = now
      } else {
        this.#status.failed++
        this.#status.lastFailure = `${outcome.problem} (after ${outcome.attempts} tries)`
        this.#status.lastFailureAt = now
      }
    })
  }

  status (): SinkStatus {
    return { ...this.#status }
  }

  async close (timeoutMs: number): Promise<void> {
    await Promise.race([this.#webhook.settled(), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())])
    this.#webhook.close()
  }
}

class SyslogSink implements AlertSink {
  readonly name = 'syslog'
  readonly #client: SyslogClient
  readonly #facility: Facility

  constructor (settings: NonNullable<AlertSettings['syslog']>, logger: Logger) {
    this.#client = new SyslogClient({ address: settings.address, logger, maxQueue: 1000 })
    this.#facility = settings.facility
  }

  deliver (alert: Alert): void {
    this.#client.send(formatSyslog({
      facility: this.#facility,
      severity: alert.severity,
      time: new Date(alert.time),
      hostname: alert.host,
      procId: process.pid,
      msgId: `alert.${alert.kind}`,
      // The alert's own parameters last: a field of the same name cannot stand in for them.
      data: { ...scalarFields(alert.fields), kind: alert.kind, state: alert.state, code: alert.code, since: alert.since },
      message: `${alert.summary}: ${alert.detail}`
    }))
  }

  status (): SinkStatus {
    return { sink: 'syslog', ...this.#client.status() }
  }

  async close (timeoutMs: number): Promise<void> {
    await this.#client.close(timeoutMs)
  }
}

/** The alert's fields that fit a structured-data parameter (strings, numbers, booleans). */
function scalarFields (fields: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = value
  }
  return out
}

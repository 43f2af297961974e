// Raises alerts: hands each to every sink the policy names at once, and records it (`alert.<kind>`). A condition
// alerts when it begins, again every alerts.reminderInterval while it lasts, and once when it ends; an event alerts
// each time. While the store refuses records (the alert may be that very failure), the record waits here and is
// appended once the store takes records again, saying so; the sinks have it already.

import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.js'
import type { AuditInput } from '../audit/record.js'
import type { AlertSettings } from '../policy/alerts.js'
import { ALERT_KINDS, type Alert, type AlertKind, type AlertState } from './kinds.js'
import { sinksFor, type AlertSink, type SinkStatus } from './sinks.js'

export interface AlertsOptions {
  audit: AuditLog
  /** The current policy's alert settings: read at each alert, so a reload applies from the next one. */
  settings: () => AlertSettings
  logger: Logger
  host: string
  now?: () => number
}

export interface RaiseOptions {
  code?: string
  fields?: Record<string, unknown>
  /** False: the sinks get it, the caller records it its own way (serve's stop: portcullis.stop is its record). */
  record?: boolean
}

interface Active {
  since: string
  lastSentAt: number
  detail: string
  code?: string
  fields: Record<string, unknown>
}

export interface AlertsStatus {
  sinks: SinkStatus[]
  /** Conditions that last now. */
  active: Array<{ kind: AlertKind, since: string, detail: string }>
  /** Alert records waiting for the store to take records again. */
  unrecorded: number
}

/** Alert records held while the store refuses them; beyond this the oldest go (the log still has them). */
const MAX_UNRECORDED = 1000

export class Alerts {
  readonly #options: AlertsOptions
  readonly #now: () => number
  #sinks: AlertSink[] = []
  #sinksKey = ''
  readonly #active = new Map<AlertKind, Active>()
  readonly #unrecorded: AuditInput[] = []
  #flushing = false
  #closed = false

  constructor (options: AlertsOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#applySettings()
  }

  /** Begins a condition (alerted once; later calls while it lasts update its detail) or reports an event. */
  raise (kind: AlertKind, detail: string, options: RaiseOptions = {}): void {
    if (this.#closed) return
    const now = this.#now()
    if (!ALERT_KINDS[kind].condition) {
      this.#emit(kind, 'raised', new Date(now).toISOString(), detail, options)
      return
    }
    const active = this.#active.get(kind)
    if (active !== undefined) {
      active.detail = detail
      active.fields = options.fields ?? {}
      return
    }
    const since = new Date(now).toISOString()
    this.#active.set(kind, { since, lastSentAt: now, detail, ...(options.code !== undefined ? { code: options.code } : {}), fields: options.fields ?? {} })
    this.#emit(kind, 'raised', since, detail, options)
  }

  /** Ends a condition, alerting that it did; nothing when it was not raised. */
  resolve (kind: AlertKind, detail: string, fields: Record<string, unknown> = {}): void {
    const active = this.#active.get(kind)
    if (active === undefined || this.#closed) return
    this.#active.delete(kind)
    this.#emit(kind, 'resolved', active.since, detail, { fields: { ...fields, lastedMs: this.#now() - Date.parse(active.since) } })
  }

  isActive (kind: AlertKind): boolean {
    return this.#active.has(kind)
  }

  /** Called every second or so: reminders for lasting conditions, sinks a reload changed, records held back. */
  tick (): void {
    if (this.#closed) return
    this.#applySettings()
    const now = this.#now()
    const every = this.#options.settings().reminderIntervalMs
    for (const [kind, active] of this.#active) {
      if (now - active.lastSentAt < every) continue
      active.lastSentAt = now
      this.#emit(kind, 'reminder', active.since, active.detail, { ...(active.code !== undefined ? { code: active.code } : {}), fields: active.fields })
    }
    void this.#flushUnrecorded()
  }

  status (): AlertsStatus {
    return {
      sinks: this.#sinks.map((sink) => sink.status()),
      active: [...this.#active].map(([kind, a]) => ({ kind, since: a.since, detail: a.detail })),
      unrecorded: this.#unrecorded.length
    }
  }

  /** Waits up to `timeoutMs` for the sinks to deliver what they hold, then closes them. */
  async close (timeoutMs: number): Promise<void> {
    this.#closed = true
    await Promise.all(this.#sinks.map(async (sink) => await sink.close(timeoutMs)))
  }

  #applySettings (): void {
    const settings = this.#options.settings()
    if (settings.sinksKey === this.#sinksKey) return
    const old = this.#sinks
    this.#sinks = sinksFor(settings, this.#options.logger)
    this.#sinksKey = settings.sinksKey
    // What the old sinks still hold goes out in the background.
    for (const sink of old) void sink.close(5000)
    if (old.length > 0 || this.#sinks.length > 0) this.#options.logger.info({ sinks: this.#sinks.map((s) => s.name) }, 'alert sinks set from the policy')
  }

  #emit (kind: AlertKind, state: AlertState, since: string, detail: string, options: RaiseOptions): void {
    const definition = ALERT_KINDS[kind]
    const time = new Date(this.#now()).toISOString()
    const summary = state === 'resolved' ? `resolved: ${definition.summary}` : definition.summary
    const alert: Alert = {
      kind,
      state,
      severity: state === 'resolved' ? 'info' : definition.severity,
      summary,
      detail,
      ...(options.code !== undefined ? { code: options.code } : {}),
      since,
      time,
      host: this.#options.host,
      fields: options.fields ?? {}
    }
    this.#applySettings()
    for (const sink of this.#sinks) sink.deliver(alert)
    const log = state === 'resolved' ? this.#options.logger.info.bind(this.#options.logger) : this.#options.logger.error.bind(this.#options.logger)
    log({ alert: kind, state, detail, sinks: this.#sinks.map((s) => s.name) }, `alert: ${summary}`)
    if (options.record === false) return
    this.#record({
      kind: 'system',
      action: `alert.${kind}`,
      reason: `${summary}: ${detail}`,
      ...(options.code !== undefined ? { code: options.code } : {}),
      fields: { ...alert.fields, alert: kind, state, severity: alert.severity, since, raisedAt: time, sinks: this.#sinks.map((s) => s.name) }
    })
  }

  #record (input: AuditInput): void {
    const { audit, logger } = this.#options
    if (audit.closing) return
    if (audit.failure !== null || this.#unrecorded.length > 0) {
      this.#holdBack(input)
      return
    }
    audit.append(input).catch((err: unknown) => {
      if (audit.closing) return
      logger.warn({ err, action: input.action }, 'an alert could not be recorded yet; it is recorded once the store takes records again')
      this.#holdBack(input)
    })
  }

  #holdBack (input: AuditInput): void {
    this.#unrecorded.push(input)
    if (this.#unrecorded.length > MAX_UNRECORDED) this.#unrecorded.shift()
  }

  /** Appends the held-back alert records, oldest first, once the store takes records; each says it came late. */
  async #flushUnrecorded (): Promise<void> {
    const { audit, logger } = this.#options
    if (this.#flushing || this.#unrecorded.length === 0 || audit.failure !== null || audit.closing) return
    this.#flushing = true
    try {
      while (this.#unrecorded.length > 0 && audit.failure === null && !audit.closing) {
        const input = this.#unrecorded[0]!
        await audit.append({
          ...input,
          reason: `${input.reason ?? ''} (raised at ${String(input.fields?.raisedAt)}, while the audit store refused records; recorded once it took them again)`,
          fields: { ...input.fields, recordedLate: true }
        })
        this.#unrecorded.shift()
      }
    } catch (err) {
      logger.warn({ err, waiting: this.#unrecorded.length }, 'held-back alert records could not be recorded yet')
    } finally {
      this.#flushing = false
    }
  }
}

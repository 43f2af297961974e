// The policy's `alerts` settings: where alerts go (a webhook, a syslog receiver) and the thresholds that raise
// them. Compiled once per policy load; the daemon's alert sinks are rebuilt when a reload changes them.

import type { PolicyProblem } from './compile.js'
import { durationMs } from '../core/duration.js'
import { checkSyslogAddress } from './syslog-address.js'
import { ALERT_DEFAULTS } from './schema.js'

/** The facilities the policy offers (its schema's enum): a subset of RFC 5424's. */
type Facility = 'auth' | 'authpriv' | 'daemon' | 'security' | 'syslog' | 'user' | 'local0' | 'local1' | 'local2' | 'local3' | 'local4' | 'local5' | 'local6' | 'local7'

export interface AlertsDocument {
  webhook?: { url: string, retries?: number, timeout?: string }
  syslog?: { address: string, facility?: Facility }
  diskFreeBelow?: string
  diskCheckInterval?: string
  reminderInterval?: string
}

/** Free space under which `disk-low` is raised: bytes, or a share of the file system. */
export type DiskThreshold = { bytes: number } | { percent: number }

export interface AlertSettings {
  readonly webhook: { readonly url: string, readonly retryDelaysMs: readonly number[], readonly timeoutMs: number } | null
  readonly syslog: { readonly address: string, readonly facility: Facility } | null
  readonly diskFreeBelow: DiskThreshold
  readonly diskCheckIntervalMs: number
  readonly reminderIntervalMs: number
  /** The section as written, to tell whether a reload changed the sinks. */
  readonly sinksKey: string
}

const UNIT_BYTES = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const

/** `1GiB`, `500MiB`, `5%` (the schema has checked the shape). */
function parseDiskThreshold (text: string): DiskThreshold {
  const match = /^([0-9]+(?:\.[0-9]+)?)(B|KiB|MiB|GiB|TiB|%)$/.exec(text)
  if (match === null) return { bytes: 0 }
  const value = Number(match[1])
  return match[2] === '%' ? { percent: value } : { bytes: Math.round(value * UNIT_BYTES[match[2] as keyof typeof UNIT_BYTES]) }
}

export function checkAlerts (alerts: AlertsDocument | undefined, problems: PolicyProblem[]): void {
  checkSyslogAddress(alerts?.syslog?.address, '$.alerts.syslog.address', problems)
  const threshold = alerts?.diskFreeBelow === undefined ? null : parseDiskThreshold(alerts.diskFreeBelow)
  if (threshold !== null && 'percent' in threshold && threshold.percent >= 100) problems.push({ path: '$.alerts.diskFreeBelow', message: 'a share must be below 100%' })
  for (const key of ['diskCheckInterval', 'reminderInterval'] as const) {
    if (alerts?.[key] !== undefined && durationMs(alerts[key]) <= 0) problems.push({ path: `$.alerts.${key}`, message: 'must be longer than 0' })
  }
  if (alerts?.webhook?.timeout !== undefined && durationMs(alerts.webhook.timeout) <= 0) problems.push({ path: '$.alerts.webhook.timeout', message: 'must be longer than 0' })
}

export function compileAlerts (alerts: AlertsDocument | undefined): AlertSettings {
  const webhook = alerts?.webhook
  const syslog = alerts?.syslog
  return Object.freeze({
    webhook: webhook === undefined
      ? null
      : Object.freeze({
        url: webhook.url,
        retryDelaysMs: Object.freeze(Array.from({ length: webhook.retries ?? 4 }, (_, i) => 1000 * 2 ** i)),
        timeoutMs: durationMs(webhook.timeout ?? '5s')
      }),
    syslog: syslog === undefined ? null : Object.freeze({ address: syslog.address, facility: syslog.facility ?? 'local0' }),
    diskFreeBelow: Object.freeze(parseDiskThreshold(alerts?.diskFreeBelow ?? ALERT_DEFAULTS.diskFreeBelow)),
    diskCheckIntervalMs: durationMs(alerts?.diskCheckInterval ?? ALERT_DEFAULTS.diskCheckInterval),
    reminderIntervalMs: durationMs(alerts?.reminderInterval ?? ALERT_DEFAULTS.reminderInterval),
    sinksKey: JSON.stringify({ webhook: webhook ?? null, syslog: syslog ?? null })
  })
}

// Every alert portcullis raises: a stable kind (the record's action is `alert.<kind>`, the webhook's event the
// same), its syslog severity, and whether it is a condition (raised once, reminded while it lasts, resolved when it
// ends) or an event (each one alerts).

import type { Severity } from '../siem/syslog-format.js'

export const ALERT_KINDS = {
  'audit-write-failed': { severity: 'crit', condition: true, summary: 'audit records cannot be written: every call is denied' },
  'disk-low': { severity: 'warning', condition: true, summary: 'free space on the audit store\'s file system is below alerts.diskFreeBelow' },
  'checkpoint-failed': { severity: 'err', condition: true, summary: 'an audit checkpoint could not be signed' },
  'checkpoint-key': { severity: 'crit', condition: true, summary: 'the audit signing key file is gone or no longer the key in use' },
  'policy-reload-failed': { severity: 'err', condition: true, summary: 'a policy reload was refused; the last good policy stays in force' },
  'verify-failed': { severity: 'alert', condition: true, summary: 'the periodic verify found the audit trail damaged' },
  'plugin-stopped': { severity: 'warning', condition: false, summary: 'portcullis serve stopped: Docker calls are no longer judged by it' },
  'fleet-lagging': { severity: 'warning', condition: true, summary: 'audit records are not reaching the fleet database' },
  'fleet-alarm': { severity: 'crit', condition: false, summary: 'fleet shipping raised an integrity alarm and stopped' },
  'output-failing': { severity: 'warning', condition: true, summary: 'a SIEM output (policy outputs) cannot write; its records wait in the store' },
  'output-alarm': { severity: 'crit', condition: false, summary: 'a SIEM output stopped because its copy does not match the chain, or records were removed before it took them' }
} as const satisfies Record<string, { severity: Severity, condition: boolean, summary: string }>

export type AlertKind = keyof typeof ALERT_KINDS

/** `raised`: the condition began (or the event happened); `reminder`: it still lasts; `resolved`: it ended. */
export type AlertState = 'raised' | 'reminder' | 'resolved'

export interface Alert {
  kind: AlertKind
  state: AlertState
  /** `info` when resolved, else the kind's. */
  severity: Severity
  /** What happened, for people: the kind's summary and the detail. */
  summary: string
  detail: string
  /** A PORTCULLIS_ code behind it, when there is one. */
  code?: string
  /** When the condition began (the event's time for an event). */
  since: string
  time: string
  host: string
  fields: Record<string, unknown>
}

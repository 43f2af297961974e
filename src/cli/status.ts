import { adminJson } from '../admin/client.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { formatElapsed } from '../core/duration.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'
import { OUTPUT_OPTION, outputFormat, outputHelp, renderFields } from './output.js'

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'Show the running daemon: version, policy digest and load time (and the fleet revision in force, with --policy-from fleet), the audit store\'s state, head and group-commit counters, the SSH bridge and its live sessions, fleet shipping, each SIEM output (policy outputs) with its cursor and lag, the alert sinks (last delivery, failures, queue) and the alert conditions that last now. Exits 1 while the audit store cannot be written (every call is then denied).',
  usage: 'status [-o table|json] [--admin-socket PATH]',
  options: { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket }, ...OUTPUT_OPTION },
  help: { '--admin-socket PATH': `the daemon's admin socket (default ${DEFAULTS.adminSocket})`, ...outputHelp('the daemon\'s whole status document') },
  async run (values) {
    const format = outputFormat(values, 'status')
    const { body } = await adminJson<unknown>(values['admin-socket'], 'GET', '/v1/status')
    // The answer quotes the policy path and bridge errors: C1 and bidi characters become \u escapes (JSON), or
    // visible escapes (the human view, through renderFields).
    process.stdout.write(format === 'json' ? terminalSafeJson(JSON.stringify(body, null, 2)) + '\n' : renderFields(statusFields(body as StatusBody)))
    // A daemon that denies every call because it cannot record them is not healthy: say so, and exit 1.
    // The alerts that last now, one line each, where an operator reading a terminal sees them.
    const alerts = (body as { alerts?: { active?: Array<{ kind?: unknown, since?: unknown, detail?: unknown }> } | null }).alerts
    for (const active of alerts?.active ?? []) {
      process.stderr.write(terminalSafeJson(`portcullis: alert ${String(active.kind)} since ${String(active.since)}: ${String(active.detail)}\n`))
    }
    const audit = (body as StatusBody).audit
    if (audit?.state !== undefined && audit.state !== 'ok') {
      const outage = audit.outage ?? {}
      process.stderr.write(terminalSafeJson(`portcullis: the audit store is ${String(audit.state)} since ${String(outage.since)} (${String(outage.code)}: ${String(outage.error)}); every call is denied until records can be written again\n`))
      return 1
    }
    return 0
  }
})

/** What the human view reads from /v1/status; every field may be missing (an older daemon). */
interface StatusBody {
  version?: string
  pid?: number
  startedAt?: string
  policy?: { path?: string, digest?: string, loadedAt?: string, revision?: unknown }
  audit?: { state?: string, head?: { seq?: number, hash?: string }, outage?: { code?: unknown, error?: unknown, since?: unknown } | null }
  bridge?: { listen?: string, sessions?: number, error?: string } | null
  fleet?: { state?: string, hostId?: string, lag?: number, alarms?: unknown[], lastError?: { code?: string } | null } | null
  fleetRecordings?: { state?: string } | null
  outputs?: Array<{ name?: string, state?: string, lag?: number, deliveredSeq?: number, sink?: { delivery?: string, inFlight?: number } }>
  alerts?: { active?: Array<{ kind?: unknown }> } | null
}

/** The few lines `status` shows by default. */
export function statusFields (s: StatusBody, now = new Date()): Array<[string, string]> {
  const started = s.startedAt !== undefined ? Date.parse(s.startedAt) : NaN
  const uptime = Number.isNaN(started) ? '' : `, up ${formatElapsed(Math.max(0, now.getTime() - started))}`
  const fields: Array<[string, string]> = [['daemon', `version ${s.version ?? '?'}, pid ${s.pid ?? '?'}${uptime}`]]
  const p = s.policy
  if (p !== undefined) {
    const revision = p.revision != null ? `, fleet revision ${typeof p.revision === 'object' ? String((p.revision as { revision?: unknown }).revision ?? JSON.stringify(p.revision)) : String(p.revision)}` : ''
    fields.push(['policy', `${p.path ?? '?'} (digest ${(p.digest ?? '?').slice(0, 12)}${revision}, loaded ${p.loadedAt ?? '?'})`])
  }
  const a = s.audit
  if (a !== undefined) fields.push(['audit', `${a.state ?? '?'}, head seq ${a.head?.seq ?? '?'}${a.head?.hash !== undefined ? ` (${a.head.hash.slice(0, 12)})` : ''}`])
  const b = s.bridge
  fields.push(['bridge', b == null ? 'off' : b.error !== undefined ? `not listening: ${b.error}` : `listening on ${b.listen ?? '?'}, ${b.sessions ?? 0} live session(s)`])
  const f = s.fleet
  if (f != null) {
    const error = f.lastError != null ? `, last error ${f.lastError.code ?? '?'}` : ''
    fields.push(['fleet', `${f.state ?? '?'} as ${f.hostId ?? '?'}, ${f.lag ?? '?'} record(s) behind${error}`])
    if (Array.isArray(f.alarms) && f.alarms.length > 0) fields.push(['alarms', `${f.alarms.length} (see -o json)`])
  }
  if (s.fleetRecordings != null) fields.push(['recordings', `shipping: ${s.fleetRecordings.state ?? '?'}`])
  for (const output of s.outputs ?? []) {
    // What "delivered" means differs by sink (handed to the kernel, acknowledged by a RELP receiver, sealed): said.
    const delivered = output.deliveredSeq !== undefined ? `, delivered up to seq ${output.deliveredSeq}${output.sink?.delivery !== undefined ? ` (${output.sink.delivery})` : ''}` : ''
    const inFlight = output.sink?.inFlight !== undefined && output.sink.inFlight > 0 ? `, ${output.sink.inFlight} sent and not yet acknowledged` : ''
    fields.push([`output ${output.name ?? '?'}`, `${output.state ?? '?'}, ${output.lag ?? '?'} record(s) behind${delivered}${inFlight}`])
  }
  if (s.alerts != null) fields.push(['alerts', (s.alerts.active ?? []).length === 0 ? 'none in force' : (s.alerts.active ?? []).map((a) => String(a.kind)).join(', ')])
  return fields
}

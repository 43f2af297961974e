import { adminJson } from '../admin/client.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'Show the running daemon: version, policy digest and load time (and the fleet revision in force, with --policy-from fleet), the audit store\'s state, head and group-commit counters, the SSH bridge and its live sessions, fleet shipping, each SIEM output (policy outputs) with its cursor and lag, the alert sinks (last delivery, failures, queue) and the alert conditions that last now. Exits 1 while the audit store cannot be written (every call is then denied).',
  usage: 'status [--admin-socket PATH]',
  options: { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } },
  help: { '--admin-socket PATH': `the daemon's admin socket (default ${DEFAULTS.adminSocket})` },
  async run (values) {
    const { body } = await adminJson<unknown>(values['admin-socket'], 'GET', '/v1/status')
    // The answer quotes the policy path and bridge errors: C1 and bidi characters become \u escapes.
    process.stdout.write(terminalSafeJson(JSON.stringify(body, null, 2)) + '\n')
    // A daemon that denies every call because it cannot record them is not healthy: say so, and exit 1.
    // The alerts that last now, one line each, where an operator reading a terminal sees them.
    const alerts = (body as { alerts?: { active?: Array<{ kind?: unknown, since?: unknown, detail?: unknown }> } | null }).alerts
    for (const active of alerts?.active ?? []) {
      process.stderr.write(terminalSafeJson(`portcullis: alert ${String(active.kind)} since ${String(active.since)}: ${String(active.detail)}\n`))
    }
    const audit = (body as { audit?: { state?: unknown, outage?: { code?: unknown, error?: unknown, since?: unknown } | null } }).audit
    if (audit?.state !== undefined && audit.state !== 'ok') {
      const outage = audit.outage ?? {}
      process.stderr.write(terminalSafeJson(`portcullis: the audit store is ${String(audit.state)} since ${String(outage.since)} (${String(outage.code)}: ${String(outage.error)}); every call is denied until records can be written again\n`))
      return 1
    }
    return 0
  }
})

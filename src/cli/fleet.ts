// `portcullis fleet init-db|status|verify`: the fleet's PostgreSQL, made ready and read. Hosts ship to it from
// `serve --fleet URL`; these commands talk to it directly, from any machine that can reach it.

import type pg from 'pg'
import { isExportFormat, writeExport } from '../audit/export.js'
import { fleetRecords } from '../fleet/export.js'
import { EXPORT_FILTER_HELP, EXPORT_FILTER_OPTIONS, exportFilterFromFlags } from './audit-export.js'
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { fleetStatus, verifyFleet, type HostStatus, type HostVerdict } from '../fleet/central.js'
import { checkSchema, connectFleet, fleetError, fleetTarget, PASSWORD_ENV, type FleetTarget } from '../fleet/connection.js'
import { isHostId } from '../fleet/host-identity.js'
import { migrateFleetSchema } from '../fleet/migrate.js'
import { INGEST_ROLE, READER_ROLE } from '../fleet/schema.js'
import { defineCommand, required } from './command.js'
import { describeExport, FORCE_HELP, FORCE_OPTION, openOutFile } from './out-file.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

const FLEET_OPTIONS = {
  fleet: { type: 'string' },
  'fleet-password-file': { type: 'string' },
  ...OUTPUT_OPTION
} as const

export const FLEET_HELP = {
  '--fleet URL': 'the fleet database, postgresql://USER@HOST:PORT/DATABASE (no password in it)',
  '--fleet-password-file FILE': `the password of USER (default $${PASSWORD_ENV}, else none)`,
  ...outputHelp('print the result as JSON')
}

export async function withFleet<T> (values: { fleet?: string, 'fleet-password-file'?: string }, command: string, work: (client: pg.Client, target: FleetTarget) => Promise<T>): Promise<T> {
  const target = fleetTarget(required(values.fleet, '--fleet', command), values['fleet-password-file'])
  const client = await connectFleet(target)
  try {
    return await work(client, target)
  } catch (err) {
    throw fleetError(err, target)
  } finally {
    await client.end().catch(() => {})
  }
}

export const fleetInitDbCommand = defineCommand({
  name: 'fleet init-db',
  summary: `Make (or upgrade) the fleet's tables in PostgreSQL, and the roles ${INGEST_ROLE} (hosts: INSERT and SELECT only, so no host can delete or rewrite history) and ${READER_ROLE} (reviewers: SELECT). Run it as the database's owner; running it again changes nothing.`,
  usage: 'fleet init-db --fleet URL [--fleet-password-file FILE] [-o table|json]',
  options: FLEET_OPTIONS,
  help: FLEET_HELP,
  async run (values) {
    const result = await withFleet(values, 'fleet init-db', migrateFleetSchema)
    if (wantsJson(values, 'fleet init-db')) process.stdout.write(JSON.stringify(result) + '\n')
    else {
      process.stdout.write(result.applied.length === 0
        ? `the fleet schema is at version ${result.to}: nothing to do\n`
        : result.applied.map((m) => `applied migration ${m.version}: ${m.description}\n`).join('') + `the fleet schema is at version ${result.to}\n`)
      process.stdout.write(`grant ${INGEST_ROLE} to each host's login role, ${READER_ROLE} to reviewers' (GRANT ${INGEST_ROLE} TO host_web1;)\n`)
    }
    return 0
  }
})

export const fleetStatusCommand = defineCommand({
  name: 'fleet status',
  summary: 'List the fleet\'s hosts: when each was last seen, the policy it runs, how far its audit chain is shipped and how far behind it is, and its alarms. Exits 1 when a host has an alarm.',
  usage: 'fleet status --fleet URL [--fleet-password-file FILE] [-o table|json]',
  options: FLEET_OPTIONS,
  help: FLEET_HELP,
  async run (values) {
    const hosts = await withFleet(values, 'fleet status', async (client, target) => {
      await checkSchema(client, target)
      return await fleetStatus(client)
    })
    process.stdout.write(wantsJson(values, 'fleet status') ? terminalSafeJson(JSON.stringify(hosts, null, 2)) + '\n' : formatStatus(hosts))
    return hosts.some((h) => h.alarms > 0) ? 1 : 0
  }
})

export const fleetVerifyCommand = defineCommand({
  name: 'fleet verify',
  summary: 'Check every host\'s audit chain as the fleet database holds it, with the verifier `audit verify` uses, each checkpoint against the key the host registered, and each shipped recording against the size and sha256 its session.end holds; names the host and the first bad record or the session. Exit 0 when all hold, 1 when not.',
  usage: 'fleet verify --fleet URL [--fleet-password-file FILE] [--host HOST_ID] [-o table|json]',
  options: { ...FLEET_OPTIONS, host: { type: 'string' } },
  help: { ...FLEET_HELP, '--host HOST_ID': 'check only this host (h- and 16 hex digits, as `fleet status` lists them)' },
  async run (values) {
    if (values.host !== undefined && !isHostId(values.host)) throw new PortcullisError('PORTCULLIS_USAGE', `--host ${values.host} is not a host ID (h- and 16 hex digits)`, 'fleet verify')
    const verdicts = await withFleet(values, 'fleet verify', async (client, target) => {
      await checkSchema(client, target)
      const found = await verifyFleet(client, values.host !== undefined ? { hostId: values.host } : {})
      if (values.host !== undefined && found.length === 0) throw new PortcullisError('PORTCULLIS_FLEET_NO_HOST', target.url, values.host)
      return found
    })
    process.stdout.write(wantsJson(values, 'fleet verify') ? terminalSafeJson(JSON.stringify({ ok: verdicts.every((v) => v.ok), hosts: verdicts }, null, 2)) + '\n' : formatVerdicts(verdicts))
    return verdicts.every((v) => v.ok) ? 0 : 1
  }
})

export const fleetExportCommand = defineCommand({
  name: 'fleet export',
  summary: 'Stream the records of every host (or one) from the fleet database, host by host in seq order, with the filters of `audit export`: JSON lines that wrap each record exactly as its host stored it ({"host","hostName","record"}), or CSV with host columns.',
  usage: 'fleet export --fleet URL [--fleet-password-file FILE] [--host HOST_ID] [--format jsonl|csv] [--since TIME] [--until TIME] [--user USER]\n' +
    '       [--project NAME] [--container NAME|ID] [--action GLOB] [--decision allow|deny] [--session ID] [--from-seq N] [--to-seq N] [--out FILE [--force]]',
  options: {
    fleet: { type: 'string' },
    'fleet-password-file': { type: 'string' },
    host: { type: 'string' },
    format: { type: 'string', default: 'jsonl' },
    ...EXPORT_FILTER_OPTIONS,
    out: { type: 'string' },
    ...FORCE_OPTION
  },
  help: {
    '--fleet URL': FLEET_HELP['--fleet URL'],
    '--fleet-password-file FILE': FLEET_HELP['--fleet-password-file FILE'],
    '--host HOST_ID': 'only this host\'s records',
    '--format FORMAT': 'jsonl (the default) or csv',
    ...EXPORT_FILTER_HELP,
    '--session ID': 'only the records of this SSH session',
    '--out FILE': 'write to FILE (mode 600) instead of stdout, and say on stderr what was written',
    ...FORCE_HELP
  },
  async run (values) {
    if (values.host !== undefined && !isHostId(values.host)) throw new PortcullisError('PORTCULLIS_USAGE', `--host ${values.host} is not a host ID (h- and 16 hex digits)`, 'fleet export')
    if (!isExportFormat(values.format)) throw new PortcullisError('PORTCULLIS_USAGE', `unknown --format ${values.format}; use jsonl or csv`, 'fleet export')
    const format = values.format
    const filter = exportFilterFromFlags(values)
    const out = values.out === undefined ? process.stdout : await openOutFile(values.out, values.force, 0o600)
    const tally = { unreadable: 0 }
    let written = 0
    try {
      await withFleet(values, 'fleet export', async (client, target) => {
        await checkSchema(client, target)
        written = await writeExport(fleetRecords(client, filter, tally, values.host), format, out, { hostOf: (row) => ({ host: row.host, name: row.hostName }) })
      })
    } finally {
      if (values.out !== undefined) await new Promise<void>((resolve) => out.end(() => resolve()))
    }
    if (values.out !== undefined) process.stderr.write(await describeExport(values.out, written, format, false))
    if (tally.unreadable > 0) process.stderr.write(`portcullis: ${tally.unreadable} row(s) of the database are not audit records and were left out: run \`portcullis fleet verify\`\n`)
    return tally.unreadable > 0 ? 1 : 0
  }
})

function formatStatus (hosts: HostStatus[]): string {
  if (hosts.length === 0) return 'no host has shipped to this database yet\n'
  const lines = hosts.map((h) => [
    `${h.hostId}  ${visible(h.name)}`,
    `  last seen ${h.lastSeen ?? 'never'}, portcullis ${h.version ?? '?'}, policy ${h.policyDigest?.slice(0, 12) ?? '?'}${h.policyRevision !== null ? ` (revision ${h.policyRevision})` : ''}`,
    `  shipped up to record ${h.shippedSeq} (${h.records} records, the newest from ${h.lastRecordAt ?? '-'}); ${h.lag === null ? 'lag unknown' : `${h.lag} behind at its last report`}`,
    `  recordings: ${h.recordingBytes} bytes held; ${h.recordingLag === null ? 'lag unknown' : `${h.recordingLag} bytes behind at its last report`}` +
      (h.recordingMissing > 0 ? `; ${h.recordingMissing} bytes its ended sessions vouch for are not here yet` : ''),
    h.lastAlarm === null ? '  no alarms' : `  ${h.alarms} alarm(s), the last: ${h.lastAlarm.kind} at record ${h.lastAlarm.seq ?? '-'} (${h.lastAlarm.at}${h.lastAlarm.reportedBy !== null ? `, raised by login ${visible(h.lastAlarm.reportedBy)}` : ''}): ${visible(h.lastAlarm.detail)}`
  ].join('\n'))
  return lines.join('\n') + '\n'
}

function formatVerdicts (verdicts: HostVerdict[]): string {
  if (verdicts.length === 0) return 'no host has shipped to this database yet\n'
  const lines = verdicts.map((v) => {
    const head = `${v.ok ? 'ok  ' : 'FAIL'} ${v.hostId}  ${visible(v.name)}: records ${v.fromSeq ?? '-'} to ${v.toSeq ?? '-'} (${v.records}), ${v.checkpoints} checkpoint(s), ${v.recordings} recording(s) hold`
    const problems = [
      ...(v.firstBad !== null ? [`  first bad record ${v.firstBad.seq}: ${v.firstBad.problem}`] : []),
      ...v.badColumns.map((c) => `  record ${c.seq}: its ${c.columns.join(', ')} column(s) say otherwise than its body (a filtered export or query would miss or misfile it)`),
      ...v.badCheckpoints.map((c) => `  checkpoint ${c.seq}: ${c.problem}`),
      ...v.badRecordings.map((r) => `  recording of session ${r.session} (session.end at record ${r.seq}): ${r.problem}`),
      ...v.pendingRecordings.map((r) => `  recording of session ${r.session} (session.end at record ${r.seq}): pending (${r.pendingBytes} bytes not shipped yet)`),
      ...v.alarms.map((a) => `  alarm ${a.kind} at record ${a.seq ?? '-'} (${a.at}${a.reportedBy !== null ? `, raised by login ${visible(a.reportedBy)}` : ''}): ${visible(a.detail)}`)
    ]
    return [head, ...problems].join('\n')
  })
  const failed = verdicts.filter((v) => !v.ok).length
  return lines.join('\n') + `\n${failed === 0 ? `all ${verdicts.length} host(s) hold` : `${failed} of ${verdicts.length} host(s) do not hold`}\n`
}

// `portcullis audit export`: records as JSON lines or CSV (audit-export.ts), or one session's recording as asciicast
// (cast-export.ts).
import { isExportFormat } from '../audit/export.js'
import { PortcullisError } from '../errors.js'
import { EXPORT_FILTER_HELP, EXPORT_FILTER_OPTIONS, exportFilterFromFlags, exportRecords } from './audit-export.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS, DATA_HELP } from './audit-options.js'
import { requireSessionId, withAuditAccess } from './audit-access.js'
import { exportCast } from './cast-export.js'
import { defineCommand } from './command.js'
import { FORCE_HELP, FORCE_OPTION } from './out-file.js'

export const auditExportCommand = defineCommand({
  name: 'audit export',
  summary: 'Stream audit records as JSON lines or CSV, filtered by time, user, project, container, action, decision or session (constant memory), or one session\'s recording as an asciicast file.',
  usage: 'audit export [--format jsonl|csv] [--since TIME] [--until TIME] [--user USER] [--project NAME] [--container NAME|ID]\n' +
    '       [--action GLOB] [--decision allow|deny] [--session ID] [--from-seq N] [--to-seq N] [--out FILE [--force]] [--admin-socket PATH | --url URL [--token-file FILE] | --data DIR]\n' +
    '       portcullis audit export --session ID [--format asciicast] [--out FILE [--force]] [--admin-socket PATH | --url URL [--token-file FILE] | --data DIR]',
  remembers: AUDIT_REMEMBERS,
  options: {
    ...ADMIN_OPTION,
    ...EXPORT_FILTER_OPTIONS,
    format: { type: 'string' },
    out: { type: 'string' },
    ...FORCE_OPTION,
    data: { type: 'string' }
  },
  help: {
    ...ADMIN_HELP,
    ...DATA_HELP,
    '--format FORMAT': 'jsonl (records exactly as stored, one per line; the default), csv (for spreadsheets) or asciicast (a session\'s recording; the default when --session is the only option that selects)',
    ...EXPORT_FILTER_HELP,
    '--session ID': 'with jsonl or csv, only the records of this SSH session; with asciicast, its recording exactly as stored (asciinema play/cat/upload take it); IDs from `portcullis audit sessions`',
    '--out FILE': 'write to FILE instead of stdout, and say on stderr what was written (file, records, bytes, seq range)',
    ...FORCE_HELP
  },
  async run (values) {
    const usage = (problem: string): PortcullisError => new PortcullisError('PORTCULLIS_USAGE', problem, 'audit export')
    const selectors = (['since', 'until', 'user', 'project', 'container', 'action', 'decision', 'from-seq', 'to-seq'] as const).filter((flag) => values[flag] !== undefined)
    const format = values.format ?? (values.session !== undefined && selectors.length === 0 ? 'asciicast' : 'jsonl')
    if (format === 'asciicast') {
      if (values.session === undefined) throw usage('--format asciicast exports one session\'s recording: add --session ID (`portcullis audit sessions` lists them)')
      if (selectors.length > 0) throw usage(`--${selectors[0]!} selects records, not a recording: add --format jsonl or --format csv to export the session's records`)
      const id = requireSessionId(values.session)
      await withAuditAccess(values, async (access) => { await exportCast(access, id, values.out, values.force) })
      return 0
    }
    if (!isExportFormat(format)) throw usage(`unknown --format ${format}; use jsonl, csv or asciicast`)
    const filter = exportFilterFromFlags(values)
    await withAuditAccess(values, async (access) => await exportRecords({ format, filter, access, out: values.out, force: values.force }))
    return 0
  }
})

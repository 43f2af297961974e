// `portcullis audit export` for records: a filter from the command line, the records as JSON lines or CSV, read
// through the AuditAccess the command chose (the running daemon, or with --data a store no daemon owns). Either
// way the records stream through in constant memory.

import { finished } from 'node:stream/promises'
import type { ExportFormat } from '../audit/export.js'
import { filterFromParams, type AuditFilter } from '../audit/query.js'
import { messageOf } from '../audit/errors.js'
import { PortcullisError } from '../errors.js'
import type { AuditAccess } from './audit-access.js'
import { describeExport, openOutFile } from './out-file.js'
import { ExportProgress } from './export-progress.js'

/** The command's filter flags, as parseArgs gives them. */
export interface ExportFilterFlags {
  since?: string | undefined
  until?: string | undefined
  user?: string | undefined
  project?: string | undefined
  container?: string | undefined
  action?: string | undefined
  decision?: string | undefined
  session?: string | undefined
  'from-seq'?: string | undefined
  'to-seq'?: string | undefined
}

/** The filter flags, as parseArgs options: `audit export` and `fleet export` take the same ones. */
export const EXPORT_FILTER_OPTIONS = {
  since: { type: 'string' },
  until: { type: 'string' },
  user: { type: 'string' },
  project: { type: 'string' },
  container: { type: 'string' },
  action: { type: 'string' },
  decision: { type: 'string' },
  session: { type: 'string' },
  'from-seq': { type: 'string' },
  'to-seq': { type: 'string' }
} as const

export const EXPORT_FILTER_HELP: Record<string, string> = {
  '--since TIME': 'records at or after TIME: ISO 8601 (2026-01-31, 2026-01-31T08:00:00Z; UTC unless an offset is given) or a duration back from now (90s, 15m, 8h, 7d, 4w)',
  '--until TIME': 'records before TIME (same forms; the record at TIME itself is left out)',
  '--user USER': 'only this user\'s records',
  '--project NAME': 'only records in this project',
  '--container NAME|ID': 'only records that name this container (its name, or an ID of 12 hex digits or more)',
  '--action GLOB': 'only these actions; * matches anything (container.*, image.pull)',
  '--decision allow|deny': 'only allowed or only denied calls',
  '--from-seq N': 'first record (default: the oldest)',
  '--to-seq N': 'last record (default: the newest)'
}

/** The filter the flags ask for; relative times count back from now. Throws PORTCULLIS_AUDIT_FILTER_INVALID. */
export function exportFilterFromFlags (flags: ExportFilterFlags, now = new Date()): AuditFilter {
  return filterFromParams({
    since: flags.since,
    until: flags.until,
    user: flags.user,
    project: flags.project,
    container: flags.container,
    action: flags.action,
    decision: flags.decision,
    session: flags.session,
    fromSeq: flags['from-seq'],
    toSeq: flags['to-seq']
  }, now)
}

export interface ExportRecordsOptions {
  format: ExportFormat
  filter: AuditFilter
  /** The daemon, or a store read directly. */
  access: AuditAccess
  /** Write here instead of stdout. */
  out?: string | undefined
  /** Overwrite an existing --out. */
  force?: boolean
}

/** Writes the matching records to --out or stdout; resolves with how many were written. */
export async function exportRecords (options: ExportRecordsOptions): Promise<number> {
  const out = options.out === undefined ? process.stdout : await openOutFile(options.out, options.force === true)
  // A failed write is reported once the export stops; meanwhile it must not crash the process.
  let failure: Error | null = null
  const onError = (err: Error): void => { failure ??= err }
  out.on('error', onError)
  // On a terminal that also shows the records, a progress line would be mixed into them.
  const progress = new ExportProgress(process.stderr)
  const showProgress = progress.enabled && (options.out !== undefined || process.stdout.isTTY !== true)
  const onProgress = showProgress ? (records: number) => { progress.update(records) } : undefined
  let written = 0
  try {
    written = await options.access.exportRecords(options.filter, options.format, out, onProgress)
  } catch (err) {
    // When the output failed, whatever the export then threw follows from that: report the output's error.
    if (failure === null) throw err
  } finally {
    progress.finish()
  }
  if (options.out !== undefined) {
    out.end()
    await finished(out).catch(onError)
  }
  out.off('error', onError)
  const err = failure as Error | null
  // A reader that stops early (`| head`) is not an error.
  if (err !== null && (err as NodeJS.ErrnoException).code !== 'EPIPE') throw new PortcullisError('PORTCULLIS_OUTPUT', options.out ?? 'to standard output', messageOf(err))
  if (options.out !== undefined) process.stderr.write(await describeExport(options.out, written, options.format))
  return written
}

// `portcullis audit verify`: the hash chain and its checkpoints, from the running daemon or a store directory, and
// with --checkpoints the copies of the checkpoints kept outside the store.
import { readFile } from 'node:fs/promises'
import { checkCheckpointCopies, readCheckpointCopies, readLoggedHeads, type CheckpointCopiesReport } from '../audit/checkpoint-copies.js'
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import type { VerifyReport } from '../audit/verify.js'
import { PortcullisError } from '../errors.js'
import { withAuditAccess, type AuditAccess } from './audit-access.js'
import { formatVerifyReport, verifyPublicKeys } from './audit-checkpoints.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS } from './audit-options.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

export const auditVerifyCommand = defineCommand({
  name: 'audit verify',
  summary: 'Check the audit hash chain and its signed checkpoints, name the first record that was changed, removed or inserted, and the checkpoint the verdict rests on. Exit 0 when intact, 1 when not.',
  usage: 'audit verify [--admin-socket PATH | --url URL [--token-file FILE]] [--data DIR [--public-key FILE | --keys DIR]] [--checkpoints FILE] [-o table|json]',
  remembers: AUDIT_REMEMBERS,
  options: { ...ADMIN_OPTION, data: { type: 'string' }, 'public-key': { type: 'string' }, keys: { type: 'string' }, checkpoints: { type: 'string' }, ...OUTPUT_OPTION },
  help: {
    ...ADMIN_HELP,
    '--data DIR': 'verify a store directly, when no daemon owns it (stopped daemon, copied store)',
    '--public-key FILE': 'check checkpoint signatures with this audit_ed25519.pub (the one published for the host)',
    '--keys DIR': `with --data: the keys directory holding audit_ed25519.pub (default ${DEFAULTS.keys}, when it has one)`,
    '--checkpoints FILE': 'also check the checkpoint copies in FILE (the daemon\'s log, or checkpoints as JSON lines): they still hold when the store\'s own were deleted',
    ...outputHelp('print the report as JSON')
  },
  async run (values) {
    if (values.data === undefined && values.keys !== undefined) {
      throw new PortcullisError('PORTCULLIS_USAGE', '--keys goes with --data: the running daemon checks with its own key', 'audit verify')
    }
    if (values.data === undefined && values['public-key'] !== undefined && values.checkpoints === undefined) {
      throw new PortcullisError('PORTCULLIS_USAGE', '--public-key goes with --data or --checkpoints: the running daemon checks its own checkpoints with its own key', 'audit verify')
    }
    const report = await withAuditAccess(values, async (access) => {
      const report: VerifyReport & { checkpointCopies?: CheckpointCopiesReport } = await access.verify(values.data !== undefined ? verifyPublicKeys(values) : undefined)
      if (values.checkpoints !== undefined) {
        const copies = await checkCopiesFor(access, values.checkpoints, values, report)
        report.checkpointCopies = copies
        if (report.ok && copies.firstBad !== undefined) {
          report.ok = false
          report.firstBad = copies.firstBad
        }
      }
      return report
    })
    process.stdout.write(wantsJson(values, 'audit verify') ? terminalSafeJson(JSON.stringify(report, null, 2)) + '\n' : formatVerifyReport(report) + formatCopies(report.checkpointCopies))
    return report.ok ? 0 : 1
  }
})

/** Checks the checkpoint copies in `file` against the store the report is about, through the same door. */
async function checkCopiesFor (access: AuditAccess, file: string, values: { data?: string, 'admin-socket': string, 'public-key'?: string, keys?: string }, report: VerifyReport): Promise<CheckpointCopiesReport> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_INPUT', file, (err as Error).message)
  }
  const copies = readCheckpointCopies(text)
  const keys = values.data !== undefined ? verifyPublicKeys(values) : values['public-key'] !== undefined ? verifyPublicKeys({ 'public-key': values['public-key'] }) : undefined
  const options = { ...(keys !== undefined ? { keys } : {}), expiredUpTo: report.base?.seq ?? 0, headSeq: report.head.seq, heads: readLoggedHeads(text) }
  return await checkCheckpointCopies(copies, async (seq) => await access.recordHash(seq), options)
}

function formatCopies (copies: CheckpointCopiesReport | undefined): string {
  if (copies === undefined) return ''
  const lines = [`checkpoint copies from the log: ${copies.found} found, ${copies.checked} hold` + (copies.heads > 0 ? `; ${copies.heads} logged heads` : '') +
    (copies.expired > 0 ? `, ${copies.expired} for expired records` : '') +
    (copies.last !== undefined ? `; the newest that holds signs record ${copies.last.seq} (${copies.last.time})` : '')]
  if (copies.firstBad !== undefined) lines.push(`a logged checkpoint does NOT hold: ${copies.firstBad.detail}`)
  if (!copies.signaturesChecked) lines.push('their signatures were NOT checked: pass --public-key FILE')
  return lines.map(visible).join('\n') + '\n'
}

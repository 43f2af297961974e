// `portcullis audit verify-files DIR`: checks a SIEM sealed-file output directory against the chain (src/siem/verify-files.ts).
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { verifySealedFiles, type FilesVerifyReport } from '../siem/verify-files.js'
import { withAuditAccess } from './audit-access.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS, DATA_HELP } from './audit-options.js'
import { defineCommand } from './command.js'

export const auditVerifyFilesCommand = defineCommand({
  name: 'audit verify-files',
  summary: 'Check a SIEM sealed-file output directory (policy outputs.files.dir) against the chain: every record from the first file\'s to the last file\'s once and in order, each line unchanged (its hash, linked to the line before), each file\'s last record the one the store holds. Exit 0 when it holds, 1 when not.',
  usage: 'audit verify-files DIR [--admin-socket PATH | --data DIR] [--json]',
  remembers: AUDIT_REMEMBERS,
  options: { ...ADMIN_OPTION, data: { type: 'string' }, json: { type: 'boolean', default: false } },
  help: { ...ADMIN_HELP, ...DATA_HELP, '--json': 'print the report as JSON' },
  async run (values, positionals) {
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new PortcullisError('PORTCULLIS_USAGE', 'give one directory: the sealed files\' (outputs.files.dir)', 'audit verify-files')
    const report = await withAuditAccess(values, async (access) => {
      try {
        return await verifySealedFiles(dir, async (seq) => await access.recordHash(seq))
      } catch (err) {
        if (err instanceof PortcullisError) throw err
        throw new PortcullisError('PORTCULLIS_INPUT', dir, (err as Error).message)
      }
    })
    process.stdout.write(values.json ? terminalSafeJson(JSON.stringify(report, null, 2)) + '\n' : formatReport(report))
    return report.ok ? 0 : 1
  }
})

function formatReport (report: FilesVerifyReport): string {
  const range = report.firstSeq === null ? 'no sealed files' : `records ${report.firstSeq} to ${report.lastSeq}`
  const lines = [`${report.dir}: ${report.files} sealed file(s), ${range}; ${report.records} record(s) check, ${report.anchored} file(s) matched against the store` +
    (report.openFile ? '; an open file not yet sealed (not checked)' : '')]
  for (const problem of report.problems) lines.push(`  ${problem.file}${problem.line !== undefined ? ` line ${problem.line}` : ''}: ${problem.detail}`)
  lines.push(report.ok ? 'the sealed files hold the chain: intact' : 'the sealed files do NOT hold the chain intact')
  return lines.map(visible).join('\n') + '\n'
}

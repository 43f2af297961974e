// `portcullis audit bundle` (an evidence bundle for a compliance review: records, recordings, checkpoints, the
// public key and report.html) and `portcullis audit verify-bundle` (checks one with nothing but the bundle).

import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { archiveName, isFreeDirectory } from '../audit/bundle-store.js'
import type { BundleOptions } from '../audit/bundle.js'
import type { BundleIssue, BundleVerifyReport } from '../audit/bundle-verify.js'
import { verifyAnyBundle, type FleetBundleVerifyReport } from '../audit/bundle-verify-fleet.js'
import { AuditError } from '../audit/errors.js'
import { parseTimeBound } from '../audit/query.js'
import { readAuditPublicKey } from '../audit/signing-key.js'
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { withAuditAccess } from './audit-access.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS } from './audit-options.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

const ARCHIVE_SUFFIX = /\.(tar\.gz|tgz)$/

export const auditBundleCommand = defineCommand({
  name: 'audit bundle',
  summary: 'Write an evidence bundle for a time range: every record in it (JSON lines and CSV), the session recordings, a checkpoint signed for it, the public key, and report.html. Check it with `portcullis audit verify-bundle`.',
  usage: 'audit bundle --out DIR|FILE.tar.gz [--since TIME] [--until TIME] [--from-seq N] [--to-seq N] [--admin-socket PATH | --url URL [--token-file FILE] | --data DIR [--keys DIR]]',
  remembers: AUDIT_REMEMBERS,
  options: {
    ...ADMIN_OPTION,
    data: { type: 'string' },
    keys: { type: 'string', default: DEFAULTS.keys },
    out: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    'from-seq': { type: 'string' },
    'to-seq': { type: 'string' }
  },
  help: {
    '--out DIR|FILE.tar.gz': 'where to write the bundle: a new (or empty) directory, or a .tar.gz / .tgz file',
    '--since TIME': 'first record at or after TIME: ISO 8601 (2026-01-31, 2026-01-31T08:00:00Z; UTC unless it has an offset) or back from now (90s, 15m, 8h, 7d, 4w); default: the oldest record',
    '--until TIME': 'records before TIME (same forms); default: up to the newest record',
    '--from-seq N': 'first record by sequence number',
    '--to-seq N': 'last record by sequence number',
    ...ADMIN_HELP,
    '--data DIR': 'bundle a store directly, when no daemon owns it (it signs a checkpoint and notes the bundle in the store)',
    '--keys DIR': `with --data: the keys directory holding audit_ed25519.key (default ${DEFAULTS.keys})`
  },
  async run (values) {
    const usage = (problem: string): PortcullisError => new PortcullisError('PORTCULLIS_USAGE', problem, 'audit bundle')
    if (values.out === undefined || values.out === '') throw usage('--out is required: a new directory, or FILE.tar.gz')
    const out = values.out
    const archive = ARCHIVE_SUFFIX.test(out)
    if (archive ? existsSync(out) : !await isFreeDirectory(out)) throw new AuditError(archive ? 'PORTCULLIS_AUDIT_BUNDLE_OUT_EXISTS' : 'PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY', [out])
    const now = new Date()
    const range: Pick<BundleOptions, 'since' | 'until' | 'fromSeq' | 'toSeq'> = {}
    if (values.since !== undefined) range.since = parseTimeBound(values.since, now, '--since')
    if (values.until !== undefined) range.until = parseTimeBound(values.until, now, '--until')
    for (const [flag, name] of [['from-seq', 'fromSeq'], ['to-seq', 'toSeq']] as const) {
      const value = values[flag]
      if (value === undefined) continue
      if (!/^\d+$/.test(value)) throw usage(`--${flag} takes a record sequence number`)
      range[name] = Number(value)
    }
    const name = archiveName(basename(out).replace(ARCHIVE_SUFFIX, ''))

    const summary = await withAuditAccess(values, async (access) => await access.bundle({ range, name, out, archive }))
    process.stdout.write(`wrote ${out}: records ${summary.fromSeq} to ${summary.toSeq} (${summary.records} records), ` +
      `${summary.casts} session recording${summary.casts === 1 ? '' : 's'}\n` +
      `signed by checkpoint seq ${summary.checkpoint.seq} at ${summary.checkpoint.time} with key ${summary.checkpoint.keyId}\n` +
      (archive ? '' : `the report: ${join(out, 'report.html')} (open it in a browser; it needs no network)\n`) +
      `check it with: portcullis audit verify-bundle ${out}\n`)
    return 0
  }
})

export const auditVerifyBundleCommand = defineCommand({
  name: 'audit verify-bundle',
  summary: 'Check an evidence bundle with nothing but the bundle: every record\'s hash and link, the checkpoint on its last record, each recording, each file; a fleet bundle host by host, naming the host and its first bad record. Exit 0 when intact, 1 when not.',
  usage: 'audit verify-bundle DIR|FILE.tar.gz [--public-key FILE] [-o table|json]',
  options: { 'public-key': { type: 'string' }, ...OUTPUT_OPTION },
  help: {
    '--public-key FILE': 'the audit_ed25519.pub published for the host: the bundle must be signed with it (without it, compare the key ID printed with the published one)',
    ...outputHelp('print the report as JSON')
  },
  async run (values, positionals) {
    if (positionals.length !== 1) throw new PortcullisError('PORTCULLIS_USAGE', 'give one bundle: a directory or a .tar.gz', 'audit verify-bundle')
    const publicKey = values['public-key'] !== undefined ? readAuditPublicKey(values['public-key']) : undefined
    const report = await verifyAnyBundle(positionals[0]!, publicKey !== undefined ? { publicKey } : {})
    const text = 'kind' in report ? formatFleetBundleReport(report) : formatBundleReport(report, publicKey !== undefined)
    process.stdout.write(wantsJson(values, 'audit verify-bundle') ? terminalSafeJson(JSON.stringify(report, null, 2)) + '\n' : text)
    return report.ok ? 0 : 1
  }
})

/** verify-bundle's text: the verdict and what it rests on, or every problem, the most telling first. */
export function formatBundleReport (report: BundleVerifyReport, keyGiven = false): string {
  const lines: string[] = []
  const range = report.range !== undefined ? ` (seq ${report.range.fromSeq} to ${report.range.toSeq})` : ''
  if (report.ok) {
    lines.push(`bundle intact: ${report.records} records${range}, ${report.sessions} session recording${report.sessions === 1 ? '' : 's'}, ` +
      `${report.checkpoints} checkpoint${report.checkpoints === 1 ? '' : 's'} checked`)
    const cp = report.checkpoint
    if (cp !== undefined) lines.push(`the last record is signed by the checkpoint at seq ${cp.seq}, made at ${cp.time} with key ${cp.keyId}`)
  } else {
    lines.push(`bundle BROKEN: ${describeIssue(report.firstBad!)}`)
    for (const issue of report.problems.slice(1)) lines.push(`  also: ${describeIssue(issue)}`)
  }
  if (report.key !== undefined) {
    lines.push(`signing key ${report.key.keyId} (sha256 of the public key: ${report.key.sha256})` +
      (keyGiven ? '' : ': compare it with the key published for this host, or pass it with --public-key'))
  }
  if (report.unanchored.length > 0) {
    lines.push(`note: ${report.unanchored.length} recording${report.unanchored.length === 1 ? ' has' : 's have'} no session.end in the bundle (the session ended after the range, or was still open), ` +
      `so only the manifest vouches for ${report.unanchored.length === 1 ? 'it' : 'them'}: ${report.unanchored.join(', ')}`)
  }
  // A bundle is someone else's files: its file names and contents reach this text.
  return lines.map(visible).join('\n') + '\n'
}

/** A fleet bundle's verdict: one line per host, then every problem with its host named. */
function formatFleetBundleReport (report: FleetBundleVerifyReport): string {
  const lines: string[] = []
  const onHost = report.hosts.reduce((sum, host) => sum + (host.report?.onHost?.length ?? 0), 0)
  if (report.ok) lines.push(`fleet bundle intact: ${report.hosts.length} host(s)`)
  else {
    const bad = report.firstBad!
    lines.push(`fleet bundle BROKEN: ${bad.host !== undefined ? `host ${bad.host}, ` : ''}${describeIssue(bad)}`)
  }
  for (const host of report.hosts) {
    const part = host.report
    const head = `  ${host.ok ? 'ok  ' : 'FAIL'} ${host.hostId}  ${host.name}: `
    if (part === undefined) lines.push(head + `no part${host.note !== null ? ` (${host.note})` : ''}`)
    else {
      lines.push(head + `${part.records} records${part.range !== undefined ? ` (seq ${part.range.fromSeq} to ${part.range.toSeq})` : ''}, ${part.checkpoints} checkpoint(s) checked` +
        (part.key !== undefined ? `, key ${part.key.keyId} (sha256 ${part.key.sha256})` : ''))
    }
  }
  for (const issue of report.problems.slice(1)) lines.push(`  also: ${issue.host !== undefined ? `host ${issue.host}, ` : ''}${describeIssue(issue)}`)
  if (onHost > 0) lines.push(`session recordings left on their hosts: ${onHost} session.end record(s) in the bundle hold the digests to check them against there; their absence here is by design, not tampering`)
  lines.push('compare each host\'s key ID with the one published for it')
  return lines.map(visible).join('\n') + '\n'
}

function describeIssue (issue: BundleIssue): string {
  const where = issue.seq !== undefined && issue.file.endsWith('.jsonl') ? `${issue.file}, record ${issue.seq}` : issue.file
  return `${where}: ${issue.problem} (${issue.detail})`
}

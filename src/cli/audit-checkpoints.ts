// `portcullis audit checkpoint` and `portcullis audit expire`, and how `audit verify` finds the public key and
// tells which checkpoint its verdict rests on.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { adminJson } from '../admin/client.js'
import type { Checkpoint } from '../audit/checkpoint-format.js'
import { SEGMENT_SIZE, type ExpiryResult } from '../audit/retention.js'
import { AUDIT_PUBLIC_KEY_FILE, readAuditPublicKey, readAuditPublicKeyFromDir, type AuditPublicKey } from '../audit/signing-key.js'
import type { VerifyReport } from '../audit/verify.js'
import { visible } from '../audit/terminal-text.js'
import { errorFromAnswer, PortcullisError } from '../errors.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

const adminOption = { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } } as const
const adminHelp = { '--admin-socket PATH': `the running daemon's admin socket (default ${DEFAULTS.adminSocket})` }
/** Statuses the integrity routes answer with a JSON `{ error, code }`. */
const REFUSALS = [400, 404, 409, 503]

export const auditCheckpointCommand = defineCommand({
  name: 'audit checkpoint',
  summary: 'Have the running daemon sign the newest audit record (or --seq N) now, after checking the chain up to it, and print the checkpoint.',
  usage: 'audit checkpoint [--seq N] [-o table|json] [--admin-socket PATH]',
  options: { ...adminOption, seq: { type: 'string' }, ...OUTPUT_OPTION },
  help: { ...adminHelp, '--seq N': 'sign this record (default: the newest)', ...outputHelp('print the checkpoint as stored: one JSON line') },
  async run (values) {
    if (values.seq !== undefined && !/^\d+$/.test(values.seq)) throw new PortcullisError('PORTCULLIS_USAGE', '--seq takes a record sequence number', 'audit checkpoint')
    const checkpoint = await adminPost<Checkpoint>(values['admin-socket'], `/v1/audit/checkpoint${values.seq !== undefined ? `?seq=${values.seq}` : ''}`)
    process.stdout.write(wantsJson(values, 'audit checkpoint')
      ? JSON.stringify(checkpoint) + '\n'
      : `signed record ${checkpoint.seq} (${checkpoint.hash}) at ${checkpoint.time} with key ${checkpoint.keyId}\n`)
    return 0
  }
})

export const auditExpireCommand = defineCommand({
  name: 'audit expire',
  summary: `Remove audit records older than the policy's audit.retention now (the daemon also does it daily), ${SEGMENT_SIZE.toLocaleString('en')} at a time, and only those an evidence bundle holds. Exit 1 when old records were kept for want of a bundle.`,
  usage: 'audit expire [--dry-run] [--force] [-o table|json] [--admin-socket PATH]',
  options: { ...adminOption, 'dry-run': { type: 'boolean', default: false }, force: { type: 'boolean', default: false }, ...OUTPUT_OPTION },
  help: {
    ...adminHelp,
    '--dry-run': 'say what would be removed; remove nothing',
    '--force': 'remove old records even when no `audit bundle` holds them (they are then gone for good)',
    ...outputHelp('print the result as JSON')
  },
  async run (values) {
    const query = new URLSearchParams({ dryRun: String(values['dry-run']), force: String(values.force) })
    const result = await adminPost<ExpiryResult & { retention: string | null }>(values['admin-socket'], `/v1/audit/expire?${query.toString()}`)
    process.stdout.write(wantsJson(values, 'audit expire') ? JSON.stringify(result, null, 2) + '\n' : formatExpiry(result))
    return result.held !== null && !result.dryRun ? 1 : 0
  }
})

export function formatExpiry (result: ExpiryResult & { retention: string | null }): string {
  if (result.cutoff === null) return 'audit.retention is not set in the policy: records are kept forever.\n'
  const lines: string[] = []
  const removed = result.removed
  if (removed === null) {
    lines.push(`nothing to remove: no full segment of ${SEGMENT_SIZE.toLocaleString('en')} records is older than the retention (${result.retention ?? '?'}, before ${result.cutoff}).`)
  } else {
    const what = `records ${removed.fromSeq} to ${removed.toSeq} (${removed.records} records, older than ${result.cutoff})`
    if (result.dryRun) {
      lines.push(`would remove ${what}.`)
    } else {
      lines.push(`removed ${what}; kept the checkpoint signed at record ${result.checkpoint?.seq ?? removed.toSeq}, so the rest still verifies` +
        (result.recordSeq !== undefined ? `; recorded as audit.expired, seq ${result.recordSeq}.` : '.'))
    }
  }
  if (result.held !== null) {
    const why = typeof result.deliveredSeq === 'number' && result.held.toSeq > result.deliveredSeq
      ? `a SIEM output (policy outputs) has not written them yet (delivered up to seq ${result.deliveredSeq}); \`portcullis status\` shows its lag`
      : result.shippedSeq === null
      ? `no evidence bundle holds them (bundled up to seq ${result.bundledSeq}). Run \`portcullis audit bundle\` for them first`
      : result.recordingNotShipped !== undefined
        ? `the fleet database does not hold the whole recording of session ${result.recordingNotShipped} yet; \`portcullis status\` shows the recordings' lag (fleetRecordings)`
        : `the fleet database does not hold them yet (shipped up to seq ${result.shippedSeq}); \`portcullis status\` shows the shipping lag`
    lines.push(`kept records ${result.held.fromSeq} to ${result.held.toSeq}: they are past the retention, but ${why}, or pass --force to remove them anyway.`)
  }
  return lines.join('\n') + '\n'
}

/**
 * The public keys an offline verify checks checkpoints with: --public-key FILE, else --keys DIR, else the default
 * keys directory when it holds one. undefined: none found, so signatures go unchecked (the report says so).
 */
export function verifyPublicKeys (values: { 'public-key'?: string | undefined, keys?: string | undefined }): AuditPublicKey[] | undefined {
  if (values['public-key'] !== undefined) return [readAuditPublicKey(values['public-key'])]
  if (values.keys !== undefined) return [readAuditPublicKeyFromDir(values.keys)]
  return existsSync(join(DEFAULTS.keys, AUDIT_PUBLIC_KEY_FILE)) ? [readAuditPublicKeyFromDir(DEFAULTS.keys)] : undefined
}

/** `audit verify`'s text: the verdict, then what it rests on (checkpoints, expired records). */
export function formatVerifyReport (report: VerifyReport): string {
  const lines: string[] = []
  if (report.ok) {
    const recordings = report.sessions !== undefined ? `, ${report.sessions} session recording${report.sessions === 1 ? '' : 's'}` : ''
    lines.push(`audit chain intact: ${report.records} records${recordings}, head seq ${report.head.seq} ${report.head.hash}`)
  } else {
    const bad = report.firstBad!
    lines.push(`audit chain BROKEN at seq ${bad.seq}: ${bad.problem}${bad.detail ? ` (${bad.detail})` : ''}`)
    if (bad.checkpoint !== undefined) lines.push(`the checkpoint in question: record ${bad.checkpoint.seq}, signed at ${bad.checkpoint.time}`)
  }
  if (report.base !== undefined) lines.push(`records 1 to ${report.base.seq} were expired; the chain is checked from record ${report.base.seq + 1}, on the checkpoint kept for record ${report.base.seq}`)
  const checkpoints = report.checkpoints
  if (checkpoints === undefined) {
    if (report.ok) lines.push('no signed checkpoint: the verdict rests on the hash chain alone')
    return lines.map(visible).join('\n') + '\n'
  }
  const last = checkpoints.last
  if (last !== undefined) {
    const after = report.ok ? report.head.seq - last.seq : 0
    const label = !checkpoints.signaturesChecked ? 'the newest checkpoint matching its record (signature unchecked)' : report.ok ? 'the verdict rests on checkpoint' : 'the last good checkpoint'
    lines.push(`${label}: record ${last.seq}, signed at ${last.time} with key ${last.keyId}` +
      ` (${checkpoints.checked} checkpoint${checkpoints.checked === 1 ? '' : 's'} checked` +
      (after > 0 ? `; the ${after} record${after === 1 ? '' : 's'} after it rest${after === 1 ? 's' : ''} on the hash chain alone)` : ')'))
  } else if (report.ok) {
    lines.push('no signed checkpoint yet: the verdict rests on the hash chain alone')
  }
  if (!checkpoints.signaturesChecked) {
    lines.push(`checkpoint signatures NOT checked: no public key. Pass --public-key FILE (the published ${AUDIT_PUBLIC_KEY_FILE}) or --keys DIR`)
  }
  return lines.map(visible).join('\n') + '\n'
}

async function adminPost<T> (socket: string, path: string): Promise<T> {
  const { status, body } = await adminJson<T | { error: string, code?: string }>(socket, 'POST', path, [200, ...REFUSALS])
  if (status !== 200) throw errorFromAnswer(status, JSON.stringify(body))
  return body as T
}

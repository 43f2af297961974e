import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Writable } from 'node:stream'
import { adminJson, adminRequest } from '../admin/client.js'
import type { AuditRecord } from '../audit/record.js'
import { verifyDir } from '../audit/verify.js'
import type { VerifyReport } from '../audit/verify.js'
import { PortcullisError } from '../errors.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

const adminOption = { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } } as const
const adminHelp = { '--admin-socket PATH': `the running daemon's admin socket (default ${DEFAULTS.adminSocket})` }

export const auditTailCommand = defineCommand({
  name: 'audit tail',
  summary: 'Show the latest audit records from the running daemon; --follow keeps printing new ones.',
  usage: 'audit tail [-n 20] [--follow] [--json] [--admin-socket PATH]',
  options: { ...adminOption, lines: { type: 'string', short: 'n', default: '20' }, follow: { type: 'boolean', short: 'f', default: false }, json: { type: 'boolean', default: false } },
  help: { ...adminHelp, '-n, --lines N': 'how many recent records (default 20)', '-f, --follow': 'keep printing new records', '--json': 'one JSON record per line' },
  async run (values) {
    if (!/^\d+$/.test(values.lines)) throw new PortcullisError('PORTCULLIS_USAGE', '-n takes a whole number', 'audit tail')
    const res = await adminRequest(values['admin-socket'], 'GET', `/v1/audit/tail?n=${values.lines}&follow=${values.follow}`)
    const lines = createInterface({ input: res, crlfDelay: Infinity })
    for await (const line of lines) {
      if (line === '') continue
      process.stdout.write((values.json ? line : formatRecord(JSON.parse(line) as AuditRecord)) + '\n')
    }
    return 0
  }
})

export const auditExportCommand = defineCommand({
  name: 'audit export',
  summary: 'Stream audit records from the running daemon as JSON lines (constant memory).',
  usage: 'audit export [--format jsonl] [--from-seq N] [--to-seq N] [--out FILE] [--admin-socket PATH]',
  options: { ...adminOption, format: { type: 'string', default: 'jsonl' }, 'from-seq': { type: 'string', default: '1' }, 'to-seq': { type: 'string' }, out: { type: 'string' } },
  help: { ...adminHelp, '--format jsonl': 'output format (jsonl)', '--from-seq N': 'first record (default 1)', '--to-seq N': 'last record (default: the newest)', '--out FILE': 'write to FILE instead of stdout' },
  async run (values) {
    if (values.format !== 'jsonl') throw new PortcullisError('PORTCULLIS_USAGE', `unknown --format ${values.format}; use jsonl`, 'audit export')
    for (const flag of ['from-seq', 'to-seq'] as const) {
      const value = values[flag]
      if (value !== undefined && !/^\d+$/.test(value)) throw new PortcullisError('PORTCULLIS_USAGE', `--${flag} takes a sequence number`, 'audit export')
    }
    const query = `fromSeq=${values['from-seq']}` + (values['to-seq'] !== undefined ? `&toSeq=${values['to-seq']}` : '')
    const res = await adminRequest(values['admin-socket'], 'GET', `/v1/audit/export?${query}`)
    if (res.statusCode !== 200) throw new PortcullisError('PORTCULLIS_ADMIN_REQUEST', String(res.statusCode), 'export refused')
    const out: Writable = values.out === undefined ? process.stdout : createWriteStream(values.out)
    for await (const chunk of res) {
      if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve))
    }
    if (values.out !== undefined) await new Promise((resolve) => out.end(resolve))
    return 0
  }
})

export const auditVerifyCommand = defineCommand({
  name: 'audit verify',
  summary: 'Check the audit hash chain and name the first record that was changed, removed or inserted. Exit 0 when intact, 1 when not.',
  usage: 'audit verify [--admin-socket PATH] [--data DIR] [--json]',
  options: { ...adminOption, data: { type: 'string' }, json: { type: 'boolean', default: false } },
  help: { ...adminHelp, '--data DIR': 'verify a store directly, when no daemon owns it (stopped daemon, copied store)', '--json': 'print the report as JSON' },
  async run (values) {
    const report = values.data !== undefined
      ? await verifyDir(values.data)
      : (await adminJson<VerifyReport>(values['admin-socket'], 'GET', '/v1/audit/verify')).body
    if (values.json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    } else if (report.ok) {
      process.stdout.write(`audit chain intact: ${report.records} records, head seq ${report.head.seq} ${report.head.hash}\n`)
    } else {
      const bad = report.firstBad!
      process.stdout.write(`audit chain BROKEN at seq ${bad.seq}: ${bad.problem}${bad.detail ? ` (${bad.detail})` : ''}\n`)
    }
    return report.ok ? 0 : 1
  }
})

function formatRecord (r: AuditRecord): string {
  if (r.kind === 'response') return `${r.seq} ${r.time} response  to #${r.reqSeq ?? '?'} status ${r.status ?? '?'} ${r.method ?? ''} ${r.uri ?? ''}`
  if (r.kind === 'system') return `${r.seq} ${r.time} system    ${r.action ?? ''} ${r.reason ?? ''}`
  const who = r.user ?? 'anonymous'
  const where = r.project !== null && r.project !== undefined ? ` [${r.project}]` : ''
  return `${r.seq} ${r.time} ${(r.decision ?? '').toUpperCase().padEnd(5)} ${who} ${r.action ?? '?'}${where} ${r.method ?? ''} ${r.uri ?? ''} — ${r.reason ?? ''}`
}

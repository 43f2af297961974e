// `portcullis audit tail`: the latest records from the running daemon, and with --follow the new ones as they come.
import { createInterface } from 'node:readline'
import { adminRequest, answerError } from '../admin/client.js'
import type { AuditRecord } from '../audit/record.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { ADMIN_HELP, ADMIN_OPTION, auditEndpoint } from './audit-options.js'
import { formatRecord } from './audit-format.js'
import { defineCommand } from './command.js'

export const auditTailCommand = defineCommand({
  name: 'audit tail',
  summary: 'Show the latest audit records from the running daemon; --follow keeps printing new ones.',
  usage: 'audit tail [-n 20] [--follow] [--json] [--admin-socket PATH | --url URL [--token-file FILE]]',
  options: { ...ADMIN_OPTION, lines: { type: 'string', short: 'n', default: '20' }, follow: { type: 'boolean', short: 'f', default: false }, json: { type: 'boolean', default: false } },
  help: { ...ADMIN_HELP, '-n, --lines N': 'how many recent records (default 20)', '-f, --follow': 'keep printing new records', '--json': 'one JSON record per line' },
  async run (values) {
    if (!/^\d+$/.test(values.lines)) throw new PortcullisError('PORTCULLIS_USAGE', '-n takes a whole number', 'audit tail')
    const res = await adminRequest(auditEndpoint(values), 'GET', `/v1/audit/tail?n=${values.lines}&follow=${values.follow}`)
    // A refusal (no peer, not an auditor, the store failing) is a coded error, never printed as if it were a record.
    if (res.statusCode !== 200) throw await answerError(res)
    const lines = createInterface({ input: res, crlfDelay: Infinity })
    for await (const line of lines) {
      if (line === '') continue
      // The JSON stays the same JSON; only what a terminal would act on is spelled as an escape.
      process.stdout.write((values.json ? terminalSafeJson(line) : formatRecord(JSON.parse(line) as AuditRecord)) + '\n')
    }
    return 0
  }
})
